"""Cheap reads for push routing, across every tenant at once: when the router must run next
without being asked (offer expiry, end of after-contact work, overflow thresholds), and the
pending offers a console stream watches.

Each query touches an indexed handful of rows: pending offers (at most one per contact, one
per agent in practice), agents in after-contact work, and contacts queued since a cut-off; and
counted: how many contacts wait (every tenant's, or one's) and a waiting citizen's place in the
queue. Datetimes are read as rows where they can be: through MIN() SQLite hands them back as
text (`_as_datetime`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import (
    AgentSkill,
    AgentState,
    AgentStateRow,
    Channel,
    Contact,
    ContactState,
    Offer,
    OfferStatus,
    QueueRow,
    UTCDateTime,
)

__all__ = [
    "PendingOfferKey", "QueuePlace", "acw_ends", "offer_expiries", "pending_offer_keys", "queue_place", "queue_row",
    "queued_since", "staffing", "waiting_counts",
]  # fmt: skip


@dataclass(frozen=True, slots=True, order=True)
class PendingOfferKey:
    offer_id: int
    tenant_id: str
    agent_id: str


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_datetime(value: datetime | str) -> datetime:
    """A datetime read through an aggregate: SQLite gives its stored text ('2026-03-02 09:00:00.000000')."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


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


def waiting_counts(session: Session, *, tenant_id: str | None = None) -> dict[str, int]:
    """Tenant → contacts waiting in a queue (state QUEUED), counted by the database; with
    `tenant_id`, that tenant's alone (absent when none waits). An agent's long poll asks this
    ten times a second, so no waiting contact is read into Python."""
    stmt = select(Contact.tenant_id, func.count()).where(Contact.state == ContactState.QUEUED)
    if tenant_id is not None:
        stmt = stmt.where(Contact.tenant_id == tenant_id)
    return {t: int(n) for t, n in session.execute(stmt.group_by(Contact.tenant_id))}


def queue_row(session: Session, *, tenant_id: str, queue_id: str) -> QueueRow | None:
    """One queue of the tenant, or None (from the session's identity map when already loaded)."""
    return session.get(QueueRow, (tenant_id, queue_id))


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """Where a waiting contact stands in its queue, counted by the database."""

    ahead: int  # contacts of the queue the router serves before this one
    waiting: int  # every contact waiting in the queue, this one included
    oldest: datetime | None  # when the longest waiting of them joined


# A waiting contact's place in the router's order (`skills.contact_order_key`: higher priority,
# channel by the policy, returned by an unanswered offer, longest waiting, id), as SQL over the
# queue's waiting rows: a citizen asking where they are is answered by one indexed count, not by
# reading every waiting contact into Python. Contacts without a queue wait in the default queue
# with priority 0 (`RoutingMixin._snapshot`).
_PRIORITY = case((Contact.queue_id == bindparam("queue_id"), bindparam("priority")), else_=0)
_CHANNEL_RANK = case(*((Contact.channel == bindparam(f"channel_{i}"), i) for i in range(len(Channel))),
                     else_=len(Channel))  # fmt: skip
_UNRETURNED = case((Contact.returned_at.is_(None), 1), else_=0)
_JOINED = func.coalesce(Contact.enqueued_at, Contact.updated_at)
_OWN_JOINED = bindparam("joined", type_=UTCDateTime())


def _ahead_of_own() -> ColumnElement[bool]:
    """The row sorts before the contact whose key is bound (`own_*`, `joined`, `contact_id`)."""
    same_rank = and_(_PRIORITY == bindparam("own_priority"), _CHANNEL_RANK == bindparam("own_rank"))
    later = or_(
        _UNRETURNED < bindparam("own_unreturned"),
        and_(_UNRETURNED == bindparam("own_unreturned"),
             or_(_JOINED < _OWN_JOINED, and_(_JOINED == _OWN_JOINED, Contact.id < bindparam("contact_id")))),
    )  # fmt: skip
    return or_(
        _PRIORITY > bindparam("own_priority"),
        and_(_PRIORITY == bindparam("own_priority"), _CHANNEL_RANK < bindparam("own_rank")),
        and_(same_rank, later),
    )


def _place_statement(unqueued_too: bool) -> Select[Any]:
    in_queue = Contact.queue_id == bindparam("queue_id")
    if unqueued_too:
        in_queue = or_(in_queue, Contact.queue_id.is_(None))
    return select(func.count(), func.coalesce(func.sum(case((_ahead_of_own(), 1), else_=0)), 0), func.min(_JOINED)).where(
        Contact.tenant_id == bindparam("tenant_id"), Contact.state == ContactState.QUEUED, in_queue
    )  # fmt: skip


_PLACE = {False: _place_statement(False), True: _place_statement(True)}


def queue_place(
    session: Session, *, contact: Contact, queue_id: str, priority: int, channel_priority: Sequence[Channel],
    unqueued_too: bool,
) -> QueuePlace:
    """The place of `contact` (QUEUED in `queue_id`, whose `priority` it has) among the QUEUED
    contacts of its queue, in the order `skills.waiting_in_queue` gives them; `unqueued_too`
    counts contacts without a queue as in it (the default queue)."""
    params: dict[str, Any] = {
        "tenant_id": contact.tenant_id, "queue_id": queue_id, "priority": priority, "own_priority": priority,
        "own_rank": list(channel_priority).index(contact.channel),
        "own_unreturned": int(contact.returned_at is None), "joined": contact.enqueued_at or contact.updated_at,
        "contact_id": contact.id, **{f"channel_{i}": ch for i, ch in enumerate(channel_priority)},
    }  # fmt: skip
    waiting, ahead, oldest = session.execute(_PLACE[unqueued_too], params).one()
    return QueuePlace(int(ahead), int(waiting), None if oldest is None else _utc(_as_datetime(oldest)))


# Asked on every turn of a waiting citizen: built once, with the tenant bound per call.
_SKILLS = select(AgentSkill.agent_id, AgentSkill.queue_id, AgentSkill.level).where(
    AgentSkill.tenant_id == bindparam("tenant_id")
)
_AGENT_STATES = (
    select(AgentStateRow.agent_id, AgentStateRow.state)
    .where(AgentStateRow.tenant_id == bindparam("tenant_id"))
    .order_by(AgentStateRow.agent_id)
)


def staffing(session: Session, *, tenant_id: str) -> list[tuple[str, AgentState, dict[str, int]]]:
    """Every agent of the tenant with a state row: (agent id, state, skill levels by queue), by
    agent id. Two queries, plain rows: what an expected wait counts."""
    skills: dict[str, dict[str, int]] = defaultdict(dict)
    params = {"tenant_id": tenant_id}
    for agent_id, queue_id, level in session.execute(_SKILLS, params):
        skills[agent_id][queue_id] = level
    return [(agent_id, state, skills.get(agent_id, {})) for agent_id, state in session.execute(_AGENT_STATES, params)]
