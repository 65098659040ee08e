"""Queries for the citizen's personal data: finding a citizen's contacts (GDPR requests,
`bot.gdpr`), reading everything stored about a contact, and the contacts due for anonymisation
(`bot.retention`). The decisions (what matches, what to scrub, what is due) stay with the
callers; every query filters on the tenant."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import (
    Contact,
    ContactState,
    Event,
    Handoff,
    InboundMail,
    Message,
    OutboxItem,
    OutboxStatus,
    Task,
)  # fmt: skip

__all__ = [
    "ContactRecords", "contact_ids_with_email", "contact_phones_like", "contact_records", "contacts_by_id",
    "delete_messages", "message_contact_ids_containing", "message_texts_containing", "message_texts_like",
    "pending_anonymisation", "task_phones_like",
]  # fmt: skip


# --- finding a citizen ---------------------------------------------------------------------------


def contact_ids_with_email(s: Session, *, tenant_id: str, email: str) -> list[str]:
    """Contacts whose citizen e-mail is `email` (lower case), case-insensitively."""
    stmt = select(Contact.id).where(Contact.tenant_id == tenant_id, func.lower(Contact.citizen_email) == email)
    return list(s.scalars(stmt))


def message_contact_ids_containing(s: Session, *, tenant_id: str, text: str) -> list[str]:
    """Contacts with a message containing `text` (lower case), case-insensitively."""
    stmt = select(Message.contact_id).where(
        Message.tenant_id == tenant_id, func.lower(Message.text).contains(text, autoescape=True)
    )
    return list(s.scalars(stmt.distinct()))


def contact_phones_like(s: Session, *, tenant_id: str, pattern: str) -> list[tuple[str, str | None]]:
    """(contact id, citizen phone) for phones matching the LIKE `pattern`."""
    stmt = select(Contact.id, Contact.citizen_phone).where(Contact.tenant_id == tenant_id,
                                                           Contact.citizen_phone.like(pattern))  # fmt: skip
    return [(cid, phone) for cid, phone in s.execute(stmt)]


def task_phones_like(s: Session, *, tenant_id: str, pattern: str) -> list[tuple[str, str | None]]:
    """(contact id, task phone) for callback and message tasks whose phone matches `pattern`."""
    stmt = select(Task.contact_id, Task.phone).where(Task.tenant_id == tenant_id, Task.phone.like(pattern))
    return [(cid, phone) for cid, phone in s.execute(stmt)]


def message_texts_like(s: Session, *, tenant_id: str, pattern: str) -> list[tuple[str, str]]:
    """(contact id, text) of messages matching the LIKE `pattern`."""
    stmt = select(Message.contact_id, Message.text).where(Message.tenant_id == tenant_id, Message.text.like(pattern))
    return [(cid, text) for cid, text in s.execute(stmt)]


def message_texts_containing(s: Session, *, tenant_id: str, fragment: str) -> list[tuple[str, str]]:
    """(contact id, text) of messages containing `fragment` as it is written."""
    stmt = select(Message.contact_id, Message.text).where(Message.tenant_id == tenant_id,
                                                          Message.text.contains(fragment))  # fmt: skip
    return [(cid, text) for cid, text in s.execute(stmt)]


def contacts_by_id(s: Session, *, tenant_id: str, ids: Iterable[str], lock: bool = False) -> list[Contact]:
    """The tenant's contacts with these ids, ordered by id; `lock` locks them (PostgreSQL)."""
    stmt = select(Contact).where(Contact.tenant_id == tenant_id, Contact.id.in_(list(ids))).order_by(Contact.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(s.scalars(stmt))


# --- everything about one contact ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactRecords:
    """The rows of one contact that hold personal data, each list in the order it was written."""

    messages: list[Message]
    handoffs: list[Handoff]
    tasks: list[Task]
    inbound_mails: list[InboundMail]
    finished_outbox: list[OutboxItem]  # sent or failed; pending items are still owed to the citizen
    events: list[Event]


def contact_records(s: Session, c: Contact) -> ContactRecords:
    t, cid = c.tenant_id, c.id
    return ContactRecords(
        messages=list(s.scalars(select(Message).where(Message.tenant_id == t, Message.contact_id == cid)
                                .order_by(Message.id))),
        handoffs=list(s.scalars(select(Handoff).where(Handoff.tenant_id == t, Handoff.contact_id == cid)
                                .order_by(Handoff.version))),
        tasks=list(s.scalars(select(Task).where(Task.tenant_id == t, Task.contact_id == cid).order_by(Task.id))),
        inbound_mails=list(s.scalars(select(InboundMail).where(InboundMail.tenant_id == t,
                                                               InboundMail.contact_id == cid))),
        finished_outbox=list(s.scalars(select(OutboxItem).where(
            OutboxItem.tenant_id == t, OutboxItem.contact_id == cid,
            OutboxItem.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED))))),
        events=list(s.scalars(select(Event).where(Event.tenant_id == t, Event.contact_id == cid).order_by(Event.id))),
    )  # fmt: skip


def delete_messages(s: Session, c: Contact) -> None:
    s.execute(delete(Message).where(Message.tenant_id == c.tenant_id, Message.contact_id == c.id))


# --- retention -----------------------------------------------------------------------------------


def pending_anonymisation(
    s: Session,
    *,
    tenant_id: str | None,
    cutoff: datetime,
    finished: Collection[ContactState],
    anon_prefix: str,
    with_messages: bool,
    after: str,
    limit: int,
    lock: bool,
) -> list[Contact]:
    """Up to `limit` contacts after the id `after` that finished before `cutoff` and are not yet
    anonymised (or, `with_messages`, still have messages), so a nightly run does not reread the
    whole history. `lock` skips rows another worker holds (PostgreSQL)."""
    done_before = or_(
        Contact.closed_at <= cutoff,
        (Contact.closed_at.is_(None)) & (Contact.updated_at <= cutoff),
    )
    todo = [
        ~Contact.external_ref.startswith(anon_prefix, autoescape=True),
        Contact.citizen_name.is_not(None), Contact.citizen_phone.is_not(None), Contact.citizen_email.is_not(None),
    ]  # fmt: skip
    if with_messages:
        todo.append(exists().where(Message.contact_id == Contact.id))
    stmt = select(Contact).where(Contact.state.in_(list(finished)), done_before, or_(*todo)).order_by(Contact.id)
    if tenant_id is not None:
        stmt = stmt.where(Contact.tenant_id == tenant_id)
    stmt = stmt.where(Contact.id > after).limit(limit)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(s.scalars(stmt))
