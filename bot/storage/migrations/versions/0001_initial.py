"""Initial schema: tenants, queues, agents (skills, states), contacts, messages, handoffs,
offers, tasks and the append-only events log.

Enums are stored as VARCHAR (non-native), times as timestamptz on PostgreSQL (UTC text on
SQLite). Written by autogenerate from bot/storage/models.py, then reviewed; the test
tests/bot/storage/test_migrations.py checks that models and migrations agree.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tenants',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants'))
    )
    op.create_table('agents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('agent', 'supervisor', 'admin', name='agentrole', native_enum=False, length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agents_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_agents_tenant_id_id'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agents_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=True),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.Enum('tenant_created', 'queue_saved', 'agent_added', 'skill_set', 'agent_state_changed', 'contact_opened', 'message_received', 'bot_replied', 'handoff_requested', 'queued', 'offered', 'offer_accepted', 'offer_declined', 'offer_expired', 'offer_withdrawn', 'agent_replied', 'transferred', 'message_left', 'callback_requested', 'task_done', 'abandoned', 'closed', name='eventkind', native_enum=False, length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_events_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_contact_id', ['contact_id'], unique=False)
        batch_op.create_index('ix_events_tenant_at', ['tenant_id', 'at'], unique=False)

    op.create_table('queues',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('avg_handle_seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_queues_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_queues'))
    )
    op.create_table('agent_skills',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('queue_id', sa.String(length=64), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.CheckConstraint('level >= 0 AND level <= 9', name=op.f('ck_agent_skills_level_0_9')),
    sa.ForeignKeyConstraint(['tenant_id', 'agent_id'], ['agents.tenant_id', 'agents.id'], name=op.f('fk_agent_skills_tenant_id_agent_id_agents')),
    sa.ForeignKeyConstraint(['tenant_id', 'queue_id'], ['queues.tenant_id', 'queues.id'], name=op.f('fk_agent_skills_tenant_id_queue_id_queues')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agent_skills_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('agent_id', 'queue_id', name=op.f('pk_agent_skills'))
    )
    op.create_table('agent_states',
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Enum('available', 'busy', 'after_contact_work', 'paused', 'offline', name='agentstate', native_enum=False, length=32), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acw_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('idle_since', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'agent_id'], ['agents.tenant_id', 'agents.id'], name=op.f('fk_agent_states_tenant_id_agent_id_agents')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agent_states_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agent_states'))
    )
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_states_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.Enum('voice', 'chat', 'email', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('external_ref', sa.String(length=255), nullable=False),
    sa.Column('state', sa.Enum('bot', 'handoff_requested', 'queued', 'offered', 'assigned', 'agent_active', 'message_left', 'callback_requested', 'abandoned', 'closed', name='contactstate', native_enum=False, length=32), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('queue_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offer_attempts', sa.Integer(), nullable=False),
    sa.Column('assigned_agent_id', sa.String(length=64), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('citizen_name', sa.String(length=200), nullable=True),
    sa.Column('citizen_phone', sa.String(length=40), nullable=True),
    sa.Column('citizen_email', sa.String(length=320), nullable=True),
    sa.Column('authenticated', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.Enum('straksafklaret', 'henvist_til_selvbetjening', 'vejledt_i_selvbetjening', 'omstillet', 'besked_taget', 'tilbagekald_aftalt', 'moedetid_booket', name='outcome', native_enum=False, length=32), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id', 'assigned_agent_id'], ['agents.tenant_id', 'agents.id'], name=op.f('fk_contacts_tenant_id_assigned_agent_id_agents')),
    sa.ForeignKeyConstraint(['tenant_id', 'queue_id'], ['queues.tenant_id', 'queues.id'], name=op.f('fk_contacts_tenant_id_queue_id_queues')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contacts_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('tenant_id', 'channel', 'external_ref', name=op.f('uq_contacts_tenant_id_channel_external_ref'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_tenant_email', ['tenant_id', 'citizen_email'], unique=False)
        batch_op.create_index('ix_contacts_tenant_phone', ['tenant_id', 'citizen_phone'], unique=False)
        batch_op.create_index('ix_contacts_tenant_state_queue', ['tenant_id', 'state', 'queue_id'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('schema_version', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('packet', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_handoffs_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_handoffs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs')),
    sa.UniqueConstraint('contact_id', 'version', name=op.f('uq_handoffs_contact_id_version'))
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.Enum('in', 'out', name='direction', native_enum=False, length=8), nullable=False),
    sa.Column('author', sa.Enum('citizen', 'bot', 'agent', 'system', name='author', native_enum=False, length=16), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_redacted', sa.Text(), nullable=False),
    sa.Column('client_message_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_messages_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_messages_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('contact_id', 'client_message_id', name=op.f('uq_messages_contact_id_client_message_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_contact_id_id', ['contact_id', 'id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('skill', sa.Integer(), nullable=False),
    sa.Column('overflow', sa.Boolean(), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'declined', 'expired', 'withdrawn', name='offerstatus', native_enum=False, length=16), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_offers_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id', 'agent_id'], ['agents.tenant_id', 'agents.id'], name=op.f('fk_offers_tenant_id_agent_id_agents')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_offers_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_tenant_status', ['tenant_id', 'status'], unique=False)
        batch_op.create_index('uq_offers_pending_contact', ['contact_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))

    op.create_table('tasks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.Enum('message', 'callback', name='taskkind', native_enum=False, length=16), nullable=False),
    sa.Column('queue_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('preferred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('expectation', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'cancelled', name='taskstatus', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_tasks_contact_id_contacts')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tasks_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_tenant_status_due', ['tenant_id', 'status', 'due_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_tenant_status_due')

    op.drop_table('tasks')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('uq_offers_pending_contact', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_offers_tenant_status')

    op.drop_table('offers')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_contact_id_id')

    op.drop_table('messages')
    op.drop_table('handoffs')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_tenant_state_queue')
        batch_op.drop_index('ix_contacts_tenant_phone')
        batch_op.drop_index('ix_contacts_tenant_email')

    op.drop_table('contacts')
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_states_tenant_id'))

    op.drop_table('agent_states')
    op.drop_table('agent_skills')
    op.drop_table('queues')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_tenant_at')
        batch_op.drop_index('ix_events_contact_id')

    op.drop_table('events')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agents_tenant_id'))

    op.drop_table('agents')
    op.drop_table('tenants')
