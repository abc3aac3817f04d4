"""PostgreSQL: the negativations' list indexes by creation include the id, for index-only pages

Revision ID: 0015_pg_negativation_page_ids
Revises: 0014_meeting_page_indexes
Create Date: 2026-11-30 19:25:00

A list page is found by ids first (``SELECT id … ORDER BY created_at DESC LIMIT 20 OFFSET n``). A PostgreSQL index
holds no row id, so for a consultant's deep page the planner read all of their records through a bitmap and sorted
them (95 ms at 10×, 3,9× the 1× page; bench/RESULTS.md, section 6); with ``INCLUDE (id)`` it walks the index alone
(3 ms). SQLite keeps the row id in every index: nothing changes there.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015_pg_negativation_page_ids"
down_revision = "0014_meeting_page_indexes"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_negativation_agency_created": ["agency_id", "created_at"],
    "ix_negativation_consultant_created_list": ["agency_id", "consultant_id", "created_at", "status", "document",
                                                "contract_number"],
}


def _recreate(include):
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name="negativation")
        op.create_index(name, "negativation", columns, postgresql_include=include)


def upgrade():
    _recreate(["id"])


def downgrade():
    _recreate([])
