"""identity references that a restore cannot redirect: uuid and subject seed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identities') as batch:
        batch.add_column(sa.Column('uuid', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('subject_seed', sa.String(length=64), nullable=True))
    identities = sa.table('identities', sa.column('id', sa.Integer), sa.column('uuid', sa.String),
                          sa.column('subject_seed', sa.String))
    connection = op.get_bind()
    for (identity_id,) in connection.execute(sa.select(identities.c.id)).all():
        # Existing identities keep their decimal id as subject seed: their pairwise sub and SAML
        # NameID stay exactly what relying parties already hold.
        connection.execute(identities.update().where(identities.c.id == identity_id)
                           .values(uuid=str(uuid.uuid4()), subject_seed=str(identity_id)))
    with op.batch_alter_table('identities') as batch:
        batch.alter_column('uuid', existing_type=sa.String(length=36), nullable=False)
        batch.alter_column('subject_seed', existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint('uq_identities_uuid', ['uuid'])


def downgrade() -> None:
    with op.batch_alter_table('identities') as batch:
        batch.drop_constraint('uq_identities_uuid', type_='unique')
        batch.drop_column('subject_seed')
        batch.drop_column('uuid')
