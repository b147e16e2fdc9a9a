"""relying parties and consents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('relying_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.String(length=1024), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('post_logout_redirect_uris', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('auth_method', sa.String(length=32), nullable=True),
    sa.Column('secret_hash', sa.String(length=128), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('jwks_uri', sa.String(length=1024), nullable=True),
    sa.Column('id_token_alg', sa.String(length=8), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=False),
    sa.Column('require_loa2', sa.Boolean(), nullable=False),
    sa.Column('allow_national_id', sa.Boolean(), nullable=False),
    sa.Column('saml_metadata', sa.Text(), nullable=True),
    sa.Column('require_signed_requests', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id'),
    sa.UniqueConstraint('entity_id')
    )
    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('relying_party_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['identities.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['relying_party_id'], ['relying_parties.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('identity_id', 'relying_party_id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_identity_id'), ['identity_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_identity_id'))

    op.drop_table('consents')
    op.drop_table('relying_parties')
