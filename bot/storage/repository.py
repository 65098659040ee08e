"""Queries and small writes over the tables, plus the frozen views the engine hands out.

Functions are keyword-only, take an open `Session` (from `Database.read()` / `write()`) and
always a `tenant_id`: there is no global current tenant, and a row of another tenant is as
unknown as a missing one. Dialect-specific SQL (row locks) lives here: `lock=True` adds
FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite ignores it (its BEGIN IMMEDIATE serialises).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.errors import UnknownAgent, UnknownContact, UnknownOffer, UnknownQueue, UnknownTask, UnknownTenant
from bot.privacy import redact, redact_data
from bot.storage.models import (
    Agent,
    AgentRole,
    AgentSkill,
    AgentState,
    AgentStateRow,
    Author,
    Channel,
    Contact,
    ContactState,
    Direction,
    Event,
    EventKind,
    Handoff,
    Message,
    Offer,
    OfferStatus,
    Outcome,
    QueueRow,
    Task,
    TaskKind,
    TaskStatus,
    Tenant,
)

# A contact in one of these states takes up room at its agent (skills.AgentSnapshot.active).
ACTIVE_STATES = (ContactState.OFFERED, ContactState.ASSIGNED, ContactState.AGENT_ACTIVE)

# --- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactView:
    id: str
    tenant_id: str
    channel: Channel
    external_ref: str
    state: ContactState
    topic: str | None
    queue_id: str | None
    created_at: datetime
    updated_at: datetime
    enqueued_at: datetime | None
    assigned_agent_id: str | None
    sla_due_at: datetime | None
    citizen_name: str | None
    citizen_phone: str | None
    citizen_email: str | None
    authenticated: bool
    outcome: Outcome | None
    closed_at: datetime | None
    offer_attempts: int

    @classmethod
    def of(cls, c: Contact) -> ContactView:
        return cls(
            id=c.id, tenant_id=c.tenant_id, channel=c.channel, external_ref=c.external_ref, state=c.state,
            topic=c.topic, queue_id=c.queue_id, created_at=c.created_at, updated_at=c.updated_at,
            enqueued_at=c.enqueued_at, assigned_agent_id=c.assigned_agent_id, sla_due_at=c.sla_due_at,
            citizen_name=c.citizen_name, citizen_phone=c.citizen_phone, citizen_email=c.citizen_email,
            authenticated=c.authenticated, outcome=c.outcome, closed_at=c.closed_at,
            offer_attempts=c.offer_attempts,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MessageView:
    """`text` is as sent; use `text_redacted` for logs and default transcript views."""

    id: int
    contact_id: str
    direction: Direction
    author: Author
    agent_id: str | None
    text: str
    text_redacted: str
    client_message_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> MessageView:
        return cls(
            id=m.id, contact_id=m.contact_id, direction=m.direction, author=m.author, agent_id=m.agent_id,
            text=m.text, text_redacted=m.text_redacted, client_message_id=m.client_message_id,
            created_at=m.created_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OfferView:
    id: int
    contact_id: str
    agent_id: str
    queue_id: str
    channel: Channel
    skill: int
    overflow: bool
    offered_at: datetime
    expires_at: datetime
    status: OfferStatus


@dataclass(frozen=True, slots=True)
class TaskView:
    id: int
    contact_id: str
    kind: TaskKind
    queue_id: str | None
    name: str | None
    phone: str
    preferred_at: datetime | None
    note: str
    expectation: str
    due_at: datetime
    status: TaskStatus
    created_at: datetime

    @classmethod
    def of(cls, t: Task) -> TaskView:
        return cls(
            id=t.id, contact_id=t.contact_id, kind=t.kind, queue_id=t.queue_id, name=t.name, phone=t.phone,
            preferred_at=t.preferred_at, note=t.note, expectation=t.expectation, due_at=t.due_at,
            status=t.status, created_at=t.created_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    tenant_id: str
    kind: EventKind
    at: datetime
    contact_id: str | None
    agent_id: str | None
    data: Mapping[str, Any]

    @classmethod
    def of(cls, e: Event) -> EventView:
        return cls(
            id=e.id, tenant_id=e.tenant_id, kind=e.kind, at=e.at, contact_id=e.contact_id,
            agent_id=e.agent_id, data=MappingProxyType(dict(e.data)),
        )  # fmt: skip


# --- lookups --------------------------------------------------------------------------------------


def _locked(stmt: Select[Any], lock: bool, *, skip_locked: bool = False) -> Select[Any]:
    return stmt.with_for_update(skip_locked=skip_locked) if lock else stmt


def get_tenant(session: Session, *, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise UnknownTenant(f"unknown tenant {tenant_id!r}; create it first (ConversationEngine.ensure_tenant)")
    return tenant


def get_queue(session: Session, *, tenant_id: str, queue_id: str) -> QueueRow:
    queue = session.get(QueueRow, (tenant_id, queue_id))
    if queue is None:
        get_tenant(session, tenant_id=tenant_id)
        raise UnknownQueue(
            f"tenant {tenant_id!r} has no queue {queue_id!r}; queue ids come from knowledge/topics.yaml"
        )
    return queue


# The statements every chat turn runs, built once with bound parameters: building a select is a
# good part of its cost in SQLAlchemy, and the SQL sent is the same as building it per call.
_CONTACT = select(Contact).where(Contact.tenant_id == bindparam("tenant_id"), Contact.id == bindparam("contact_id"))
_CONTACT_LOCKED = _locked(_CONTACT, True)
_CONTACT_BY_REF = select(Contact).where(
    Contact.tenant_id == bindparam("tenant_id"), Contact.channel == bindparam("channel"),
    Contact.external_ref == bindparam("external_ref"),
)  # fmt: skip
_CONTACT_BY_REF_LOCKED = _locked(_CONTACT_BY_REF, True)
# The columns of a ContactView, in its order: a turn that only looks reads the contact without an ORM object.
_CONTACT_VIEW_BY_REF = select(
    Contact.id, Contact.tenant_id, Contact.channel, Contact.external_ref, Contact.state, Contact.topic,
    Contact.queue_id, Contact.created_at, Contact.updated_at, Contact.enqueued_at, Contact.assigned_agent_id,
    Contact.sla_due_at, Contact.citizen_name, Contact.citizen_phone, Contact.citizen_email, Contact.authenticated,
    Contact.outcome, Contact.closed_at, Contact.offer_attempts,
).where(
    Contact.tenant_id == bindparam("tenant_id"), Contact.channel == bindparam("channel"),
    Contact.external_ref == bindparam("external_ref"),
)  # fmt: skip
_MESSAGES = (
    select(Message)
    .where(Message.tenant_id == bindparam("tenant_id"), Message.contact_id == bindparam("contact_id"),
           Message.id > bindparam("after_id"))
    .order_by(Message.id)
)  # fmt: skip
_CONTACT_EVENTS = (
    select(Event)
    .where(Event.tenant_id == bindparam("tenant_id"), Event.contact_id == bindparam("contact_id"))
    .order_by(Event.id)
)


# The same rows as columns: a read that only looks builds its views without ORM objects.
_MESSAGE_VIEWS = select(
    Message.id, Message.contact_id, Message.direction, Message.author, Message.agent_id, Message.text,
    Message.text_redacted, Message.client_message_id, Message.created_at,
).where(Message.tenant_id == bindparam("tenant_id"), Message.contact_id == bindparam("contact_id")).order_by(Message.id)  # fmt: skip
_EVENT_VIEWS = select(
    Event.id, Event.tenant_id, Event.kind, Event.at, Event.contact_id, Event.agent_id, Event.data
).where(Event.tenant_id == bindparam("tenant_id"), Event.contact_id == bindparam("contact_id")).order_by(Event.id)


def message_views(session: Session, *, tenant_id: str, contact_id: str) -> tuple[MessageView, ...]:
    """The contact's messages, oldest first, as `messages` reads them, straight into views (for a
    session that has written none of them or flushed what it wrote: rows it holds unflushed or
    changed are not seen)."""
    params = {"tenant_id": tenant_id, "contact_id": contact_id}
    return tuple(MessageView(*row) for row in session.execute(_MESSAGE_VIEWS, params))


def event_views(session: Session, *, tenant_id: str, contact_id: str) -> tuple[EventView, ...]:
    """The contact's events, oldest first, as `events` reads them, straight into views (same
    condition as `message_views`)."""
    params = {"tenant_id": tenant_id, "contact_id": contact_id}
    return tuple(
        EventView(i, t, kind, at, c, agent, MappingProxyType(dict(data)))
        for i, t, kind, at, c, agent, data in session.execute(_EVENT_VIEWS, params)
    )


def get_contact(session: Session, *, tenant_id: str, contact_id: str, lock: bool = False) -> Contact:
    stmt = _CONTACT_LOCKED if lock else _CONTACT
    contact = session.scalars(stmt, {"tenant_id": tenant_id, "contact_id": contact_id}).one_or_none()
    if contact is None:
        get_tenant(session, tenant_id=tenant_id)
        raise UnknownContact(f"tenant {tenant_id!r} has no contact {contact_id!r}")
    return contact


_STANDING = select(
    Contact.state,
    exists().where(Event.tenant_id == Contact.tenant_id, Event.contact_id == Contact.id, Event.kind == bindparam("kind")),
).where(Contact.tenant_id == bindparam("tenant_id"), Contact.id == bindparam("contact_id"))


def contact_standing(session: Session, *, tenant_id: str, contact_id: str, kind: EventKind) -> tuple[ContactState, bool]:
    """The contact's state and whether it has an event of `kind`, in one statement (a chat
    session asks this before every message); `UnknownContact` as `get_contact`."""
    row = session.execute(_STANDING, {"tenant_id": tenant_id, "contact_id": contact_id, "kind": kind}).one_or_none()
    if row is None:
        get_contact(session, tenant_id=tenant_id, contact_id=contact_id)  # raises what get_contact raises
        raise AssertionError("unreachable")
    return row[0], bool(row[1])


def find_contact(
    session: Session, *, tenant_id: str, channel: Channel, external_ref: str, lock: bool = False
) -> Contact | None:
    stmt = _CONTACT_BY_REF_LOCKED if lock else _CONTACT_BY_REF
    params = {"tenant_id": tenant_id, "channel": channel, "external_ref": external_ref}
    return session.scalars(stmt, params).one_or_none()


def find_contact_view(session: Session, *, tenant_id: str, channel: Channel, external_ref: str) -> ContactView | None:
    """The contact for the key as `find_contact` finds it, straight into a view (same condition as
    `message_views`: rows the session holds changed are not seen)."""
    params = {"tenant_id": tenant_id, "channel": channel, "external_ref": external_ref}
    row = session.execute(_CONTACT_VIEW_BY_REF, params).one_or_none()
    return None if row is None else ContactView(*row)


def get_agent(session: Session, *, tenant_id: str, agent_id: str) -> Agent:
    agent = session.scalars(select(Agent).where(Agent.tenant_id == tenant_id, Agent.id == agent_id)).one_or_none()
    if agent is None:
        get_tenant(session, tenant_id=tenant_id)
        raise UnknownAgent(f"tenant {tenant_id!r} has no agent {agent_id!r}")
    return agent


def get_agent_state(session: Session, *, tenant_id: str, agent_id: str, lock: bool = False) -> AgentStateRow:
    get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    stmt = select(AgentStateRow).where(AgentStateRow.tenant_id == tenant_id, AgentStateRow.agent_id == agent_id)
    return session.scalars(_locked(stmt, lock)).one()


def get_offer(session: Session, *, tenant_id: str, offer_id: int, lock: bool = False) -> Offer:
    stmt = select(Offer).where(Offer.tenant_id == tenant_id, Offer.id == offer_id)
    offer = session.scalars(_locked(stmt, lock)).one_or_none()
    if offer is None:
        get_tenant(session, tenant_id=tenant_id)
        raise UnknownOffer(f"tenant {tenant_id!r} has no offer {offer_id!r}")
    return offer


def get_task(session: Session, *, tenant_id: str, task_id: int, lock: bool = False) -> Task:
    stmt = select(Task).where(Task.tenant_id == tenant_id, Task.id == task_id)
    task = session.scalars(_locked(stmt, lock)).one_or_none()
    if task is None:
        get_tenant(session, tenant_id=tenant_id)
        raise UnknownTask(f"tenant {tenant_id!r} has no task {task_id!r}")
    return task


def queues(session: Session, *, tenant_id: str) -> dict[str, QueueRow]:
    return {q.id: q for q in session.scalars(select(QueueRow).where(QueueRow.tenant_id == tenant_id))}


# --- writes ---------------------------------------------------------------------------------------


# Rows the engine writes on every turn go in as plain INSERTs on the transaction's connection: an
# ORM object and a unit-of-work flush for each message and event cost more than the rest of the
# turn's write transaction.
_INSERT_EVENT = Event.__table__.insert()
_INSERT_MESSAGE = Message.__table__.insert()


def _connection(session: Session) -> Connection:
    """The transaction's connection, after writing the rows the session still holds new (a tenant,
    a contact, an agent), so an inserted row may refer to them and keeps its place after them.
    Changes to loaded rows (a contact's state) wait for the next flush, as before."""
    if session.new:
        session.flush()
    return session.connection()


def add_event(
    session: Session,
    *,
    tenant_id: str,
    kind: EventKind,
    at: datetime,
    contact_id: str | None = None,
    agent_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    # Events feed statistics and exports: personal data never enters them, whoever writes one.
    # The one place they are redacted.
    _connection(session).execute(_INSERT_EVENT, {
        "tenant_id": tenant_id, "kind": kind, "at": at, "contact_id": contact_id, "agent_id": agent_id,
        "data": redact_data(dict(data or {})),
    })  # fmt: skip


def add_message(
    session: Session,
    *,
    tenant_id: str,
    contact_id: str,
    direction: Direction,
    author: Author,
    text: str,
    at: datetime,
    agent_id: str | None = None,
    client_message_id: str | None = None,
    text_redacted: str | None = None,
) -> MessageView:
    """Stores the message and returns it as stored. `text_redacted`: `redact(text)` when the caller
    has it already. A repeated (contact, client_message_id) raises IntegrityError at once."""
    redacted = redact(text) if text_redacted is None else text_redacted
    result = _connection(session).execute(_INSERT_MESSAGE, {
        "tenant_id": tenant_id, "contact_id": contact_id, "direction": direction, "author": author,
        "agent_id": agent_id, "text": text, "text_redacted": redacted, "client_message_id": client_message_id,
        "created_at": at,
    })  # fmt: skip
    (message_id,) = result.inserted_primary_key or (None,)
    return MessageView(int(message_id), contact_id, direction, author, agent_id, text, redacted, client_message_id, at)


def find_message(session: Session, *, tenant_id: str, contact_id: str, client_message_id: str) -> Message | None:
    stmt = select(Message).where(
        Message.tenant_id == tenant_id,
        Message.contact_id == contact_id,
        Message.client_message_id == client_message_id,
    )
    return session.scalars(stmt).one_or_none()


# --- reads ----------------------------------------------------------------------------------------


def messages(
    session: Session,
    *,
    tenant_id: str,
    contact_id: str,
    after_id: int = 0,
    direction: Direction | None = None,
) -> list[Message]:
    params = {"tenant_id": tenant_id, "contact_id": contact_id, "after_id": after_id}
    if direction is None:
        return list(session.scalars(_MESSAGES, params))
    return list(session.scalars(_MESSAGES.where(Message.direction == direction), params))


def events(session: Session, *, tenant_id: str, contact_id: str | None = None) -> list[Event]:
    if contact_id is not None:
        return list(session.scalars(_CONTACT_EVENTS, {"tenant_id": tenant_id, "contact_id": contact_id}))
    stmt = select(Event).where(Event.tenant_id == tenant_id)
    if contact_id is not None:
        stmt = stmt.where(Event.contact_id == contact_id)
    return list(session.scalars(stmt.order_by(Event.id)))


def waiting_contacts(session: Session, *, tenant_id: str, lock: bool = False, limit: int = 1000) -> list[Contact]:
    """QUEUED contacts, oldest first. With `lock`, rows another router holds are skipped."""
    stmt = (
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.state == ContactState.QUEUED)
        .order_by(Contact.enqueued_at, Contact.id)
        .limit(limit)
    )
    return list(session.scalars(_locked(stmt, lock, skip_locked=True)))


def idle_bot_contacts(
    session: Session, *, tenant_id: str, touched_before: Mapping[Channel, datetime], limit: int = 200
) -> list[Contact]:
    """Contacts still with the bot (state BOT) last touched at or before their channel's instant
    in `touched_before`, least recently touched first, locked. On PostgreSQL rows another
    transaction holds are skipped (FOR UPDATE SKIP LOCKED): a contact busy with a message is
    not idle, and two workers never take the same one."""
    if not touched_before:
        return []
    quiet = or_(*(and_(Contact.channel == channel, Contact.updated_at <= cutoff)
                  for channel, cutoff in touched_before.items()))  # fmt: skip
    stmt = (
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.state == ContactState.BOT, quiet)
        .order_by(Contact.updated_at, Contact.id)
        .limit(limit)
    )
    return list(session.scalars(_locked(stmt, True, skip_locked=True)))


