"""the consultant's meetings by start, with the agency in the index: their list pages read the index alone

Revision ID: 0014_meeting_owner_covering
Revises: 0013_mail_resume
Create Date: 2026-11-30 19:40:00

A consultant's list is ``agency_id = ? AND owner_id = ? ORDER BY starts_at``. SQLite chose
``ix_meeting_owner_starts (owner_id, starts_at)`` for it and read the table row by row for ``agency_id``, so a deep
page (10.000 rows skipped) cost more as the table grew (bench/RESULTS.md, section 6). With ``agency_id`` in the
index the page is read from the index alone; the clock's query (``owner_id = ? AND starts_at …``) still uses it.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_meeting_owner_covering"
down_revision = "0013_mail_resume"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["owner_id", "starts_at", "agency_id"])


def downgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["owner_id", "starts_at"])
