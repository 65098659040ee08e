"""Retention: anonymise finished contacts after a fixed period (default 180 days).

A contact is due when it is CLOSED or ABANDONED and finished (`closed_at`, else `updated_at`)
at least `days` before `now` (`is_due`, a pure function). Anonymising a contact
(`anonymise_contact`, shared with `bot.gdpr`):

- contact: name, phone and e-mail cleared; `external_ref` (a chat session, CallSid or mail
  thread key) replaced by `anon:<contact id>`, which also marks the contact as done;
- messages: `text` replaced by the redacted text (`bot.privacy.redact`: CPR, e-mail and phone
  masked), or the rows deleted with `MessageMode.DELETE`;
- handoff packets: identity cleared, transcript/summary/note/entities redacted (or emptied);
- tasks: name cleared, phone emptied, note and expectation redacted (or emptied);
- events: kept for statistics; string values are redacted and identity keys dropped.

Topic, queue, outcome, channel and every timestamp stay, so statistics are unchanged.
`python -m bot retention [--days N] [--dry-run] [--tenant T]` runs it; `--dry-run` counts only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.errors import NaiveDatetime, RetentionError
from bot.privacy import redact
from bot.routing.handoff import mask_entity_text
from bot.storage import personal_data as pd
from bot.storage.db import Database
from bot.storage.models import Contact, ContactState

__all__ = [
    "ANON_PREFIX", "DEFAULT_DAYS", "FINISHED_STATES", "Counts", "MessageMode", "RetentionPolicy",
    "anonymise_contact", "due_before", "is_due", "run_retention", "scrub",
]  # fmt: skip

DEFAULT_DAYS = 180
ANON_PREFIX = "anon:"
FINISHED_STATES = (ContactState.CLOSED, ContactState.ABANDONED)
# Keys whose values identify a citizen; dropped from event data and packets when anonymising.
IDENTITY_KEYS = frozenset(
    {"name", "phone", "email", "citizen_name", "citizen_phone", "citizen_email", "from_addr", "from_name",
     "reply_to", "to", "cc", "address", "cpr", "text", "note", "summary", "subject", "body"}
)  # fmt: skip
BATCH = 200


class MessageMode(enum.StrEnum):
    REDACT = "redact"  # keep the turn, text replaced by its redacted form
    DELETE = "delete"  # delete the message rows


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    days: int = DEFAULT_DAYS
    messages: MessageMode = MessageMode.REDACT

    def __post_init__(self) -> None:
        if self.days < 1:
            raise RetentionError(f"retention period must be at least 1 day, got {self.days}")


@dataclass(slots=True)
class Counts:
    """What was (or, in a dry run, would be) changed."""

    contacts: int = 0
    messages_redacted: int = 0
    messages_deleted: int = 0
    handoffs: int = 0
    tasks: int = 0
    events: int = 0
    mails: int = 0  # stored raw inbound mails and sent outbox items emptied
    skipped_open: int = field(default=0)  # gdpr: matching contacts left alone because still open

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- pure decisions ------------------------------------------------------------------------------


def due_before(now: datetime, days: int) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise NaiveDatetime(f"now={now.isoformat()} has no time zone")
    return now - timedelta(days=days)


def is_due(state: ContactState, closed_at: datetime | None, updated_at: datetime, now: datetime, days: int) -> bool:
    """True when a contact is finished and finished at least `days` days before `now`."""
    if state not in FINISHED_STATES:
        return False
    return (closed_at or updated_at) <= due_before(now, days)


def scrub(value: Any, clean: Callable[[str], str] = redact) -> Any:
    """`value` with identity keys dropped and every string cleaned, recursively (JSON data)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {k: scrub(v, clean) for k, v in value.items() if k not in IDENTITY_KEYS}
    if isinstance(value, list | tuple):
        return [scrub(v, clean) for v in value]
    return value


