"""Read-side queries for the agent console and supervisor view.

Every function takes `tenant_id` and filters on it in the SQL, so a row of another tenant is
as invisible as a missing one. The one exception is `agent_by_token_hash`: the token decides
which agent (and so which tenant) is calling. Writes go through `bot.engine`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import func, select

from bot.errors import UnknownAgent, UnknownOffer
from bot.privacy import redact
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import (
    Agent,
    AgentRole,
    AgentSkill,
    AgentState,
    AgentStateRow,
    Channel,
    Contact,
    ContactState,
    Event,
    Offer,
    OfferStatus,
    QueueRow,
    Task,
    TaskStatus,
    Tenant,
)

__all__ = [
    "AgentIdentity", "AgentLive", "MyContact", "OfferInfo", "QueueLoad", "agent_by_token_hash", "agent_live",
    "agents_live", "agent_may_view_contact", "my_contacts", "my_offers", "offer_info", "queue_loads",
    "tasks_in_queues",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    id: str
    tenant_id: str
    tenant_name: str
    name: str
    role: AgentRole


@dataclass(frozen=True, slots=True)
class AgentLive:
    id: str
    name: str
    role: AgentRole
    state: AgentState
    since: datetime
    acw_until: datetime | None
    skills: Mapping[str, int] = field(default_factory=dict)
    active: int = 0  # contacts offered, assigned or active


@dataclass(frozen=True, slots=True)
class QueueLoad:
    id: str
    name: str
    priority: int
    waiting: int
    oldest_enqueued_at: datetime | None
    in_progress: int  # offered, assigned or active


@dataclass(frozen=True, slots=True)
class OfferInfo:
    id: int
    contact_id: str
    agent_id: str
    status: OfferStatus
    offered_at: datetime
    expires_at: datetime
    queue_id: str | None
    channel: Channel
    topic: str | None
    enqueued_at: datetime | None


@dataclass(frozen=True, slots=True)
class MyContact:
    id: str
    state: ContactState
    channel: Channel
    queue_id: str | None
    topic: str | None
    citizen_name: str | None
    updated_at: datetime


def agent_by_token_hash(db: Database, token_hash: str) -> tuple[AgentIdentity, str] | None:
    """The agent whose stored hash equals `token_hash`, with the stored hash (for the caller's
    constant-time check), or None."""
    with db.read() as s:
        row = s.execute(
            select(Agent, Tenant.name).join(Tenant, Tenant.id == Agent.tenant_id).where(Agent.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        agent, tenant_name = row
        return (
            AgentIdentity(id=agent.id, tenant_id=agent.tenant_id, tenant_name=tenant_name, name=agent.name,
                          role=agent.role),
            agent.token_hash or "",
        )  # fmt: skip


def _live(s, tenant_id: str, agent_ids: Collection[str] | None = None) -> list[AgentLive]:
    stmt = (
        select(Agent, AgentStateRow)
        .join(AgentStateRow, (AgentStateRow.agent_id == Agent.id) & (AgentStateRow.tenant_id == Agent.tenant_id))
        .where(Agent.tenant_id == tenant_id)
        .order_by(Agent.id)
    )
    if agent_ids is not None:
        stmt = stmt.where(Agent.id.in_(list(agent_ids)))
    rows = list(s.execute(stmt))
    ids = [a.id for a, _ in rows]
    skills = repo.skills_of(s, tenant_id=tenant_id, agent_ids=ids)
    active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=ids)
    return [
        AgentLive(id=a.id, name=a.name, role=a.role, state=st.state, since=st.since, acw_until=st.acw_until,
                  skills=MappingProxyType(dict(skills[a.id])), active=sum(active[a.id].values()))
        for a, st in rows
    ]  # fmt: skip


def agents_live(db: Database, tenant_id: str) -> list[AgentLive]:
    """Every agent of the tenant with state, skills and work in progress."""
    with db.read() as s:
        return _live(s, tenant_id)


def agent_live(db: Database, tenant_id: str, agent_id: str) -> AgentLive:
    with db.read() as s:
        found = _live(s, tenant_id, [agent_id])
        if not found:
            raise UnknownAgent(f"tenant {tenant_id!r} has no agent {agent_id!r}")
        return found[0]


def queue_loads(db: Database, tenant_id: str) -> list[QueueLoad]:
    """Every queue of the tenant: waiting contacts, oldest enqueue time, work in progress.
    Ordered by priority (highest first), then id."""
    with db.read() as s:
        waiting = {
            q: (n, oldest)
            for q, n, oldest in s.execute(
                select(Contact.queue_id, func.count(), func.min(Contact.enqueued_at))
                .where(Contact.tenant_id == tenant_id, Contact.state == ContactState.QUEUED)
                .group_by(Contact.queue_id)
            )
        }
        busy = {
            q: n
            for q, n in s.execute(
                select(Contact.queue_id, func.count())
                .where(Contact.tenant_id == tenant_id, Contact.state.in_(repo.ACTIVE_STATES))
                .group_by(Contact.queue_id)
            )
        }
        queues = s.scalars(
            select(QueueRow).where(QueueRow.tenant_id == tenant_id).order_by(QueueRow.priority.desc(), QueueRow.id)
        )
        out = []
        for q in queues:
            n, oldest = waiting.get(q.id, (0, None))
            if oldest is not None and oldest.tzinfo is None:  # SQLite's MIN() bypasses UTCDateTime
                oldest = _utc(oldest)
            elif isinstance(oldest, str):
                oldest = _utc(datetime.fromisoformat(oldest))
            out.append(QueueLoad(id=q.id, name=q.name, priority=q.priority, waiting=int(n),
                                 oldest_enqueued_at=oldest, in_progress=int(busy.get(q.id, 0))))  # fmt: skip
        return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _offer_info(o: Offer, c: Contact) -> OfferInfo:
    return OfferInfo(id=o.id, contact_id=o.contact_id, agent_id=o.agent_id, status=o.status, offered_at=o.offered_at,
                     expires_at=o.expires_at, queue_id=c.queue_id, channel=c.channel, topic=c.topic,
                     enqueued_at=c.enqueued_at)  # fmt: skip


def offer_info(db: Database, tenant_id: str, offer_id: int) -> OfferInfo:
    """One offer of the tenant (any status); UnknownOffer if it is not in the tenant."""
    with db.read() as s:
        row = s.execute(
            select(Offer, Contact)
            .join(Contact, Contact.id == Offer.contact_id)
            .where(Offer.tenant_id == tenant_id, Contact.tenant_id == tenant_id, Offer.id == offer_id)
        ).first()
        if row is None:
            raise UnknownOffer(f"tenant {tenant_id!r} has no offer {offer_id!r}")
        return _offer_info(*row)


def my_offers(db: Database, tenant_id: str, agent_id: str) -> list[OfferInfo]:
    """The agent's pending offers, oldest first (expired ones included until the router runs)."""
    with db.read() as s:
        rows = s.execute(
            select(Offer, Contact)
            .join(Contact, Contact.id == Offer.contact_id)
            .where(Offer.tenant_id == tenant_id, Contact.tenant_id == tenant_id, Offer.agent_id == agent_id,
                   Offer.status == OfferStatus.PENDING)
            .order_by(Offer.id)
        )  # fmt: skip
        return [_offer_info(o, c) for o, c in rows]


