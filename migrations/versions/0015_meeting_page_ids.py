"""the meetings' start indexes end in the id: a page in the list's order is an index-only scan on PostgreSQL too

Revision ID: 0015_meeting_page_ids
Revises: 0014_meeting_owner_covering
Create Date: 2026-11-30 19:20:00

The meetings list finds a page by ids in the order ``starts_at, id`` (``upcoming_first_page``). SQLite keeps the
row id in every index, so ``(agency_id, starts_at)`` answered it alone; a PostgreSQL index holds no id, so each of
the 10.000 rows a deep page skips was fetched from the table (and sorted again by id): the admin's deepest page cost
1,9× from 1× to 10× there (bench/RESULTS.md, section 6). With the id as the last column both databases read the
page from the index alone, already in order.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015_meeting_page_ids"
down_revision = "0014_meeting_owner_covering"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_meeting_agency_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_starts", "meeting", ["agency_id", "starts_at", "id"])
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["agency_id", "owner_id", "starts_at", "id"])


def downgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["agency_id", "owner_id", "starts_at"])
    op.drop_index("ix_meeting_agency_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_starts", "meeting", ["agency_id", "starts_at"])
