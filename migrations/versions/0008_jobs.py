"""jobs: long work off the web request (bulk inclusion, status sync, exclusions...) and their per-item results

Revision ID: 0008_jobs
Revises: 0007_meeting_feed
Create Date: 2026-11-30 08:15:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_jobs"
down_revision = "0007_meeting_feed"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("lock_key", sa.String(length=60), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_job_agency_id_agency")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_job_created_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("lock_key", name=op.f("uq_job_lock_key")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_created_by_id"), ["created_by_id"], unique=False)
        batch_op.create_index("ix_job_agency_created", ["agency_id", "created_at"], unique=False)
        batch_op.create_index("ix_job_state_created", ["state", "created_at"], unique=False)
    op.create_table(
        "job_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("finished_no", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_job_item_job_id_job"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_item")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_job_item_job_id")),
    )
    with op.batch_alter_table("job_item", schema=None) as batch_op:
        batch_op.create_index("ix_job_item_job_state", ["job_id", "state"], unique=False)
        batch_op.create_index("ix_job_item_job_finished", ["job_id", "finished_no"], unique=False)
        batch_op.create_index("ix_job_item_ref", ["ref_id"], unique=False)


def downgrade():
    op.drop_table("job_item")
    op.drop_table("job")
