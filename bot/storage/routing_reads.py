"""Cheap reads for push routing, across every tenant at once: when the router must run next
without being asked (offer expiry, end of after-contact work, overflow thresholds), and the
pending offers a console stream watches.

Each query touches an indexed handful of rows: pending offers (at most one per contact, one
per agent in practice), agents in after-contact work, and contacts queued since a cut-off.
Datetimes are read as rows, not through MIN(), which SQLite would hand back as text.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import (
    AgentSkill,
    AgentState,
    AgentStateRow,
    Contact,
    ContactState,
    Offer,
    OfferStatus,
    QueueRow,
)

__all__ = [
    "PendingOfferKey", "acw_ends", "offer_expiries", "pending_offer_keys", "queue_row", "queued_since", "staffing",
    "waiting_counts", "waiting_in",
]  # fmt: skip


@dataclass(frozen=True, slots=True, order=True)
class PendingOfferKey:
    offer_id: int
    tenant_id: str
    agent_id: str


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pending_offer_keys(session: Session) -> frozenset[PendingOfferKey]:
    """Every pending offer as (id, tenant, agent): what the live console streams watch."""
    stmt = select(Offer.id, Offer.tenant_id, Offer.agent_id).where(Offer.status == OfferStatus.PENDING)
    return frozenset(PendingOfferKey(int(i), t, a) for i, t, a in session.execute(stmt))


def offer_expiries(session: Session) -> dict[str, list[datetime]]:
    """Tenant → expiry times of its pending offers (past ones included: they are due now)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    stmt = select(Offer.tenant_id, Offer.expires_at).where(Offer.status == OfferStatus.PENDING)
    for tenant_id, at in session.execute(stmt):
        out[tenant_id].append(_utc(at))
    return dict(out)


def acw_ends(session: Session) -> dict[str, list[datetime]]:
    """Tenant → when its agents in after-contact work become free (past ones included)."""
    out: dict[str, list[datetime]] = defaultdict(list)
    stmt = select(AgentStateRow.tenant_id, AgentStateRow.acw_until).where(
        AgentStateRow.state == AgentState.AFTER_CONTACT_WORK, AgentStateRow.acw_until.is_not(None)
    )
    for tenant_id, at in session.execute(stmt):
        if at is not None:
            out[tenant_id].append(_utc(at))
    return dict(out)


def queued_since(session: Session, *, after: datetime) -> dict[tuple[str, str | None], list[datetime]]:
    """(tenant, queue) → enqueue times of contacts waiting since after `after` (the ones whose
    overflow threshold may still lie ahead)."""
    out: dict[tuple[str, str | None], list[datetime]] = defaultdict(list)
    stmt = select(Contact.tenant_id, Contact.queue_id, Contact.enqueued_at).where(
        Contact.state == ContactState.QUEUED, Contact.enqueued_at > after
    )
    for tenant_id, queue_id, at in session.execute(stmt):
        if at is not None:
            out[(tenant_id, queue_id)].append(_utc(at))
    return dict(out)


def waiting_counts(session: Session) -> dict[str, int]:
    """Tenant → contacts waiting in a queue."""
    stmt = (
        select(Contact.tenant_id, func.count())
        .where(Contact.state == ContactState.QUEUED)
        .group_by(Contact.tenant_id)
    )
    return {tenant_id: int(n) for tenant_id, n in session.execute(stmt)}


def queue_row(session: Session, *, tenant_id: str, queue_id: str) -> QueueRow | None:
    """One queue of the tenant, or None (from the session's identity map when already loaded)."""
    return session.get(QueueRow, (tenant_id, queue_id))


def waiting_in(session: Session, *, tenant_id: str, queue_id: str, unqueued_too: bool, limit: int = 1000) -> list[Any]:
    """QUEUED contacts of one queue, oldest first, as plain rows (id, queue_id, channel,
    enqueued_at, updated_at, returned_at, offer_attempts): what a waiting citizen's position needs,
    without loading every waiting contact of the tenant as an ORM object. `unqueued_too` adds
    contacts without a queue (they wait in the default queue)."""
    where = Contact.queue_id == queue_id
    if unqueued_too:
        where = or_(where, Contact.queue_id.is_(None))
    stmt = (
        select(Contact.id, Contact.queue_id, Contact.channel, Contact.enqueued_at, Contact.updated_at,
               Contact.returned_at, Contact.offer_attempts)
        .where(Contact.tenant_id == tenant_id, Contact.state == ContactState.QUEUED, where)
        .order_by(Contact.enqueued_at, Contact.id)
        .limit(limit)
    )  # fmt: skip
    return list(session.execute(stmt))


def staffing(session: Session, *, tenant_id: str) -> list[tuple[str, AgentState, dict[str, int]]]:
    """Every agent of the tenant with a state row: (agent id, state, skill levels by queue), by
    agent id. Two queries, plain rows: what an expected wait counts."""
    skills: dict[str, dict[str, int]] = defaultdict(dict)
    for agent_id, queue_id, level in session.execute(
        select(AgentSkill.agent_id, AgentSkill.queue_id, AgentSkill.level).where(AgentSkill.tenant_id == tenant_id)
    ):
        skills[agent_id][queue_id] = level
    stmt = (
        select(AgentStateRow.agent_id, AgentStateRow.state)
        .where(AgentStateRow.tenant_id == tenant_id)
        .order_by(AgentStateRow.agent_id)
    )
    return [(agent_id, state, skills.get(agent_id, {})) for agent_id, state in session.execute(stmt)]
