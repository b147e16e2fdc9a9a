"""mail outbox: mail delivered off the request path, with retries

Revision ID: 0105
Revises: 0101
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0105'
down_revision = '0101'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mail_outbox',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
    )
    op.create_index('ix_mail_outbox_next_attempt_at', 'mail_outbox', ['next_attempt_at'])
    op.create_index('ix_mail_outbox_sent_at', 'mail_outbox', ['sent_at'])


def downgrade() -> None:
    op.drop_index('ix_mail_outbox_sent_at', table_name='mail_outbox')
    op.drop_index('ix_mail_outbox_next_attempt_at', table_name='mail_outbox')
    op.drop_table('mail_outbox')
