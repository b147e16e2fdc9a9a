"""passkeys: WebAuthn credentials and each identity's random user handle (issue 14)

Revision ID: 0109
Revises: 0105
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0109'
down_revision = '0105'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'passkeys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('identity_id', sa.Integer(), sa.ForeignKey('identities.id', ondelete='CASCADE'), nullable=False),
        sa.Column('credential_id', sa.String(length=1400), nullable=False, unique=True),
        sa.Column('public_key', sa.Text(), nullable=False),
        sa.Column('sign_count', sa.BigInteger(), nullable=False),
        sa.Column('transports', sa.JSON(), nullable=False),
        sa.Column('backup_eligible', sa.Boolean(), nullable=False),
        sa.Column('backed_up', sa.Boolean(), nullable=False),
        sa.Column('aaguid', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_passkeys_identity_id', 'passkeys', ['identity_id'])
    op.add_column('relying_parties', sa.Column('require_loa3', sa.Boolean(), nullable=False,
                                               server_default=sa.text('false')))
    op.create_table(
        'passkey_handles',
        sa.Column('identity_id', sa.Integer(), sa.ForeignKey('identities.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('handle', sa.String(length=64), nullable=False, unique=True),
    )


def downgrade() -> None:
    op.drop_table('passkey_handles')
    op.drop_column('relying_parties', 'require_loa3')
    op.drop_index('ix_passkeys_identity_id', table_name='passkeys')
    op.drop_table('passkeys')
