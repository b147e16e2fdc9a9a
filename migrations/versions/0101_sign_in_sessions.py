"""sign-in sessions in the database: keyed by the cookie's SHA-256, referring to the identity's uuid

Revision ID: 0101
Revises: 0104
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0101'
down_revision = '0104'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions kept until now in the store are not carried over: everyone signs in once again.
    op.create_table(
        'sign_in_sessions',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('identity_uuid', sa.String(length=36), nullable=True),
        sa.Column('created', sa.Float(), nullable=False),
        sa.Column('seen', sa.Float(), nullable=False),
        sa.Column('expires', sa.Float(), nullable=False),
        sa.Column('revoked_at', sa.Float(), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_sign_in_sessions_identity_uuid', 'sign_in_sessions', ['identity_uuid'])
    op.create_index('ix_sign_in_sessions_expires', 'sign_in_sessions', ['expires'])


def downgrade() -> None:
    op.drop_index('ix_sign_in_sessions_expires', table_name='sign_in_sessions')
    op.drop_index('ix_sign_in_sessions_identity_uuid', table_name='sign_in_sessions')
    op.drop_table('sign_in_sessions')
