"""What a pull or push channel has handed to its client: keyword-only functions over an open
`Session`, used by the Rasa channels (connectors/rasa).

Every outbound message (bot or agent) of such a contact gets one outbox row keyed
`<key_prefix><message id>` when it is handed over: SENT at once when it travels in an HTTP
answer (Rasa REST), PENDING when a worker must POST it (Rasa callback). A message without its
row is still owed to the citizen, so nothing is lost if a process stops between storing a reply
and handing it over: the next request or agent action finds it again.

A conversation that ends (closed, abandoned) is not reopened: the client's next message starts a
new contact whose `external_ref` is the same stem with the next generation, `<stem><n>`
(`ref_generations`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage import outbox as ob
from bot.storage import repository as repo
from bot.storage.models import (
    Author,
    Channel,
    Contact,
    Direction,
    Message,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)

__all__ = ["changed_since", "earlier_undelivered", "record_handover", "ref_generations", "undelivered"]


def ref_generations(session: Session, *, tenant_id: str, channel: Channel, stem: str) -> dict[int, Contact]:
    """The contacts whose external_ref is `stem` followed by a generation number, by number."""
    stmt = select(Contact).where(
        Contact.tenant_id == tenant_id, Contact.channel == channel,
        Contact.external_ref.startswith(stem, autoescape=True),
    )  # fmt: skip
    out: dict[int, Contact] = {}
    for c in session.scalars(stmt):
        tail = c.external_ref[len(stem) :]
        # LIKE may ignore case (SQLite) and matches longer stems too: keep exact matches only.
        if c.external_ref.startswith(stem) and tail.isdigit() and tail.isascii():
            out[int(tail)] = c
    return out


def changed_since(
    session: Session, *, channel: Channel, ref_prefix: str, since: datetime, until: datetime
) -> list[Contact]:
    """Contacts of every tenant whose external_ref starts with `ref_prefix` and that last changed
    (a message, a state step) between `since` and `until`: where a handover may still be owed."""
    stmt = select(Contact).where(
        Contact.channel == channel, Contact.updated_at >= since, Contact.updated_at <= until,
        Contact.external_ref.startswith(ref_prefix, autoescape=True),
    )  # fmt: skip
    return [c for c in session.scalars(stmt.order_by(Contact.updated_at)) if c.external_ref.startswith(ref_prefix)]


def undelivered(session: Session, *, tenant_id: str, contact_id: str, key_prefix: str) -> list[Message]:
    """Outbound messages of the contact that have no handover row yet, oldest first."""
    keys = set(
        session.scalars(
            select(OutboxItem.dedupe_key).where(OutboxItem.tenant_id == tenant_id, OutboxItem.contact_id == contact_id)
        )
    )
    rows = repo.messages(session, tenant_id=tenant_id, contact_id=contact_id, direction=Direction.OUT)
    return [m for m in rows if f"{key_prefix}{m.id}" not in keys]


def record_handover(
    session: Session,
    *,
    message: Message,
    payload: bytes,
    key_prefix: str,
    channel: Channel,
    now: datetime,
    sent: bool,
) -> bool:
    """One handover row for `message`; True if this call wrote it (False: handed over already,
    e.g. by a concurrent request). `sent`: delivered in the answer itself (no worker needed)."""
    kind = OutboxKind.AGENT_REPLY if message.author is Author.AGENT else OutboxKind.AUTO_REPLY
    row, created = ob.enqueue(
        session, tenant_id=message.tenant_id, channel=channel, kind=kind, payload=payload,
        dedupe_key=f"{key_prefix}{message.id}", now=now, contact_id=message.contact_id,
    )  # fmt: skip
    if created and sent:
        row.status = OutboxStatus.SENT
        row.sent_at = now
    return created


def earlier_undelivered(session: Session, *, item_id: int, contact_id: str) -> bool:
    """True while an older item of the same contact still waits or is being sent, so the
    messages of one conversation reach the client in the order they were written."""
    stmt = select(OutboxItem.id).where(
        OutboxItem.contact_id == contact_id, OutboxItem.id < item_id,
        OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
    )  # fmt: skip
    return session.scalars(stmt.limit(1)).first() is not None

