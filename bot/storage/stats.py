"""Read-only queries for management information (`bot.stats`): a tenant's contacts opened in a
period with their event log, citizen messages for the weak-question report, and a cheap stamp
that says whether anything new was written.

Every query filters on `tenant_id` in the SQL, so another tenant's rows are as invisible as
missing ones. Rows come back as frozen dataclasses with aware UTC times; the folding into
facts happens in `bot.stats.service`, never here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.routing.skills import Channel
from bot.storage.models import Contact, Direction, Event, EventKind, Message, Outcome

__all__ = ["CitizenMessage", "ContactRecord", "LogEvent", "citizen_messages", "contact_log", "log_stamp"]

# Contacts are read in chunks this size when their events are looked up by id (SQLite's
# parameter limit and PostgreSQL's plan sizes both like bounded IN lists).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """What the contacts table adds to the event log: identity (to find repeats) and the
    e-mail deadline the engine set on the contact."""

    id: str
    channel: Channel
    created_at: datetime
    citizen_phone: str | None
    citizen_email: str | None
    sla_due_at: datetime | None
    queue_id: str | None
    topic: str | None
    outcome: Outcome | None


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One event row (the shape `bot.stats.facts.EventRow.of` reads)."""

    id: int
    kind: str
    at: datetime
    data: Mapping[str, Any]
    agent_id: str | None
    contact_id: str | None


@dataclass(frozen=True, slots=True)
class CitizenMessage:
    id: int
    contact_id: str
    at: datetime
    text_redacted: str


def contact_log(
    session: Session, *, tenant_id: str, start: datetime, end: datetime
) -> tuple[list[ContactRecord], list[LogEvent]]:
    """Contacts of the tenant opened in [start, end), oldest first, and every event of theirs
    (also events after `end`: a contact opened at 17:59 may close at 18:05), in log order."""
    rows = session.scalars(
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.created_at >= start, Contact.created_at < end)
        .order_by(Contact.created_at, Contact.id)
    ).all()
    contacts = [
        ContactRecord(
            id=c.id, channel=Channel(c.channel), created_at=c.created_at, citizen_phone=c.citizen_phone,
            citizen_email=c.citizen_email, sla_due_at=c.sla_due_at, queue_id=c.queue_id, topic=c.topic,
            outcome=c.outcome,
        )
        for c in rows
    ]  # fmt: skip
    ids = [c.id for c in contacts]
    events: list[LogEvent] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for e in session.scalars(
            select(Event).where(Event.tenant_id == tenant_id, Event.contact_id.in_(chunk)).order_by(Event.id)
        ):
            events.append(_log_event(e))
    events.sort(key=lambda e: e.id)
    return contacts, events


def agent_state_log(session: Session, *, tenant_id: str, end: datetime) -> list[LogEvent]:
    """Every change of an agent's state in the tenant before `end`, in log order (the state at
    the start of a window is the last change before it)."""
    stmt = select(Event).where(
        Event.tenant_id == tenant_id, Event.kind == EventKind.AGENT_STATE_CHANGED, Event.at < end
    )
    return [_log_event(e) for e in session.scalars(stmt.order_by(Event.id))]


def _log_event(e: Event) -> LogEvent:
    return LogEvent(id=e.id, kind=str(e.kind.value if hasattr(e.kind, "value") else e.kind), at=e.at,
                    data=MappingProxyType(dict(e.data or {})), agent_id=e.agent_id, contact_id=e.contact_id)  # fmt: skip


def citizen_messages(session: Session, *, tenant_id: str, contact_ids: Collection[str]) -> list[CitizenMessage]:
    """The citizens' messages (redacted text only) of the given contacts, in order."""
    ids = list(contact_ids)
    out: list[CitizenMessage] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for m in session.scalars(
            select(Message)
            .where(Message.tenant_id == tenant_id, Message.contact_id.in_(chunk), Message.direction == Direction.IN)
            .order_by(Message.id)
        ):
            out.append(CitizenMessage(id=m.id, contact_id=m.contact_id, at=m.created_at, text_redacted=m.text_redacted))
    out.sort(key=lambda m: m.id)
    return out


def log_stamp(session: Session, *, tenant_id: str) -> int:
    """The newest event id of the tenant (0 without events): unchanged means nothing happened."""
    return int(session.scalar(select(func.max(Event.id)).where(Event.tenant_id == tenant_id)) or 0)
