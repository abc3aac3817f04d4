"""serasa workflow: payment dates, late registration, kept inclusion reports

Revision ID: 0005_serasa_workflow
Revises: 0004_session_token
Create Date: 2026-11-30 05:30:00

- debt.paid_on: the day the debtor paid (the removal deadline counts from it);
- negotiation.settled_on: the day of the payment or of the agreement;
- negativation.payment_recorded_on: when the panel learned of the payment (late registration flag);
- negativation_batch: each "Negativar no Serasa" report, to reopen, export, print and resend failures.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_serasa_workflow'
down_revision = '0004_session_token'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('debt') as batch:
        batch.add_column(sa.Column('paid_on', sa.Date(), nullable=True))
    with op.batch_alter_table('negotiation') as batch:
        batch.add_column(sa.Column('settled_on', sa.Date(), nullable=True))
    with op.batch_alter_table('negativation') as batch:
        batch.add_column(sa.Column('payment_recorded_on', sa.Date(), nullable=True))
    op.create_table(
        'negativation_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('restriction_code', sa.String(length=20), nullable=True),
        sa.Column('outcomes', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_negativation_batch_agency_id_agency')),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_negativation_batch_user_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_negativation_batch')),
    )
    with op.batch_alter_table('negativation_batch') as batch:
        batch.create_index(batch.f('ix_negativation_batch_agency_id'), ['agency_id'], unique=False)
        batch.create_index(batch.f('ix_negativation_batch_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('negativation_batch') as batch:
        batch.drop_index(batch.f('ix_negativation_batch_user_id'))
        batch.drop_index(batch.f('ix_negativation_batch_agency_id'))
    op.drop_table('negativation_batch')
    with op.batch_alter_table('negativation') as batch:
        batch.drop_column('payment_recorded_on')
    with op.batch_alter_table('negotiation') as batch:
        batch.drop_column('settled_on')
    with op.batch_alter_table('debt') as batch:
        batch.drop_column('paid_on')
