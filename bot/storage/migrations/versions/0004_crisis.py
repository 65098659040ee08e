"""Crisis mode per tenant: the crisis that is on (`crises`, at most one row per tenant) and the
agents crisis mode put in the crisis queue (`crisis_skill_grants`, so ending it undoes exactly
that). The new event kinds (crisis_started, crisis_updated, crisis_ended, crisis_queue_joined,
crisis_queue_left) need no migration: enums are VARCHAR.

Revision ID: 0004_crisis
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_crisis"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crises",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("message_da", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=True),
        sa.Column("queue_id", sa.String(length=64), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_crises_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_crises")),
    )
    op.create_table(
        "crisis_skill_grants",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"],
                                name=op.f("fk_crisis_skill_grants_tenant_id_agent_id_agents")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_crisis_skill_grants_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("agent_id", "queue_id", name=op.f("pk_crisis_skill_grants")),
    )


def downgrade() -> None:
    op.drop_table("crisis_skill_grants")
    op.drop_table("crises")
