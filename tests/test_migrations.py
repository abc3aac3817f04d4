"""The migrations build exactly the schema the models describe."""

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from models import db
from models.portfolio import on_this_database
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, reset_database


def test_upgrade_builds_the_models_schema(tmp_path):
    url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        reset_database()  # an empty database, as in production before the first `flask db upgrade`
        upgrade(directory=os.path.join(app.root_path, "migrations"))
        with db.engine.connect() as conn:
            def include(obj, name, type_, reflected, compare_to):  # trigram indexes exist on PostgreSQL only
                return reflected or type_ != "index" or on_this_database(obj, conn.dialect.name)

            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include}),
                db.metadata,
            )
        tables = set(db.inspect(db.engine).get_table_names())
        reset_database()
        db.engine.dispose()
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
