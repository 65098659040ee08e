"""Poison handling for the e-mail queues: an inbound mail or outbox item that never finishes is
given up after a few attempts and quarantined for a supervisor, instead of being retried forever.

Additive only: new nullable columns on `inbound_mail` (reply_addr, last_attempt_at,
quarantined_at) and `outbox` (quarantined_at), and `outbox.unfinished_attempts` with a server
default of 0 so existing rows need no backfill. The new status values (quarantined) and event
kinds (mail_quarantined, outbox_quarantined) need no migration: enums are VARCHAR.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_addr", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unfinished_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("quarantined_at")
        batch_op.drop_column("unfinished_attempts")
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.drop_column("quarantined_at")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("reply_addr")
