"""GDPR requests for one citizen within one tenant: export (right of access, art. 15) and
deletion (right to erasure, art. 17).

A citizen is found by any of: e-mail address (contact field or message text, case-insensitive),
phone number (contact field, task phone or message text; "+45 20 12 34 56" and "20123456" are the
same number) or CPR number in message text ("010190-1234", "0101901234", "010190 1234").

`export_citizen` returns a JSON-ready document with every matching contact: identity fields,
messages as written, tasks, stored handoff packets and events. `delete_citizen` anonymises the
matching contacts as retention does with `MessageMode.DELETE` (messages deleted, identity
cleared, packets/tasks/events scrubbed); contacts still open are left alone and counted as
`skipped_open` unless `include_open` is set (an agent may be working on them).

    python -m bot gdpr export --tenant kobenhavn --email borger@example.dk > export.json
    python -m bot gdpr delete --tenant kobenhavn --phone "+45 20 12 34 56" [--dry-run]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.errors import CitizenQueryError
from bot.retention import FINISHED_STATES, Counts, MessageMode, anonymise_contact
from bot.storage import personal_data as pd
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import Contact

__all__ = ["CitizenQuery", "delete_citizen", "export_citizen", "find_contacts"]

EXPORT_FORMAT = "kontakt.gdpr-export.v1"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _phone8(value: str | None) -> str | None:
    """The 8-digit Danish subscriber number in `value`, or None."""
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 12 and digits.startswith("0045"):
        digits = digits[4:]
    elif len(digits) == 10 and digits.startswith("45"):
        digits = digits[2:]
    return digits if len(digits) == 8 else None


@dataclass(frozen=True, slots=True)
class CitizenQuery:
    """Who the request is about. At least one field; values are normalised on construction."""

    email: str | None = None
    phone: str | None = None
    cpr: str | None = None

    def __post_init__(self) -> None:
        email = (self.email or "").strip().lower() or None
        if email is not None and not _EMAIL.match(email):
            raise CitizenQueryError(f"{email!r} is not an e-mail address (name@domain.dk)")
        phone = None
        if self.phone is not None and self.phone.strip():
            phone = _phone8(self.phone)
            if phone is None:
                raise CitizenQueryError("the phone number must have 8 digits, optionally with +45 or 0045")
        cpr = None
        if self.cpr is not None and self.cpr.strip():
            cpr = re.sub(r"[\s-]", "", self.cpr)
            if not re.fullmatch(r"\d{10}", cpr):
                raise CitizenQueryError("a CPR number has 10 digits (DDMMÅÅ-XXXX)")
        if not (email or phone or cpr):
            raise CitizenQueryError("name the citizen: give --email, --phone or --cpr")
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "phone", phone)
        object.__setattr__(self, "cpr", cpr)

    def phone_in_text(self) -> re.Pattern[str] | None:
        if not self.phone:
            return None
        p = self.phone
        return re.compile(rf"(?<!\d)(?:(?:\+|00)?45[\s-]?)?{p[0:2]}[\s-]?{p[2:4]}[\s-]?{p[4:6]}[\s-]?{p[6:8]}(?!\d)")

    def cpr_in_text(self) -> re.Pattern[str] | None:
        return re.compile(rf"(?<!\d){self.cpr[:6]}[\s-]?{self.cpr[6:]}(?!\d)") if self.cpr else None


def find_contacts(s: Session, *, tenant_id: str, query: CitizenQuery) -> dict[str, set[str]]:
    """Contact ids of the citizen in the tenant, each with what matched ("email", "phone", "cpr")."""
    repo.get_tenant(s, tenant_id=tenant_id)
    found: dict[str, set[str]] = {}

    def hit(contact_id: str, why: str) -> None:
        found.setdefault(contact_id, set()).add(why)

    if query.email:
        for cid in pd.contact_ids_with_email(s, tenant_id=tenant_id, email=query.email):
            hit(cid, "email")
        for cid in pd.message_contact_ids_containing(s, tenant_id=tenant_id, text=query.email):
            hit(cid, "email")
    if query.phone:
        loose = "%" + "%".join(query.phone) + "%"  # the 8 digits in order, anything between
        phones = pd.contact_phones_like(s, tenant_id=tenant_id, pattern=loose)
        phones += pd.task_phones_like(s, tenant_id=tenant_id, pattern=loose)
        for cid, phone in phones:
            if _phone8(phone) == query.phone:
                hit(cid, "phone")
        pattern = query.phone_in_text()
        for cid, text in pd.message_texts_like(s, tenant_id=tenant_id, pattern=loose):
            if pattern.search(text):
                hit(cid, "phone")
    if query.cpr:
        pattern = query.cpr_in_text()
        for cid, text in pd.message_texts_containing(s, tenant_id=tenant_id, fragment=query.cpr[:6]):
            if pattern.search(text):
                hit(cid, "cpr")
    return found


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _contact_json(s: Session, c: Contact, matched: set[str]) -> dict[str, Any]:
    rows = pd.contact_records(s, c)
    messages, tasks, handoffs, events = rows.messages, rows.tasks, rows.handoffs, rows.events
    return {
        "id": c.id, "channel": c.channel.value, "state": c.state.value, "matched_by": sorted(matched),
        "topic": c.topic, "queue": c.queue_id, "outcome": c.outcome.value if c.outcome else None,
        "created_at": _iso(c.created_at), "closed_at": _iso(c.closed_at),
        "citizen": {"name": c.citizen_name, "phone": c.citizen_phone, "email": c.citizen_email,
                    "authenticated": c.authenticated},
        "messages": [{"id": m.id, "direction": m.direction.value, "author": m.author.value, "text": m.text,
                      "created_at": _iso(m.created_at)} for m in messages],
        "tasks": [{"kind": t.kind.value, "name": t.name, "phone": t.phone, "note": t.note,
                   "expectation": t.expectation, "status": t.status.value, "created_at": _iso(t.created_at),
                   "due_at": _iso(t.due_at), "done_at": _iso(t.done_at)} for t in tasks],
        "handoffs": [{"version": h.version, "created_at": _iso(h.created_at), "packet": h.packet} for h in handoffs],
        "events": [{"kind": e.kind.value, "at": _iso(e.at), "data": e.data} for e in events],
    }  # fmt: skip


def export_citizen(db: Database, *, tenant_id: str, query: CitizenQuery, now: datetime) -> dict[str, Any]:
    """Everything stored about the citizen in the tenant, as one JSON-ready document."""
    with db.read() as s:
        found = find_contacts(s, tenant_id=tenant_id, query=query)
        rows = pd.contacts_by_id(s, tenant_id=tenant_id, ids=found)
        contacts = sorted(rows, key=lambda c: (c.created_at, c.id))
        return {
            "format": EXPORT_FORMAT,
            "tenant": tenant_id,
            "generated_at": _iso(now),
            "query": {"email": query.email, "phone": query.phone, "cpr": query.cpr},
            "contacts": [_contact_json(s, c, found[c.id]) for c in contacts],
        }


def delete_citizen(
    db: Database,
    *,
    tenant_id: str,
    query: CitizenQuery,
    include_open: bool = False,
    dry_run: bool = False,
) -> Counts:
    """Anonymise every finished contact of the citizen (messages deleted). Open contacts are
    counted in `skipped_open` and left alone unless `include_open`."""
    total = Counts()
    with db.read() if dry_run else db.write() as s:
        found = find_contacts(s, tenant_id=tenant_id, query=query)
        for c in pd.contacts_by_id(s, tenant_id=tenant_id, ids=found, lock=db.is_postgresql and not dry_run):
            if c.state not in FINISHED_STATES and not include_open:
                total.skipped_open += 1
                continue
            total.add(anonymise_contact(s, c, MessageMode.DELETE, apply=not dry_run))
    return total
