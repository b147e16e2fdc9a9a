"""identity registry facts: identities keep what the civil registry said when they were verified
(names, birth date, gender, nationality, when, and the mobile the SMS code proved), and lose their
foreign key into registry_people, so that the registry may be another agency's service

Revision ID: 0112
Revises: 0107
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0112'
down_revision = "0111"
branch_labels = None
depends_on = None

FACTS = ('name_ar', 'name_en', 'birth_date', 'gender', 'nationality')
# SQLite reflects the foreign key of 0001 without a name: batch mode names it by this convention.
NAMING = {'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s'}
FK_NAME = 'identities_national_id_fkey'  # PostgreSQL's own name for it, kept by a downgrade


def _columns():
    return [sa.Column('name_ar', sa.String(length=200)), sa.Column('name_en', sa.String(length=200)),
            sa.Column('birth_date', sa.Date()), sa.Column('gender', sa.String(length=1)),
            sa.Column('nationality', sa.String(length=3)),
            sa.Column('registry_checked_at', sa.DateTime(timezone=True))]


def upgrade() -> None:
    foreign_keys = [fk['name'] or 'fk_identities_national_id_registry_people'
                    for fk in sa.inspect(op.get_bind()).get_foreign_keys('identities')
                    if fk['referred_table'] == 'registry_people']
    with op.batch_alter_table('identities', naming_convention=NAMING) as batch:
        for name in foreign_keys:
            batch.drop_constraint(name, type_='foreignkey')
        for column in _columns():
            batch.add_column(column)
        batch.add_column(sa.Column('registry_mobile', sa.String(length=13), nullable=True))
    # Every identity had its registry row (the foreign key saw to it): copy the facts from it.
    identities, people = _identities(), _people()
    same_person = people.c.national_id == identities.c.national_id
    op.execute(identities.update().values(
        registry_checked_at=sa.func.current_timestamp(),
        **{fact: sa.select(people.c[fact]).where(same_person).scalar_subquery() for fact in FACTS}))
    with op.batch_alter_table('identities') as batch:
        for column in _columns():
            batch.alter_column(column.name, existing_type=column.type, nullable=False)


def downgrade() -> None:
    # The foreign key comes back: people only an HTTP registry knew are written to the table first.
    identities, people = _identities(), _people()
    known = sa.select(people.c.national_id).where(people.c.national_id == identities.c.national_id)
    op.execute(people.insert().from_select(
        ['national_id', *FACTS], sa.select(identities.c.national_id, *(identities.c[f] for f in FACTS))
        .where(~sa.exists(known))))
    with op.batch_alter_table('identities') as batch:
        batch.drop_column('registry_mobile')
        for column in reversed(_columns()):
            batch.drop_column(column.name)
        batch.create_foreign_key(FK_NAME, 'registry_people', ['national_id'], ['national_id'])


def _identities():
    return sa.table('identities', sa.column('national_id', sa.String), sa.column('registry_checked_at'),
                    *(sa.column(fact) for fact in FACTS))


def _people():
    return sa.table('registry_people', sa.column('national_id', sa.String), *(sa.column(fact) for fact in FACTS))
