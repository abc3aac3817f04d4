"""SQLite: a partial index of the debtors whose name holds a digit

Revision ID: 0017_debtor_digit_names
Revises: 0016_contract_suffixes
Create Date: 2026-11-30 23:40:00

SQLite's full-text index of debtors holds names and documents together, so looking for a CPF pasted without
punctuation in the names read the digit trigrams' lists of every document (9× slower from 1× to 10× data;
bench/RESULTS.md, section 6). A word with a digit is in a name only if the name has one: the list reads those few
debtors from ``ix_debtor_digit_names`` (``agency_id`` ``WHERE name GLOB '*[0-9]*'``). PostgreSQL's trigram indexes
are per column: nothing to create there.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_debtor_digit_names"
down_revision = "0016_contract_suffixes"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_debtor_digit_names", "debtor", ["agency_id"], sqlite_where=sa.text("name GLOB '*[0-9]*'"))


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_debtor_digit_names", table_name="debtor")
