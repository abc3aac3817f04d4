"""list indexes: scope + default sort + filtered and searched columns, so list pages read the index alone

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:06:38.415212

See bench/RESULTS.md: with these, a list page, a filter, a search and the capped count of the panel's screens
walk one index in the list's order instead of sorting or reading the table (100k+ rows per table).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

INDEXES = {
    "debt": {
        "ix_debt_agency_due_list": ["agency_id", "due_date", "status", "debtor_id", "contract_number"],
        "ix_debt_debtor_list": ["debtor_id", "agency_id", "due_date", "status", "contract_number"],
    },
    "debtor": {
        "ix_debtor_agency_consultant_name": ["agency_id", "consultant_id", "name", "uf", "document"],
        "ix_debtor_agency_name_list": ["agency_id", "name", "consultant_id", "uf", "document"],
    },
    "meeting": {
        "ix_meeting_agency_owner_starts": ["agency_id", "owner_id", "starts_at", "status", "subject"],
        "ix_meeting_agency_starts_list": ["agency_id", "starts_at", "owner_id", "status", "subject"],
        "ix_meeting_agency_status_starts": ["agency_id", "status", "starts_at"],
    },
    "negativation": {
        "ix_negativation_agency_created_list": ["agency_id", "created_at", "status", "debtor_id", "document",
                                                "contract_number"],
        "ix_negativation_debtor_list": ["debtor_id", "agency_id", "created_at", "status", "document",
                                        "contract_number"],
    },
    "negotiation": {
        "ix_negotiation_agency_created_list": ["agency_id", "created_at", "consultant_id", "status", "debtor_id"],
    },
}


def upgrade():
    for table, indexes in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, columns in indexes.items():
                batch_op.create_index(name, columns, unique=False)


def downgrade():
    for table, indexes in reversed(INDEXES.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in reversed(indexes):
                batch_op.drop_index(name)
