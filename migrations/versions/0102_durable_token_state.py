"""durable token state: refresh-token families, used-once marks, email links

Revision ID: 0102
Revises: 0003
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0102'
down_revision = '0003'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'token_families',
        sa.Column('id', sa.String(length=32), primary_key=True),
        sa.Column('identity_uuid', sa.String(length=36), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('sub', sa.String(length=64), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('expires_at', WHEN, nullable=False),
        sa.Column('revoked_at', WHEN, nullable=True),
    )
    op.create_index('ix_token_families_identity_client', 'token_families', ['identity_uuid', 'client_id'])
    op.create_index('ix_token_families_client_sub', 'token_families', ['client_id', 'sub'])
    op.create_index('ix_token_families_expires_at', 'token_families', ['expires_at'])
    op.create_table(
        'refresh_tokens',
        sa.Column('token_hash', sa.String(length=64), primary_key=True),
        sa.Column('family_id', sa.String(length=32),
                  sa.ForeignKey('token_families.id', ondelete='CASCADE'), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('identity_uuid', sa.String(length=36), nullable=False),
        sa.Column('granted_scope', sa.String(length=500), nullable=False),
        sa.Column('auth_request', sa.JSON(), nullable=False),
        sa.Column('issued_at', WHEN, nullable=False),
        sa.Column('predecessor_hash', sa.String(length=64), nullable=True),
        sa.UniqueConstraint('predecessor_hash', name='uq_refresh_tokens_predecessor_hash'),
    )
    op.create_index('ix_refresh_tokens_family_id', 'refresh_tokens', ['family_id'])
    op.create_table(
        'used_marks',
        sa.Column('key_hash', sa.String(length=64), primary_key=True),
        sa.Column('expires_at', WHEN, nullable=False),
    )
    op.create_index('ix_used_marks_expires_at', 'used_marks', ['expires_at'])
    op.create_table(
        'email_links',
        sa.Column('token_hash', sa.String(length=64), primary_key=True),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('expires_at', WHEN, nullable=False),
        sa.Column('used_at', WHEN, nullable=True),
    )
    op.create_index('ix_email_links_expires_at', 'email_links', ['expires_at'])


def downgrade() -> None:
    op.drop_table('email_links')
    op.drop_table('used_marks')
    op.drop_table('refresh_tokens')
    op.drop_table('token_families')
