"""scale: the consultant on debts and Serasa records, an index per sortable column, trigram search on PostgreSQL

Revision ID: 0009_scale
Revises: 0008_jobs
Create Date: 2026-11-30 08:40:00

- ``debt.consultant_id`` and ``negativation.consultant_id``: the debtor's consultant, copied (models/portfolio.py
  keeps them equal on every ORM write), so a consultant's list reads one index instead of walking their debtors.
- One index per sortable list column, in the agency's scope and in the consultant's.
- PostgreSQL: the ``pg_trgm`` extension and a GIN trigram index per searched column (the lists' ``ILIKE '%…%'``).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_scale"
down_revision = "0008_jobs"
branch_labels = None
depends_on = None

INDEXES = {"debt": {"ix_debt_consultant_due_list": ["agency_id", "consultant_id", "due_date", "status", "contract_number"],
          "ix_debt_csort_amount": ["agency_id", "consultant_id", "amount"],
          "ix_debt_csort_contract_number": ["agency_id", "consultant_id", "contract_number"],
          "ix_debt_csort_paid_on": ["agency_id", "consultant_id", "paid_on"],
          "ix_debt_csort_status": ["agency_id", "consultant_id", "status"],
          "ix_debt_sort_amount": ["agency_id", "amount"],
          "ix_debt_sort_contract_number": ["agency_id", "contract_number"],
          "ix_debt_sort_paid_on": ["agency_id", "paid_on"]},
 "negativation": {"ix_negativation_consultant_created_list": ["agency_id",
                                                              "consultant_id",
                                                              "created_at",
                                                              "status",
                                                              "document",
                                                              "contract_number"],
                  "ix_negativation_csort_amount": ["agency_id", "consultant_id", "amount"],
                  "ix_negativation_csort_contract_number": ["agency_id", "consultant_id", "contract_number"],
                  "ix_negativation_csort_document": ["agency_id", "consultant_id", "document"],
                  "ix_negativation_csort_due_date": ["agency_id", "consultant_id", "due_date"],
                  "ix_negativation_csort_expires_on": ["agency_id", "consultant_id", "expires_on"],
                  "ix_negativation_csort_removal_deadline": ["agency_id", "consultant_id", "removal_deadline"],
                  "ix_negativation_csort_status": ["agency_id", "consultant_id", "status"],
                  "ix_negativation_sort_amount": ["agency_id", "amount"],
                  "ix_negativation_sort_contract_number": ["agency_id", "contract_number"],
                  "ix_negativation_sort_document": ["agency_id", "document"],
                  "ix_negativation_sort_due_date": ["agency_id", "due_date"],
                  "ix_negativation_sort_expires_on": ["agency_id", "expires_on"]},
 "meeting": {"ix_meeting_csort_invite_sent_at": ["agency_id", "owner_id", "invite_sent_at"],
             "ix_meeting_csort_place": ["agency_id", "owner_id", "place"],
             "ix_meeting_csort_productive": ["agency_id", "owner_id", "productive"],
             "ix_meeting_csort_status": ["agency_id", "owner_id", "status"],
             "ix_meeting_csort_subject": ["agency_id", "owner_id", "subject"],
             "ix_meeting_sort_invite_sent_at": ["agency_id", "invite_sent_at"],
             "ix_meeting_sort_place": ["agency_id", "place"],
             "ix_meeting_sort_productive": ["agency_id", "productive"],
             "ix_meeting_sort_subject": ["agency_id", "subject"]},
 "debtor": {"ix_debtor_csort_city": ["agency_id", "consultant_id", "city"],
            "ix_debtor_csort_document": ["agency_id", "consultant_id", "document"],
            "ix_debtor_csort_uf": ["agency_id", "consultant_id", "uf"],
            "ix_debtor_sort_city": ["agency_id", "city"],
            "ix_debtor_sort_document": ["agency_id", "document"],
            "ix_debtor_sort_uf": ["agency_id", "uf"]},
 "negotiation": {"ix_negotiation_csort_agreed_amount": ["agency_id", "consultant_id", "agreed_amount"],
                 "ix_negotiation_csort_created_at": ["agency_id", "consultant_id", "created_at"],
                 "ix_negotiation_csort_installments": ["agency_id", "consultant_id", "installments"],
                 "ix_negotiation_csort_status": ["agency_id", "consultant_id", "status"],
                 "ix_negotiation_sort_agreed_amount": ["agency_id", "agreed_amount"],
                 "ix_negotiation_sort_installments": ["agency_id", "installments"]}}
TRIGRAM_INDEXES = {"debt": {"ix_debt_trgm_contract_number": "contract_number"},
 "negativation": {"ix_negativation_trgm_contract_number": "contract_number",
                  "ix_negativation_trgm_document": "document"},
 "meeting": {"ix_meeting_trgm_subject": "subject"},
 "debtor": {"ix_debtor_trgm_document": "document", "ix_debtor_trgm_name": "name"}}


DENORMALISED = ("debt", "negativation")


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in DENORMALISED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("consultant_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(f"fk_{table}_consultant_id_user"), "user", ["consultant_id"], ["id"])
        op.execute(f"UPDATE {table} SET consultant_id = (SELECT debtor.consultant_id FROM debtor "
                   f"WHERE debtor.id = {table}.debtor_id)")
    for table, indexes in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, columns in indexes.items():
                batch_op.create_index(name, columns, unique=False)
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, indexes in TRIGRAM_INDEXES.items():
            for name, column in indexes.items():
                op.create_index(name, table, [column], unique=False, postgresql_using="gin",
                                postgresql_ops={column: "gin_trgm_ops"})


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, indexes in TRIGRAM_INDEXES.items():
            for name in indexes:
                op.drop_index(name, table_name=table)
    for table, indexes in reversed(INDEXES.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in reversed(indexes):
                batch_op.drop_index(name)
    for table in reversed(DENORMALISED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_consultant_id_user"), type_="foreignkey")
            batch_op.drop_column("consultant_id")
