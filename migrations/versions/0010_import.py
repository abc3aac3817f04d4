"""portfolio import: imports, their problem lines, and the column mapping remembered per creditor

Revision ID: 0010_import
Revises: 0009_scale
Create Date: 2026-11-30 08:10:00
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_import"
down_revision = "0009_scale"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "creditor_import_mapping",
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_creditor_import_mapping_agency_id_agency")),
        sa.ForeignKeyConstraint(["creditor_id"], ["creditor.id"],
                                name=op.f("fk_creditor_import_mapping_creditor_id_creditor"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("creditor_id", name=op.f("pk_creditor_import_mapping")),
    )
    op.create_index(op.f("ix_creditor_import_mapping_agency_id"), "creditor_import_mapping", ["agency_id"])
    op.create_table(
        "portfolio_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("creditor_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("consultant_mode", sa.String(length=10), nullable=False),
        sa.Column("consultant_ids", sa.JSON(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "rows_total", "rows_done", "created", "updated", "unchanged", "refused", "warnings", "debtors_created",
            "debtors_updated", "missing")],
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_portfolio_import_agency_id_agency")),
        sa.ForeignKeyConstraint(["creditor_id"], ["creditor.id"], name=op.f("fk_portfolio_import_creditor_id_creditor")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_portfolio_import_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_import")),
    )
    op.create_index(op.f("ix_portfolio_import_agency_id"), "portfolio_import", ["agency_id"])
    op.create_index(op.f("ix_portfolio_import_creditor_id"), "portfolio_import", ["creditor_id"])
    op.create_index("ix_portfolio_import_agency_created", "portfolio_import", ["agency_id", "created_at"])
    op.create_table(
        "portfolio_import_problem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["portfolio_import.id"],
                                name=op.f("fk_portfolio_import_problem_import_id_portfolio_import"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_import_problem")),
    )
    op.create_index("ix_portfolio_import_problem_import_level", "portfolio_import_problem",
                    ["import_id", "level", "line"])


def downgrade():
    op.drop_index("ix_portfolio_import_problem_import_level", table_name="portfolio_import_problem")
    op.drop_table("portfolio_import_problem")
    op.drop_index("ix_portfolio_import_agency_created", table_name="portfolio_import")
    op.drop_index(op.f("ix_portfolio_import_creditor_id"), table_name="portfolio_import")
    op.drop_index(op.f("ix_portfolio_import_agency_id"), table_name="portfolio_import")
    op.drop_table("portfolio_import")
    op.drop_index(op.f("ix_creditor_import_mapping_agency_id"), table_name="creditor_import_mapping")
    op.drop_table("creditor_import_mapping")
