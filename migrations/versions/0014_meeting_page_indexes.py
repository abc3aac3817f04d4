"""the meetings' list indexes end their order in the id: a page in the list's order is read from the index alone

Revision ID: 0014_meeting_page_indexes
Revises: 0013_mail_resume
Create Date: 2026-11-30 19:30:00

The meetings list finds a page by ids in the order ``starts_at, id`` (``upcoming_first_page``), within the agency
or, for a consultant, within ``agency_id, owner_id``.

- The consultant's walk used ``ix_meeting_owner_starts (owner_id, starts_at)`` and fetched each row for its agency
  (and its status, for the status filter): SQLite did not choose the covering
  ``ix_meeting_agency_owner_starts (agency_id, owner_id, starts_at, status, subject)`` because its ``status``
  breaks the ``id`` tie order. A deep page (10.000 rows skipped) cost 1,7× from 1× to 10× (bench/RESULTS.md,
  section 6). One index now serves that walk, the status filter, the subject search and the clock:
  ``(agency_id, owner_id, starts_at, id, status, subject)``; the old two are dropped (every query by owner also
  filters by agency: the scope, the clock, the calendar feed).
- The consultant's status filter (``agendada``) walked the same index testing each row's status, and in the past
  few meetings are still *agendada*: ``(agency_id, owner_id, status, starts_at, id)`` finds them in order; it also
  serves the sort by status, so ``ix_meeting_csort_status`` goes.
- PostgreSQL keeps no row id in an index, so ``(agency_id, starts_at)`` made the admin's deep page fetch each
  skipped row from the table and sort by id again (1,9× from 1× to 10×): the id is now its last column.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_meeting_page_indexes"
down_revision = "0013_mail_resume"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_meeting_owner_starts", table_name="meeting")
    op.drop_index("ix_meeting_agency_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_owner_starts", "meeting",
                    ["agency_id", "owner_id", "starts_at", "id", "status", "subject"])
    op.drop_index("ix_meeting_agency_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_starts", "meeting", ["agency_id", "starts_at", "id"])
    op.drop_index("ix_meeting_csort_status", table_name="meeting")
    op.create_index("ix_meeting_owner_status_starts", "meeting", ["agency_id", "owner_id", "status", "starts_at", "id"])


def downgrade():
    op.drop_index("ix_meeting_owner_status_starts", table_name="meeting")
    op.create_index("ix_meeting_csort_status", "meeting", ["agency_id", "owner_id", "status"])
    op.drop_index("ix_meeting_agency_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_starts", "meeting", ["agency_id", "starts_at"])
    op.drop_index("ix_meeting_agency_owner_starts", table_name="meeting")
    op.create_index("ix_meeting_agency_owner_starts", "meeting", ["agency_id", "owner_id", "starts_at", "status",
                                                                  "subject"])
    op.create_index("ix_meeting_owner_starts", "meeting", ["owner_id", "starts_at"])
