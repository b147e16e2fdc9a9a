"""the approval app: enrolled phones and sign-in approval requests with number matching (issue 14)

Revision ID: 0110
Revises: 0107
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0110'
down_revision = '0107'
branch_labels = None
depends_on = None

_PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_table(
        'app_devices',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('identity_id', sa.Integer(), sa.ForeignKey('identities.id', ondelete='CASCADE'), nullable=False),
        sa.Column('credential_id', sa.String(length=1400), nullable=False, unique=True),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('sign_count', sa.BigInteger(), nullable=False),
        sa.Column('backup_eligible', sa.Boolean(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_app_devices_identity_id', 'app_devices', ['identity_id'])
    op.create_table(
        'approval_requests',
        sa.Column('id', sa.String(length=64), primary_key=True),
        sa.Column('identity_uuid', sa.String(length=36), nullable=False),
        sa.Column('origin', sa.String(length=8), nullable=False),
        sa.Column('binding_number', sa.String(length=8), nullable=False),
        sa.Column('choices', sa.JSON(), nullable=False),
        sa.Column('salt', sa.String(length=64), nullable=False),
        sa.Column('portal_name_ar', sa.String(length=200), nullable=False),
        sa.Column('portal_name_en', sa.String(length=200), nullable=False),
        sa.Column('place', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('device_id', sa.Integer(), sa.ForeignKey('app_devices.id', ondelete='SET NULL'), nullable=True),
        sa.Column('amr', sa.JSON(), nullable=False),
        sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('uq_approval_requests_pending', 'approval_requests', ['identity_uuid'], unique=True,
                    postgresql_where=sa.text(_PENDING), sqlite_where=sa.text(_PENDING))
    op.create_index('ix_approval_requests_identity_created', 'approval_requests', ['identity_uuid', 'created_at'])
    op.create_index('ix_approval_requests_expires_at', 'approval_requests', ['expires_at'])


def downgrade() -> None:
    op.drop_table('approval_requests')
    op.drop_index('ix_app_devices_identity_id', table_name='app_devices')
    op.drop_table('app_devices')
