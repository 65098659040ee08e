"""Crisis mode tables and queries (migration 0004_crisis).

`crises` holds at most one row per tenant: the crisis that is on now (switching it off deletes
the row; the history is in the event log). `crisis_skill_grants` remembers which agents crisis
mode put in the crisis queue, and at what level they were before, so ending the crisis can
undo exactly that. Functions are keyword-only, take an open `Session` and a `tenant_id`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, Integer, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage import repository as repo
from bot.storage.models import ID, AgentSkill, Base, Contact, ContactState, QueueRow

__all__ = [
    "CrisisGrantRow", "CrisisRow", "add_grant", "crisis_row", "delete_crisis", "delete_grants", "ensure_queue",
    "grants", "move_waiting", "put_crisis", "set_level", "skills",
]  # fmt: skip


class CrisisRow(Base):
    """The tenant's crisis while it is on."""

    __tablename__ = "crises"

    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), primary_key=True)
    message_da: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str | None] = mapped_column(Text)
    queue_id: Mapped[str | None] = mapped_column(ID)
    keywords: Mapped[list[Any]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(ID)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(ID)


class CrisisGrantRow(Base):
    """An agent that crisis mode put in the crisis queue; `previous` is the level before (None:
    the agent had no skill row for that queue)."""

    __tablename__ = "crisis_skill_grants"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"]),)

    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    agent_id: Mapped[str] = mapped_column(ID, primary_key=True)
    queue_id: Mapped[str] = mapped_column(ID, primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    previous: Mapped[int | None] = mapped_column(Integer)
    granted_at: Mapped[datetime]
    granted_by: Mapped[str] = mapped_column(ID)


def crisis_row(session: Session, *, tenant_id: str, lock: bool = False) -> CrisisRow | None:
    stmt = select(CrisisRow).where(CrisisRow.tenant_id == tenant_id)
    return session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()


def put_crisis(
    session: Session,
    *,
    tenant_id: str,
    message_da: str,
    message_en: str | None,
    queue_id: str | None,
    keywords: list[str],
    by: str,
    at: datetime,
) -> tuple[CrisisRow, bool]:
    """Start the tenant's crisis, or update the one that is on. Returns the row and whether it
    was started now."""
    repo.get_tenant(session, tenant_id=tenant_id)
    row = crisis_row(session, tenant_id=tenant_id, lock=True)
    created = row is None
    if row is None:
        row = CrisisRow(tenant_id=tenant_id, started_at=at, started_by=by)
        session.add(row)
    row.message_da, row.message_en, row.queue_id, row.keywords = message_da, message_en, queue_id, list(keywords)
    row.updated_at, row.updated_by = at, by
    session.flush()
    return row, created


def delete_crisis(session: Session, *, tenant_id: str) -> CrisisRow | None:
    row = crisis_row(session, tenant_id=tenant_id, lock=True)
    if row is not None:
        session.delete(row)
        session.flush()
    return row


def ensure_queue(session: Session, *, tenant_id: str, queue_id: str, name: str, create: bool) -> QueueRow:
    """The queue `queue_id` of the tenant; with `create`, the tenant's dedicated crisis queue is
    made on first use (default opening hours). Otherwise an unknown queue raises UnknownQueue."""
    existing = session.get(QueueRow, (tenant_id, queue_id))
    if existing is not None or not create:
        return existing or repo.get_queue(session, tenant_id=tenant_id, queue_id=queue_id)
    row = QueueRow(tenant_id=tenant_id, id=queue_id, name=name, priority=0, schedule=None, avg_handle_seconds=300)
    session.add(row)
    session.flush()
    return row


def skills(session: Session, *, tenant_id: str) -> dict[str, dict[str, int]]:
    """Every agent of the tenant with their levels per queue (agents without skills included)."""
    agent_ids = [a.id for a in repo.agents(session, tenant_id=tenant_id)]
    return repo.skills_of(session, tenant_id=tenant_id, agent_ids=agent_ids)


def set_level(session: Session, *, tenant_id: str, agent_id: str, queue_id: str, level: int | None) -> None:
    """Set an agent's level for a queue; None removes the skill row (as before crisis mode)."""
    row = session.get(AgentSkill, (agent_id, queue_id))
    if level is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(AgentSkill(tenant_id=tenant_id, agent_id=agent_id, queue_id=queue_id, level=level))
    else:
        row.level = level
    session.flush()


def grants(session: Session, *, tenant_id: str) -> list[CrisisGrantRow]:
    stmt = select(CrisisGrantRow).where(CrisisGrantRow.tenant_id == tenant_id).order_by(CrisisGrantRow.agent_id)
    return list(session.scalars(stmt))


def add_grant(
    session: Session, *, tenant_id: str, agent_id: str, queue_id: str, level: int, previous: int | None,
    by: str, at: datetime,
) -> None:  # fmt: skip
    """Remember a grant. Joining twice keeps the level from before the first join."""
    row = session.get(CrisisGrantRow, (agent_id, queue_id))
    if row is None:
        session.add(CrisisGrantRow(tenant_id=tenant_id, agent_id=agent_id, queue_id=queue_id, level=level,
                                   previous=previous, granted_at=at, granted_by=by))  # fmt: skip
    else:
        row.level, row.granted_at, row.granted_by = level, at, by
    session.flush()


def delete_grants(session: Session, *, tenant_id: str) -> None:
    for row in grants(session, tenant_id=tenant_id):
        session.delete(row)
    session.flush()


def move_waiting(session: Session, *, tenant_id: str, from_queue: str, to_queue: str, at: datetime) -> list[str]:
    """Contacts still waiting in `from_queue` (queued, or offered and not yet accepted) move to
    `to_queue`, keeping their waiting time. Returns their ids."""
    repo.get_queue(session, tenant_id=tenant_id, queue_id=to_queue)
    stmt = select(Contact).where(
        Contact.tenant_id == tenant_id, Contact.queue_id == from_queue,
        Contact.state.in_((ContactState.QUEUED, ContactState.OFFERED)),
    ).with_for_update()  # fmt: skip
    moved = []
    for contact in session.scalars(stmt):
        contact.queue_id, contact.updated_at = to_queue, at
        moved.append(contact.id)
    session.flush()
    return moved