def routable_agent_states(session: Session, *, tenant_id: str, lock: bool = False) -> list[AgentStateRow]:
    """Agent-state rows that might take work (not PAUSED/OFFLINE); skip-locked with `lock`."""
    stmt = (
        select(AgentStateRow)
        .where(
            AgentStateRow.tenant_id == tenant_id,
            AgentStateRow.state.in_((AgentState.AVAILABLE, AgentState.BUSY, AgentState.AFTER_CONTACT_WORK)),
        )
        .order_by(AgentStateRow.agent_id)
    )
    return list(session.scalars(_locked(stmt, lock, skip_locked=True)))


def agent_states(session: Session, *, tenant_id: str) -> list[AgentStateRow]:
    stmt = select(AgentStateRow).where(AgentStateRow.tenant_id == tenant_id).order_by(AgentStateRow.agent_id)
    return list(session.scalars(stmt))


def skills_of(session: Session, *, tenant_id: str, agent_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    ids = list(agent_ids)
    out: dict[str, dict[str, int]] = {a: {} for a in ids}
    if not ids:
        return out
    stmt = select(AgentSkill).where(AgentSkill.tenant_id == tenant_id, AgentSkill.agent_id.in_(ids))
    for skill in session.scalars(stmt):
        out[skill.agent_id][skill.queue_id] = skill.level
    return out


def active_counts(session: Session, *, tenant_id: str, agent_ids: Iterable[str]) -> dict[str, dict[Channel, int]]:
    """Contacts in progress (offered, assigned, active) per agent and channel."""
    ids = list(agent_ids)
    out: dict[str, dict[Channel, int]] = defaultdict(dict)
    for agent_id in ids:
        out[agent_id] = {c: 0 for c in Channel}
    if not ids:
        return dict(out)
    stmt = (
        select(Contact.assigned_agent_id, Contact.channel, func.count())
        .where(
            Contact.tenant_id == tenant_id,
            Contact.assigned_agent_id.in_(ids),
            Contact.state.in_(ACTIVE_STATES),
        )
        .group_by(Contact.assigned_agent_id, Contact.channel)
    )
    for agent_id, channel, count in session.execute(stmt):
        out[agent_id][Channel(channel)] = int(count)
    return dict(out)


def pending_offers(
    session: Session, *, tenant_id: str, due_before: datetime | None = None, lock: bool = False
) -> list[Offer]:
    stmt = select(Offer).where(Offer.tenant_id == tenant_id, Offer.status == OfferStatus.PENDING)
    if due_before is not None:
        stmt = stmt.where(Offer.expires_at <= due_before)
    return list(session.scalars(_locked(stmt.order_by(Offer.id), lock, skip_locked=True)))


def pending_offer_for(session: Session, *, tenant_id: str, contact_id: str) -> Offer | None:
    stmt = select(Offer).where(
        Offer.tenant_id == tenant_id, Offer.contact_id == contact_id, Offer.status == OfferStatus.PENDING
    )
    return session.scalars(stmt).one_or_none()


def citizen_history(
    session: Session,
    *,
    tenant_id: str,
    phone: str | None,
    email: str | None,
    exclude_contact_id: str,
    limit: int = 10,
) -> list[Contact]:
    """Other contacts of the same citizen (same phone or e-mail) in the tenant, newest first."""
    matches = []
    if phone:
        matches.append(Contact.citizen_phone == phone)
    if email:
        matches.append(func.lower(Contact.citizen_email) == email.lower())
    if not matches:
        return []
    stmt = (
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.id != exclude_contact_id, or_(*matches))
        .order_by(Contact.created_at.desc(), Contact.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def handoffs(session: Session, *, tenant_id: str, contact_id: str) -> list[Handoff]:
    stmt = (
        select(Handoff)
        .where(Handoff.tenant_id == tenant_id, Handoff.contact_id == contact_id)
        .order_by(Handoff.version)
    )
    return list(session.scalars(stmt))


def tasks(session: Session, *, tenant_id: str, status: TaskStatus | None = TaskStatus.OPEN) -> list[Task]:
    stmt = select(Task).where(Task.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(Task.status == status)
    return list(session.scalars(stmt.order_by(Task.due_at, Task.id)))


def booked_callbacks(session: Session, *, tenant_id: str, queue_id: str, since: datetime) -> dict[datetime, int]:
    """Open callbacks of a queue booked for a time at or after `since`: start -> how many."""
    stmt = (
        select(Task.preferred_at, func.count())
        .where(
            Task.tenant_id == tenant_id, Task.queue_id == queue_id, Task.kind == TaskKind.CALLBACK,
            Task.status == TaskStatus.OPEN, Task.preferred_at >= since,
        )
        .group_by(Task.preferred_at)
    )  # fmt: skip
    return {at: int(n) for at, n in session.execute(stmt) if at is not None}


def agents(session: Session, *, tenant_id: str, role: AgentRole | None = None) -> Sequence[Agent]:
    stmt = select(Agent).where(Agent.tenant_id == tenant_id)
    if role is not None:
        stmt = stmt.where(Agent.role == role)
    return list(session.scalars(stmt.order_by(Agent.id)))
