"""Which contacts changed: the queries behind cross-worker delivery (connectors/webchat/notify.py)
and the supervisors' emergency alerts. PostgreSQL's NOTIFY is dialect-specific, so it lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.storage.db import Database
from bot.storage.models import Channel, Contact, Event, EventKind, Message

__all__ = ["AlertRow", "Heads", "changed_since", "emergency_alerts", "heads", "pg_notify"]


def pg_notify(db: Database, channel: str, payload: str) -> None:
    """NOTIFY `channel` with `payload` in its own committed transaction (PostgreSQL only)."""
    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


@dataclass(frozen=True, slots=True)
class Heads:
    """The newest message id and the newest event id (0 when there are none)."""

    message: int
    event: int


def heads(s: Session) -> Heads:
    return Heads(s.scalar(select(func.max(Message.id))) or 0, s.scalar(select(func.max(Event.id))) or 0)


def changed_since(s: Session, seen: Heads) -> tuple[set[str], Heads]:
    """The contacts with messages or events newer than `seen`, and the new heads."""
    changed: set[str] = set()
    tops = []
    for table, last in ((Message, seen.message), (Event, seen.event)):
        # The new rows by their primary key, grouped here: grouped in SQL, SQLite walked the
        # whole contact_id index (every message or event ever stored) on every poll.
        rows = s.execute(select(table.contact_id, table.id).where(table.id > last).order_by(table.id)).all()
        tops.append(rows[-1][1] if rows else last)
        changed.update(r[0] for r in rows if r[0])
    return changed, Heads(tops[0], tops[1])


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    at: datetime
    contact_id: str | None
    channel: str | None
    text_redacted: str  # the citizen's message the alert is about, redacted ("" when gone)


def emergency_alerts(s: Session, *, tenant_id: str, limit: int) -> list[AlertRow]:
    """The tenant's `emergency_alert` events, newest first, with the channel and message."""
    stmt = (
        select(Event, Contact.channel)
        .outerjoin(Contact, Contact.id == Event.contact_id)
        .where(Event.tenant_id == tenant_id, Event.kind == EventKind.EMERGENCY_ALERT)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    out = []
    for event, channel in s.execute(stmt):
        message_id = event.data.get("about_message_id")
        message = s.get(Message, message_id) if isinstance(message_id, int) else None
        text_redacted = message.text_redacted if message is not None and message.tenant_id == tenant_id else ""
        shown = channel.value if isinstance(channel, Channel) else event.data.get("channel")
        out.append(AlertRow(event.id, event.at, event.contact_id, shown, text_redacted))
    return out
