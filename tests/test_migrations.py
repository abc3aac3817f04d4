"""The migrations build exactly the schema the models describe."""

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from models import db


def test_upgrade_builds_the_models_schema(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrated.db'}", "TESTING": True})
    with app.app_context():
        upgrade(directory=os.path.join(app.root_path, "migrations"))
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        tables = set(db.inspect(db.engine).get_table_names())
    assert diff == []
    assert {
        "agency",
        "user",
        "creditor",
        "debtor",
        "debt",
        "negotiation",
        "meeting",
        "meeting_email",
        "audit_log",
        "soa_call",
        "alembic_version",
    } <= tables
