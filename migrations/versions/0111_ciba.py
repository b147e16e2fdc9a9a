"""CIBA: relying parties allowed Client-Initiated Backchannel Authentication, and the state of each
CIBA request's grant (issue 14)

Revision ID: 0111
Revises: 0110
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0111'
down_revision = '0110'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('relying_parties') as batch:
        batch.add_column(sa.Column('ciba', sa.Boolean(), nullable=False, server_default=sa.text('false')))
    op.create_table(
        'ciba_requests',
        sa.Column('id', sa.String(length=64), primary_key=True),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('identity_uuid', sa.String(length=36), nullable=True),
        sa.Column('approval_id', sa.String(length=64), nullable=True),
        sa.Column('scope', sa.String(length=1024), nullable=False),
        sa.Column('acr', sa.String(length=64), nullable=True),
        sa.Column('binding_message', sa.String(length=8), nullable=False),
        sa.Column('interval', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
    )
    op.create_index('ix_ciba_requests_client_id', 'ciba_requests', ['client_id'])
    op.create_index('ix_ciba_requests_expires_at', 'ciba_requests', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_ciba_requests_expires_at', table_name='ciba_requests')
    op.drop_index('ix_ciba_requests_client_id', table_name='ciba_requests')
    op.drop_table('ciba_requests')
    with op.batch_alter_table('relying_parties') as batch:
        batch.drop_column('ciba')
