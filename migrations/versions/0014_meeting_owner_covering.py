"""the consultant's meetings by (agency, owner, start): their list pages read the index alone, in the list's order

Revision ID: 0014_meeting_owner_covering
Revises: 0013_mail_resume
Create Date: 2026-11-30 18:45:00

A consultant's list is ``agency_id = ? AND owner_id = ? ORDER BY starts_at, id``. SQLite (without statistics) read
it through ``ix_meeting_owner_starts (owner_id, starts_at)`` and fetched each row for ``agency_id``; the covering
``ix_meeting_agency_owner_starts`` ends in ``status, subject``, which breaks the ``id`` tie order, so it was not
chosen. A deep page (10.000 rows skipped) cost 1,7× from 1× to 10× (bench/RESULTS.md, section 6). The index is now
``(agency_id, owner_id, starts_at)``: the page is read from it alone, in order. Every query by owner also filters
by agency (the scope, the clock, the calendar feed).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_meeting_owner_covering"
down_revision = "0013_mail_resume"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["agency_id", "owner_id", "starts_at"])


def downgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_owner_starts", "meeting", ["owner_id", "starts_at"])
