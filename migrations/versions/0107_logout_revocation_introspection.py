"""revocation, introspection and back-channel logout: resource servers, back-channel logout URIs,
the portals each IdP session signed in to, and the logout delivery queue

Revision ID: 0107
Revises: 0109
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0107'
down_revision = '0109'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('relying_parties') as batch:
        batch.add_column(sa.Column('introspection', sa.Boolean(), nullable=False, server_default=sa.text('false')))
        batch.add_column(sa.Column('backchannel_logout_uri', sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column('backchannel_logout_session_required', sa.Boolean(), nullable=False,
                                   server_default=sa.text('false')))
    op.create_table('portal_sign_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identity_uuid', sa.String(length=36), nullable=False),
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('client_id', sa.String(length=1024), nullable=False),
    sa.Column('sub', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_portal_sign_ins_identity', 'portal_sign_ins', ['identity_uuid', 'ended_at'])
    op.create_index('ix_portal_sign_ins_sid', 'portal_sign_ins', ['sid'])
    op.create_table('logout_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('uri', sa.String(length=1024), nullable=False),
    sa.Column('claims', sa.JSON(), nullable=False),
    sa.Column('alg', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_logout_deliveries_client_id', 'logout_deliveries', ['client_id'])
    op.create_index('ix_logout_deliveries_next_attempt_at', 'logout_deliveries', ['next_attempt_at'])


def downgrade() -> None:
    op.drop_table('logout_deliveries')
    op.drop_table('portal_sign_ins')
    with op.batch_alter_table('relying_parties') as batch:
        batch.drop_column('backchannel_logout_session_required')
        batch.drop_column('backchannel_logout_uri')
        batch.drop_column('introspection')
