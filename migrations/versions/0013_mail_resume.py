"""meeting e-mails interrupted mid-send are resumed by the consumer: the send's last sign of life

Revision ID: 0013_mail_resume
Revises: 0012_search_index
Create Date: 2026-11-30 11:40:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_mail_resume"
down_revision = "0012_search_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("meeting_email") as batch:
        batch.add_column(sa.Column("active_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE meeting_email SET active_at = created_at")
    op.create_index("ix_meeting_email_pending_active", "meeting_email", ["active_at"],
                    sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_index("ix_meeting_email_pending_active", table_name="meeting_email")
    with op.batch_alter_table("meeting_email") as batch:
        batch.drop_column("active_at")
