"""proofing and lockout: the registry's mobile, durable sign-in locks, known devices

Revision ID: 0104
Revises: 0103
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0104'
down_revision = '0103'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registry_people') as batch:
        batch.add_column(sa.Column('mobile', sa.String(length=13), nullable=True))
    op.create_table(
        'sign_in_locks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_key', sa.String(length=64), nullable=False),
        sa.Column('source_key', sa.String(length=64), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_key', 'source_key'),
    )
    op.create_index('ix_sign_in_locks_account_key', 'sign_in_locks', ['account_key'])
    op.create_table(
        'known_devices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('identity_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('identity_id', 'token_hash'),
    )
    op.create_index('ix_known_devices_identity_id', 'known_devices', ['identity_id'])


def downgrade() -> None:
    op.drop_index('ix_known_devices_identity_id', table_name='known_devices')
    op.drop_table('known_devices')
    op.drop_index('ix_sign_in_locks_account_key', table_name='sign_in_locks')
    op.drop_table('sign_in_locks')
    with op.batch_alter_table('registry_people') as batch:
        batch.drop_column('mobile')
