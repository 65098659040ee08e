"""E-mail channel and durable outbox: `outbox` (every outgoing message, stored before it is sent,
idempotent by dedupe_key, retried with backoff) and `inbound_mail` (the raw inbound mail, committed
before it is handled, unique per tenant and Message-ID).

Additive only: two new tables, no change to the tables of 0001. New EventKind values
(mail_received, sla_warning, sla_breached, outbox_failed) need no migration: enums are VARCHAR.
Written by autogenerate from bot/storage/models.py, then reviewed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_mail',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('received', 'handled', 'skipped', 'failed', name='inboundmailstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('from_addr', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('subject_key', sa.String(length=255), nullable=True),
    sa.Column('in_reply_to', sa.String(length=255), nullable=True),
    sa.Column('reference_ids', sa.Text(), nullable=True),
    sa.Column('automatic', sa.String(length=200), nullable=True),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('thread_id', sa.String(length=255), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_inbound_mail_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_inbound_mail_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_mail')),
    sa.UniqueConstraint('tenant_id', 'message_id', name=op.f('uq_inbound_mail_tenant_id_message_id'))
    )
    with op.batch_alter_table('inbound_mail', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_mail_contact_id', ['contact_id'], unique=False)
        batch_op.create_index('ix_inbound_mail_tenant_status', ['tenant_id', 'status'], unique=False)
        batch_op.create_index('ix_inbound_mail_tenant_subject', ['tenant_id', 'from_addr', 'subject_key'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.Enum('voice', 'chat', 'email', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('kind', sa.Enum('auto_reply', 'agent_reply', name='outboxkind', native_enum=False, length=32), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sending', 'sent', 'failed', name='outboxstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_outbox_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_outbox_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_contact_id', ['contact_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_tenant_message_id', ['tenant_id', 'message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_tenant_message_id')
        batch_op.drop_index('ix_outbox_status_next_attempt_at')
        batch_op.drop_index('ix_outbox_contact_id')

    op.drop_table('outbox')
    with op.batch_alter_table('inbound_mail', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_mail_tenant_subject')
        batch_op.drop_index('ix_inbound_mail_tenant_status')
        batch_op.drop_index('ix_inbound_mail_contact_id')

    op.drop_table('inbound_mail')
