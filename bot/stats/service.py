"""From the database to facts: load a tenant's contacts of a period (`bot.storage.stats`) and
fold each into `ContactFacts` (`bot.stats.facts`).

Two things the event log does not say are taken from the contact row: the citizen's pseudonym
(a keyed hash of phone or e-mail, only to find repeat contacts; never shown) and, until the
engine writes `sla_due_at` on the handoff, the e-mail deadline the engine set on the contact.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

from bot.stats.facts import AgentTime, ContactFacts, ContactHeader, EventRow, agent_intervals, fold_contacts
from bot.storage import stats as store
from bot.storage.db import Database

__all__ = ["citizen_key", "load_facts", "load_period"]


def citizen_key(tenant_id: str, phone: str | None, email: str | None) -> str | None:
    """A pseudonym of the citizen within the tenant (phone first, else e-mail), or None."""
    ident = (phone or "").replace(" ", "") or (email or "").strip().lower()
    if not ident:
        return None
    return hashlib.blake2b(ident.encode(), key=tenant_id.encode()[:64], digest_size=12,
                           person=b"kontakt-kpi").hexdigest()  # fmt: skip


def load_facts(db: Database, *, tenant_id: str, start: datetime, end: datetime) -> tuple[ContactFacts, ...]:
    """The facts of every contact of the tenant opened in [start, end), oldest first."""
    with db.read() as s:
        contacts, events = store.contact_log(s, tenant_id=tenant_id, start=start, end=end)
    headers = [
        ContactHeader(tenant_id, c.id, c.channel, citizen_key(tenant_id, c.citizen_phone, c.citizen_email))
        for c in contacts
    ]
    facts = fold_contacts(headers, (EventRow.of(e) for e in events))
    deadlines = {c.id: c.sla_due_at for c in contacts if c.sla_due_at is not None}
    return tuple(
        replace(f, email_deadline=deadlines[f.contact_id])
        if f.email_deadline is None and f.contact_id in deadlines
        else f
        for f in facts
    )


def load_period(
    db: Database, *, tenant_id: str, start: datetime, end: datetime, repeat_days: float
) -> tuple[tuple[ContactFacts, ...], tuple[ContactFacts, ...]]:
    """The period's facts, and the history for first-contact resolution: the same contacts
    plus those opened up to `repeat_days` after the period (a repeat ends a resolution)."""
    history = load_facts(db, tenant_id=tenant_id, start=start, end=end + timedelta(days=repeat_days))
    return tuple(f for f in history if f.opened_at < end), history


def load_agent_time(db: Database, *, tenant_id: str, start: datetime, end: datetime) -> dict[str, AgentTime]:
    """Seconds each agent of the tenant spent in each state within [start, end)."""
    with db.read() as s:
        rows = store.agent_state_log(s, tenant_id=tenant_id, end=end)
    return agent_intervals((EventRow.of(e) for e in rows), start=start, end=end)
