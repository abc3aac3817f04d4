"""The migrations build exactly the schema the models describe."""

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from models import db
from models.portfolio import on_this_database
from models.search_index import is_search_table
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL, reset_database


def test_upgrade_builds_the_models_schema(tmp_path):
    url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        reset_database()  # an empty database, as in production before the first `flask db upgrade`
        upgrade(directory=os.path.join(app.root_path, "migrations"))
        with db.engine.connect() as conn:
            def include(obj, name, type_, reflected, compare_to):  # trigram indexes exist on PostgreSQL only
                if type_ == "table" and reflected and compare_to is None and is_search_table(name):
                    return False  # SQLite's full-text search tables (models/search_index.py): compared below
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


def _search_schema() -> list[tuple]:
    """SQLite's full-text search tables and their triggers, as the database stores their DDL."""
    with db.engine.connect() as conn:
        return conn.execute(db.text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name LIKE '%search%' "
                                    "ORDER BY name")).all()


def test_upgrade_builds_the_models_search_index_and_fills_it(tmp_path):
    """SQLite: migration 0012 creates the same FTS5 tables and triggers as ``db.create_all()`` (what the tests and
    the demo run on), and indexes the rows that were there before it; a row written afterwards is indexed by the
    triggers. (PostgreSQL searches with the pg_trgm indexes of 0009: nothing to create.)"""
    from tests import factories as f

    url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    migrations = os.path.join(app.root_path, "migrations")
    with app.app_context():
        reset_database()
        upgrade(directory=migrations, revision="0011_mail_once")
        agency = f.make_agency()
        before = f.make_debtor(agency, name="Joaquina Anterior", document="79666809834")
        f.make_meeting(f.make_user(agency), f.make_creditor(agency), subject="Pauta antiga do trimestre")
        db.session.commit()
        upgrade(directory=migrations)
        after = f.make_debtor(agency, name="Joaquina Posterior")
        db.session.commit()
        if ON_POSTGRES:
            tables = set(db.inspect(db.engine).get_table_names())
            reset_database()
            db.engine.dispose()
            assert not any(is_search_table(t) for t in tables)
            return
        migrated = _search_schema()

        def found(table, query):
            return db.session.execute(db.text(f"SELECT rowid FROM {table}_search WHERE {table}_search MATCH :q "
                                              "ORDER BY rowid"), {"q": query}).scalars().all()

        assert found("debtor", '"joaquina"') == [before.id, after.id]
        assert found("debtor", 'document : "6680983"') == [before.id]
        assert len(found("meeting", '"trimestre"')) == 1
        for table in ("meeting", "debt", "debtor", "negativation"):
            db.session.execute(db.text(f"INSERT INTO {table}_search({table}_search, rank) "
                                       "VALUES ('integrity-check', 1)"))
        reset_database()
        db.create_all()
        created = _search_schema()
        reset_database()
        db.engine.dispose()
    assert [row[:3] for row in migrated] == [row[:3] for row in created]
    assert migrated == created
    assert {row[1] for row in created if row[0] == "trigger"} == {
        f"{t}_search_{op}" for t in ("meeting", "debt", "debtor", "negativation") for op in ("insert", "update",
                                                                                               "delete")}


def _suffix_schema() -> list[tuple]:
    """The contract numbers' suffix triggers (PostgreSQL: and their functions' source), as the database stores them."""
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return conn.execute(db.text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name LIKE "
                                        "'%_suffix%' ORDER BY name")).all()
        return conn.execute(db.text(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgname LIKE '%suffix%' ORDER BY t.tgname")).all()


def test_upgrade_builds_the_contract_suffix_index_and_fills_it(tmp_path):
    """Both databases: migration 0016 creates the same suffix tables and triggers as ``db.create_all()`` and fills
    them from the debts and negativations already there; a debt written afterwards is indexed by the triggers. A
    contract search then finds the old and the new debt."""
    from models import Debt
    from tests import factories as f

    url = TEST_DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'migrated.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    migrations = os.path.join(app.root_path, "migrations")
    with app.app_context():
        reset_database()
        upgrade(directory=migrations, revision="0015_pg_negativation_page_ids")
        agency = f.make_agency()
        debtor = f.make_debtor(agency, name="Joaquina Anterior", document="79666809834")
        before = f.make_debt(debtor, f.make_creditor(agency), contract_number="CT-00000001")
        db.session.commit()
        upgrade(directory=migrations)
        after = f.make_debt(debtor, before.creditor, contract_number="ct-00000001/B")
        db.session.commit()
        rows = db.session.execute(db.text("SELECT suffix, row_id FROM debt_contract_number_suffix "
                                          "WHERE agency_id = :a AND suffix >= 'ct-00000001' AND suffix < "
                                          "'ct-00000002' ORDER BY row_id"), {"a": agency.id}).all()
        assert rows == [("ct-00000001", before.id), ("ct-00000001/b", after.id)]
        total = db.session.execute(db.text("SELECT count(*) FROM debt_contract_number_suffix")).scalar()
        assert total == sum(len(d.contract_number) - 2 for d in db.session.scalars(db.select(Debt)))
        migrated = _suffix_schema()
        reset_database()
        db.create_all()
        created = _suffix_schema()
        reset_database()
        db.engine.dispose()
    assert migrated == created
    assert len(created) == (3 if not ON_POSTGRES else 1) * 2 + (2 if not ON_POSTGRES else 0)  # + SQLite's tables
