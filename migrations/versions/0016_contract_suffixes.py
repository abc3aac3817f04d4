"""contract suffixes: a suffix index of the debts' and negativations' contract numbers, kept by triggers, filled

Revision ID: 0016_contract_suffixes
Revises: 0015_pg_negativation_page_ids
Create Date: 2026-11-30 23:50:00

A contract number none of whose trigrams is rare (``CT-00000001``: ``ct-``, ``000``, ``001`` are in almost every
contract) is found by no trigram index in time that does not grow with the table (4.6× on SQLite, 6–7× on
PostgreSQL from 1× to 10× data; bench/RESULTS.md, section 6). ``<table>_contract_number_suffix`` holds every suffix
of 3 characters or more of the number (lower-cased, at most 16 characters) with the row's agency and id; the rows
containing a word are one range of its primary key. Both databases: triggers keep it (PostgreSQL: through one
PL/pgSQL function per table), and it is filled here from the rows already there, in key order.

The statements are models/search_index.py's, frozen here; tests/test_migrations.py compares the two schemas.
"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016_contract_suffixes"
down_revision = "0015_pg_negativation_page_ids"
branch_labels = None
depends_on = None

TABLES = ("debt", "negativation")
COLUMN = "contract_number"
LENGTH = 40  # the column's
SUFFIX_LENGTH = 16


def _sqlite_rows(ref: str, positions: str) -> str:
    return (f"SELECT {ref}.agency_id, substr(lower({ref}.{COLUMN}), p.value, {SUFFIX_LENGTH}), {ref}.id "
            f"FROM json_each('{positions}') AS p WHERE p.value <= length({ref}.{COLUMN}) - 2")


def _pg_rows(ref: str) -> str:
    return (f'SELECT {ref}.agency_id, substr(lower({ref}.{COLUMN}), p, {SUFFIX_LENGTH}) COLLATE "C", {ref}.id '
            f"FROM generate_series(1, length({ref}.{COLUMN}) - 2) AS p")


def _statements(table: str, dialect: str) -> list[str]:
    name = f"{table}_{COLUMN}_suffix"
    if dialect == "sqlite":
        # at least 256 characters: SQLite does not enforce a VARCHAR's length
        positions = json.dumps(list(range(1, max(LENGTH, 256) - 1)), separators=(",", ":"))
        insert = f"INSERT OR IGNORE INTO {name} (agency_id, suffix, row_id) {_sqlite_rows('new', positions)};"
        delete = f"DELETE FROM {name} WHERE (agency_id, suffix, row_id) IN ({_sqlite_rows('old', positions)});"
        return [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {delete} END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF id, agency_id, {COLUMN} ON {table} "
            f"BEGIN {delete} {insert} END",
            f"INSERT OR IGNORE INTO {name} (agency_id, suffix, row_id) "
            f"SELECT t.agency_id, substr(lower(t.{COLUMN}), p.value, {SUFFIX_LENGTH}), t.id "
            f"FROM {table} AS t, json_each('{positions}') AS p WHERE p.value <= length(t.{COLUMN}) - 2 "
            f"ORDER BY 1, 2, 3",
        ]
    return [
        f"CREATE OR REPLACE FUNCTION {name}_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN DELETE FROM {name} WHERE (agency_id, suffix, row_id) IN ({_pg_rows('OLD')}); "
        f"END IF; "
        f"IF TG_OP <> 'DELETE' THEN INSERT INTO {name} (agency_id, suffix, row_id) {_pg_rows('NEW')} "
        f"ON CONFLICT DO NOTHING; END IF; "
        f"RETURN NULL; END $$",
        f"CREATE TRIGGER {name}_sync AFTER INSERT OR DELETE OR UPDATE OF id, agency_id, {COLUMN} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}_sync()",
        f"INSERT INTO {name} (agency_id, suffix, row_id) "
        f'SELECT t.agency_id, substr(lower(t.{COLUMN}), p, {SUFFIX_LENGTH}) COLLATE "C", t.id '
        f"FROM {table} AS t, generate_series(1, length(t.{COLUMN}) - 2) AS p ON CONFLICT DO NOTHING",
        f"ANALYZE {name}",
    ]


def upgrade():
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        name = f"{table}_{COLUMN}_suffix"
        op.create_table(
            name,
            sa.Column("agency_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("suffix", sa.String(SUFFIX_LENGTH).with_variant(sa.String(SUFFIX_LENGTH, collation="C"),
                                                                      "postgresql"), nullable=False),
            sa.Column("row_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.PrimaryKeyConstraint("agency_id", "suffix", "row_id", name=f"pk_{name}"),
            sqlite_with_rowid=False,
        )
        for statement in _statements(table, dialect):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in reversed(TABLES):
        name = f"{table}_{COLUMN}_suffix"
        if dialect == "sqlite":
            for trigger in ("update", "delete", "insert"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_sync ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_sync()")
        op.drop_table(name)
