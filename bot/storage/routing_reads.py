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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.storage.models import AgentState, AgentStateRow, Contact, ContactState, Offer, OfferStatus

__all__ = ["PendingOfferKey", "acw_ends", "offer_expiries", "pending_offer_keys", "queued_since", "waiting_counts"]


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