def scrub_packet(packet: Mapping[str, Any], mode: MessageMode) -> dict[str, Any]:
    """A stored handoff packet with the citizen's identity and words removed; its shape stays valid
    for `HandoffPacket.model_validate` (identity fields None, texts redacted or empty)."""
    out = dict(packet)
    if isinstance(out.get("identity"), Mapping):
        out["identity"] = {**out["identity"], "name": None, "phone": None, "email": None}
    drop = mode is MessageMode.DELETE
    out["summary"] = "" if drop else redact(str(out.get("summary") or ""))
    if out.get("note") is not None:
        out["note"] = "" if drop else redact(str(out["note"]))
    out["transcript"] = [] if drop else [
        {**t, "text": redact(str(t.get("text", "")))} for t in out.get("transcript") or () if isinstance(t, Mapping)
    ]
    out["entities"] = [] if drop else [
        {**e, "value": mask_entity_text(str(e.get("entity", "")), str(e.get("value", ""))),
         "text": mask_entity_text(str(e.get("entity", "")), str(e.get("text", "")))}
        for e in out.get("entities") or () if isinstance(e, Mapping)
    ]  # fmt: skip
    return out


# --- I/O -----------------------------------------------------------------------------------------


def anonymise_contact(s: Session, c: Contact, mode: MessageMode, *, apply: bool = True) -> Counts:
    """Anonymise one contact in the open session (see the module docstring). With `apply=False`
    nothing is changed and the counts say what would be."""
    n = Counts()
    personal = (c.citizen_name, c.citizen_phone, c.citizen_email)
    if any(personal) or not c.external_ref.startswith(ANON_PREFIX):
        n.contacts = 1
        if apply:
            c.citizen_name = c.citizen_phone = c.citizen_email = None
            c.external_ref = f"{ANON_PREFIX}{c.id}"
    rows = pd.contact_records(s, c)
    for m in rows.messages:
        if mode is MessageMode.DELETE:
            n.messages_deleted += 1
        else:
            clean = redact(m.text)
            if m.text != clean or m.text_redacted != clean:
                n.messages_redacted += 1
                if apply:
                    m.text = m.text_redacted = clean
    if apply and mode is MessageMode.DELETE and rows.messages:
        pd.delete_messages(s, c)
    for h in rows.handoffs:
        packet = scrub_packet(h.packet, mode)
        if packet != h.packet:
            n.handoffs += 1
            if apply:
                h.packet = packet
    for t in rows.tasks:
        drop = mode is MessageMode.DELETE
        note, expectation = ("", "") if drop else (redact(t.note), redact(t.expectation))
        if (t.name, t.phone, t.note, t.expectation) != (None, "", note, expectation):
            n.tasks += 1
            if apply:
                t.name, t.phone, t.note, t.expectation = None, "", note, expectation
    # Raw e-mail (inbound, kept so nothing is lost) and delivered outgoing mail hold the citizen's
    # words and address too; pending outbox items are left alone so nothing owed is dropped.
    for mail in rows.inbound_mails:
        if mail.raw or mail.from_addr or (mail.subject and mail.subject != redact(mail.subject)):
            n.mails += 1
            if apply:
                mail.raw, mail.from_addr = b"", None
                mail.subject = redact(mail.subject or "") if mode is not MessageMode.DELETE else None
    for item in rows.finished_outbox:
        if item.payload:
            n.mails += 1
            if apply:
                item.payload = b""
    for e in rows.events:
        data = scrub(e.data)
        if data != e.data:
            n.events += 1
            if apply:
                e.data = data
    return n


def run_retention(
    db: Database,
    *,
    now: datetime,
    policy: RetentionPolicy = RetentionPolicy(),
    tenant_id: str | None = None,
    dry_run: bool = False,
    progress: Callable[[Counts], None] | None = None,
) -> Counts:
    """Anonymise every due contact (in batches of `BATCH`, one transaction each). Idempotent: a
    second run changes nothing. With `dry_run`, nothing is written."""
    cutoff = due_before(now, policy.days)
    total = Counts()
    after = ""
    while True:
        with db.write() if not dry_run else db.read() as s:
            batch = pd.pending_anonymisation(
                s, tenant_id=tenant_id, cutoff=cutoff, finished=FINISHED_STATES, anon_prefix=ANON_PREFIX,
                with_messages=policy.messages is MessageMode.DELETE, after=after, limit=BATCH,
                lock=db.is_postgresql and not dry_run,
            )  # fmt: skip
            for c in batch:
                if is_due(c.state, c.closed_at, c.updated_at, now, policy.days):
                    total.add(anonymise_contact(s, c, policy.messages, apply=not dry_run))
        if progress is not None:
            progress(total)
        if len(batch) < BATCH:
            return total
        after = batch[-1].id


