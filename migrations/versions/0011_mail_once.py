"""meeting e-mails exactly once: each recipient's state, recorded before and after its SMTP transaction

Revision ID: 0011_mail_once
Revises: 0010_import
Create Date: 2026-11-30 09:55:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_mail_once"
down_revision = "0010_import"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("meeting_email_recipient") as batch:
        batch.add_column(sa.Column("state", sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table("meeting_email_recipient") as batch:
        batch.drop_column("state")
