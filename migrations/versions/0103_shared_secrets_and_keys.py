"""secrets fingerprints and signing keys in the database

Revision ID: 0103
Revises: 0102
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0103'
down_revision = '0102'
branch_labels = None
depends_on = None

CURRENT_KEY = "state IN ('active', 'next')"


def upgrade() -> None:
    op.create_table('secret_fingerprints',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=128), nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('alg', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('activated_at', sa.BigInteger(), nullable=True),
    sa.Column('retired_at', sa.BigInteger(), nullable=True),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('certificate', sa.Text(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kid')
    )
    op.create_index('uq_signing_keys_current', 'signing_keys', ['purpose', 'alg', 'state'], unique=True,
                    postgresql_where=sa.text(CURRENT_KEY), sqlite_where=sa.text(CURRENT_KEY))


def downgrade() -> None:
    op.drop_index('uq_signing_keys_current', table_name='signing_keys')
    op.drop_table('signing_keys')
    op.drop_table('secret_fingerprints')
