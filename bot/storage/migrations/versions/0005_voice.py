"""Phone calls on the one engine: per-call state, replayed TwiML answers and agents' lines.

New tables only (nothing existing changes): `voice_calls` (one row per live call, keyed by
Twilio's CallSid), `voice_responses` (TwiML per idempotency token) and `agent_lines` (the phone
number or Twilio Client identity an agent takes calls on).

Revision ID: 0005_voice
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_voice"
down_revision: str | None = "0004_crisis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_calls",
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_voice_calls_contact_id_contacts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_voice_calls_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_voice_calls")),
    )
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.create_index("ix_voice_calls_tenant_contact", ["tenant_id", "contact_id"], unique=False)
    op.create_table(
        "voice_responses",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_voice_responses")),
    )
    with op.batch_alter_table("voice_responses", schema=None) as batch_op:
        batch_op.create_index("ix_voice_responses_call_sid", ["call_sid"], unique=False)
    op.create_table(
        "agent_lines",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("client_identity", sa.String(length=120), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"],
                                name=op.f("fk_agent_lines_tenant_id_agents")),  # fmt: skip
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_agent_lines_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_lines")),
    )


def downgrade() -> None:
    op.drop_table("agent_lines")
    with op.batch_alter_table("voice_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_voice_responses_call_sid")
    op.drop_table("voice_responses")
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_voice_calls_tenant_contact")
    op.drop_table("voice_calls")
