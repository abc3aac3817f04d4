"""exactly once: one update and one cancellation per meeting version; one exclusion request per negativation

Revision ID: 0006_send_and_exclusion_once
Revises: 0005_serasa_workflow
Create Date: 2026-11-30 05:20:00

- ``uq_meeting_email_once_per_sequence``: a second live update (or cancellation) row for the same meeting and
  SEQUENCE is refused by the database, as the invite's ``uq_meeting_email_one_invite``.
- ``negativation.exclusion_claimed_at``: set by one conditional UPDATE before SOA is asked to exclude; a
  concurrent request finds it set and makes no call.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_send_and_exclusion_once'
down_revision = '0005_serasa_workflow'
branch_labels = None
depends_on = None

WHERE = "kind IN ('update', 'cancel') AND status != 'failed'"


def upgrade():
    op.create_index("uq_meeting_email_once_per_sequence", "meeting_email", ["meeting_id", "kind", "sequence"],
                    unique=True, sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))
    with op.batch_alter_table("negativation") as batch_op:
        batch_op.add_column(sa.Column("exclusion_claimed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("negativation") as batch_op:
        batch_op.drop_column("exclusion_claimed_at")
    op.drop_index("uq_meeting_email_once_per_sequence", table_name="meeting_email")
