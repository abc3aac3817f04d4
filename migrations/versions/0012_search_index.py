"""search index: SQLite FTS5 trigram tables of the lists' searched columns, their triggers, filled from the rows

Revision ID: 0012_search_index
Revises: 0011_mail_once
Create Date: 2026-11-30 11:40:00

SQLite only (PostgreSQL has the ``pg_trgm`` indexes of 0009): per searched table, ``<table>_search`` (FTS5,
``tokenize='trigram'``, external content: the text stays in the table), three triggers that keep it in sync, and a
``'rebuild'`` that indexes the rows already there. Needs SQLite ≥ 3.34 (the trigram tokenizer). The statements are
models/search_index.py's, frozen here; tests/test_migrations.py compares the two schemas.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_search_index"
down_revision = "0011_mail_once"
branch_labels = None
depends_on = None

SEARCH_INDEXES = {
    "meeting": ("subject",),
    "debt": ("contract_number",),
    "debtor": ("name", "document"),
    "negativation": ("document", "contract_number"),
}


def _statements(table: str, columns) -> list[str]:
    fts = f"{table}_search"
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
        f"tokenize='trigram case_sensitive 0', columnsize=0)",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF id, {cols} ON {table} BEGIN {delete} {insert} END",
    ]


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in SEARCH_INDEXES.items():
        for statement in _statements(table, columns):
            op.execute(statement)
        op.execute(f"INSERT INTO {table}_search({table}_search) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(SEARCH_INDEXES):
        for trigger in ("update", "delete", "insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {table}_search")