def my_contacts(db: Database, tenant_id: str, agent_id: str) -> list[MyContact]:
    """Contacts assigned to the agent and not yet closed or transferred."""
    with db.read() as s:
        rows = s.scalars(
            select(Contact)
            .where(Contact.tenant_id == tenant_id, Contact.assigned_agent_id == agent_id,
                   Contact.state.in_((ContactState.ASSIGNED, ContactState.AGENT_ACTIVE)))
            .order_by(Contact.updated_at, Contact.id)
        )  # fmt: skip
        return [MyContact(id=c.id, state=c.state, channel=c.channel, queue_id=c.queue_id, topic=c.topic,
                          citizen_name=c.citizen_name, updated_at=c.updated_at) for c in rows]  # fmt: skip


def agent_may_view_contact(db: Database, tenant_id: str, agent_id: str, contact_id: str) -> bool:
    """Need to know, for the `agent` role: the contact is offered or assigned to the agent, waits
    in a queue where the agent has a skill > 0, or the agent has acted on it before.
    The contact must exist in the tenant (UnknownContact otherwise)."""
    with db.read() as s:
        c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
        if c.assigned_agent_id == agent_id:
            return True
        if c.queue_id is not None and c.state is ContactState.QUEUED:
            level = s.scalar(
                select(AgentSkill.level).where(AgentSkill.tenant_id == tenant_id, AgentSkill.agent_id == agent_id,
                                               AgentSkill.queue_id == c.queue_id)
            )  # fmt: skip
            if level:
                return True
        acted = s.scalar(
            select(func.count()).select_from(Event)
            .where(Event.tenant_id == tenant_id, Event.contact_id == contact_id, Event.agent_id == agent_id)
        )  # fmt: skip
        return bool(acted)


def tasks_in_queues(db: Database, tenant_id: str, queue_ids: Collection[str] | None) -> list[repo.TaskView]:
    """Open messages and callbacks of the tenant, due first; only in `queue_ids` if given.
    Notes are redacted: every agent of the queue and every supervisor sees them, and no one is
    assigned to a task (notes are stored redacted; this also covers rows stored before that)."""
    with db.read() as s:
        stmt = select(Task).where(Task.tenant_id == tenant_id, Task.status == TaskStatus.OPEN)
        if queue_ids is not None:
            stmt = stmt.where(Task.queue_id.in_(list(queue_ids)))
        rows = s.scalars(stmt.order_by(Task.due_at, Task.id))
        return [replace(repo.TaskView.of(t), note=redact(t.note)) for t in rows]
