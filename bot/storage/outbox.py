"""The durable outbox and the inbound-mail store: keyword-only functions over an open `Session`.

Outbox (transactional outbox): a message is stored (`enqueue`, idempotent by `dedupe_key`)
before anyone tries to send it. A worker `claim_due`s items (PostgreSQL: SELECT ... FOR UPDATE
SKIP LOCKED, so concurrent workers never claim the same row; SQLite: BEGIN IMMEDIATE serialises
them), sends outside the transaction, then calls `mark_sent` or `mark_failed`. A claim is a lease:
an item left in SENDING by a crashed worker becomes claimable again at `next_attempt_at`.
Failures back off exponentially with jitter (`backoff`); after `RetryPolicy.max_attempts` (or at
once for a permanent refusal) the item is FAILED and an `outbox_failed` event is written.

Inbound mail: `store_inbound` commits the raw bytes keyed by (tenant, Message-ID) before the
mail is handled; a second delivery of the same Message-ID is recognised (`find_inbound`).

Poison handling: no single item may keep a worker or the whole process in a crash loop. Every
attempt is counted and committed *before* the work starts (`begin_inbound_attempt`, and for the
outbox the claim itself), so an attempt that kills the process still counts. An inbound mail out
of attempts, or an outbox item whose lease ran out `RetryPolicy.poison_after` times without an
outcome, is QUARANTINED with an event (`mail_quarantined`, `outbox_quarantined`) and listed for
supervisors (`quarantined`); it is never picked up again on its own.

The claim and the SLA scan work across tenants (one worker per installation); everything else
takes `tenant_id` like `bot.storage.repository`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, defer

from bot.privacy import redact
from bot.storage import repository as repo
from bot.storage.models import (
    Channel,
    Contact,
    ContactState,
    Event,
    EventKind,
    InboundMail,
    InboundMailStatus,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)

__all__ = [
    "DEFAULT_POISON_ATTEMPTS", "DEFAULT_RETRY", "Attempt", "Outbox", "OutboxView", "QuarantinedView", "RetryPolicy",
    "backoff", "begin_inbound_attempt", "claim_due", "contacts_awaiting_reply", "enqueue", "fail_inbound",
    "find_inbound", "get_item", "has_event", "inbound_for_contact", "items", "mark_failed", "mark_sent",
    "pending_inbound", "quarantine_inbound", "quarantined", "set_sla_due", "store_inbound",
    "thread_of_message_id", "thread_by_subject",
]  # fmt: skip

DEFAULT_POISON_ATTEMPTS = 3  # attempts without an outcome before an item is quarantined


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: base * 2**(attempt-1), capped, times a random factor in
    [1 - jitter, 1 + jitter]. `lease` is how long a claimed item stays with its worker.
    `poison_after`: after this many claims whose lease ran out without an outcome (the worker
    died while sending it) the item is quarantined instead of claimed again."""

    max_attempts: int = 10
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=2)
    jitter: float = 0.2
    lease: timedelta = timedelta(minutes=5)
    poison_after: int = DEFAULT_POISON_ATTEMPTS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}")
        if self.poison_after < 1:
            raise ValueError(f"RetryPolicy.poison_after must be at least 1, got {self.poison_after}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter}")


DEFAULT_RETRY = RetryPolicy()


def backoff(attempts: int, policy: RetryPolicy = DEFAULT_RETRY, rand: Callable[[], float] = random.random) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1 = the first).

    >>> backoff(1, RetryPolicy(jitter=0), lambda: 0.5), backoff(3, RetryPolicy(jitter=0), lambda: 0.5)
    (datetime.timedelta(seconds=30), datetime.timedelta(seconds=120))
    """
    raw = policy.base * (2 ** max(attempts - 1, 0)) if attempts < 40 else policy.cap
    delay = min(raw, policy.cap)
    factor = 1 + policy.jitter * (2 * rand() - 1)
    return delay * factor


@dataclass(frozen=True, slots=True)
class OutboxView:
    id: int
    tenant_id: str
    channel: Channel
    kind: OutboxKind
    payload: bytes
    dedupe_key: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    contact_id: str | None
    message_id: str | None

    @classmethod
    def of(cls, row: OutboxItem) -> OutboxView:
        return cls(
            id=row.id, tenant_id=row.tenant_id, channel=row.channel, kind=row.kind, payload=bytes(row.payload),
            dedupe_key=row.dedupe_key, status=row.status, attempts=row.attempts,
            next_attempt_at=row.next_attempt_at, last_error=row.last_error, created_at=row.created_at,
            sent_at=row.sent_at, contact_id=row.contact_id, message_id=row.message_id,
        )  # fmt: skip


# --- outbox --------------------------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    tenant_id: str,
    channel: Channel,
    kind: OutboxKind,
    payload: bytes,
    dedupe_key: str,
    now: datetime,
    contact_id: str | None = None,
    message_id: str | None = None,
) -> tuple[OutboxItem, bool]:
    """Store a message to send; (row, True) if new, (the existing row, False) if `dedupe_key`
    was enqueued before (whatever its payload). Safe against a concurrent enqueue of the same key."""
    existing = session.scalars(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key)).one_or_none()
    if existing is not None:
        return existing, False
    row = OutboxItem(
        tenant_id=tenant_id, channel=Channel(channel), kind=OutboxKind(kind), payload=payload,
        dedupe_key=dedupe_key, status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        contact_id=contact_id, message_id=message_id,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except sa_exc.IntegrityError:  # another transaction enqueued the same key meanwhile
        existing = session.scalars(select(OutboxItem).where(OutboxItem.dedupe_key == dedupe_key)).one()
        return existing, False
    return row, True


def get_item(session: Session, *, item_id: int, lock: bool = False) -> OutboxItem:
    stmt = select(OutboxItem).where(OutboxItem.id == item_id)
    row = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if row is None:
        raise LookupError(f"no outbox item {item_id}")
    return row


def items(
    session: Session,
    *,
    tenant_id: str,
    status: OutboxStatus | None = None,
    contact_id: str | None = None,
    kind: OutboxKind | None = None,
) -> list[OutboxItem]:
    stmt = select(OutboxItem).where(OutboxItem.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(OutboxItem.status == status)
    if contact_id is not None:
        stmt = stmt.where(OutboxItem.contact_id == contact_id)
    if kind is not None:
        stmt = stmt.where(OutboxItem.kind == kind)
    return list(session.scalars(stmt.order_by(OutboxItem.id)))


def claim_due(
    session: Session,
    *,
    now: datetime,
    channels: Collection[Channel] | None = None,
    limit: int = 50,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> list[OutboxItem]:
    """Due items (PENDING, or SENDING whose lease ran out), oldest due first, moved to SENDING
    with a new lease and one more attempt counted. Rows locked by another worker are skipped.
    A SENDING item is one whose worker died mid-send; after `policy.poison_after` of those it is
    quarantined (with an `outbox_quarantined` event) and not returned."""
    due = or_(
        and_(OutboxItem.status == OutboxStatus.PENDING, OutboxItem.next_attempt_at <= now),
        and_(OutboxItem.status == OutboxStatus.SENDING, OutboxItem.next_attempt_at <= now),
    )
    stmt = select(OutboxItem).where(due)
    if channels is not None:
        stmt = stmt.where(OutboxItem.channel.in_([Channel(c) for c in channels]))
    stmt = stmt.order_by(OutboxItem.next_attempt_at, OutboxItem.id).limit(limit)
    claimed = []
    for row in session.scalars(stmt.with_for_update(skip_locked=True)):
        if row.status is OutboxStatus.SENDING:
            row.unfinished_attempts = (row.unfinished_attempts or 0) + 1
        if (row.unfinished_attempts or 0) >= policy.poison_after:
            _quarantine_item(session, row, now)
            continue
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        row.next_attempt_at = now + policy.lease
        claimed.append(row)
    session.flush()
    return claimed


def _quarantine_item(session: Session, row: OutboxItem, now: datetime) -> None:
    row.status = OutboxStatus.QUARANTINED
    row.quarantined_at = now
    row.last_error = row.last_error or (
        f"quarantined: {row.unfinished_attempts} attempt(s) ended without an outcome (the worker stopped while"
        " sending it); check the message before sending it again"
    )
    repo.add_event(
        session, tenant_id=row.tenant_id, kind=EventKind.OUTBOX_QUARANTINED, at=now, contact_id=row.contact_id,
        data={"outbox_id": row.id, "kind": row.kind.value, "attempts": row.attempts,
              "unfinished_attempts": row.unfinished_attempts},
    )  # fmt: skip


def mark_sent(session: Session, *, item_id: int, now: datetime) -> OutboxItem:
    row = get_item(session, item_id=item_id, lock=True)
    row.status = OutboxStatus.SENT
    row.sent_at = now
    row.last_error = None
    return row


def mark_failed(
    session: Session,
    *,
    item_id: int,
    error: str,
    now: datetime,
    permanent: bool = False,
    policy: RetryPolicy = DEFAULT_RETRY,
    rand: Callable[[], float] = random.random,
) -> OutboxItem:
    """A failed attempt: back to PENDING with backoff, or FAILED (permanent refusal or out of
    attempts) with an `outbox_failed` event for the contact."""
    row = get_item(session, item_id=item_id, lock=True)
    row.last_error = error[:2000]
    if permanent or row.attempts >= policy.max_attempts:
        row.status = OutboxStatus.FAILED
        repo.add_event(
            session, tenant_id=row.tenant_id, kind=EventKind.OUTBOX_FAILED, at=now, contact_id=row.contact_id,
            data={"outbox_id": row.id, "kind": row.kind.value, "attempts": row.attempts,
                  "permanent": permanent, "error": row.last_error},
        )  # fmt: skip
    else:
        row.status = OutboxStatus.PENDING
        row.next_attempt_at = now + backoff(row.attempts, policy, rand)
    return row


# --- inbound mail ----------------------------------------------------------------------------


def find_inbound(session: Session, *, tenant_id: str, message_id: str, lock: bool = False) -> InboundMail | None:
    stmt = select(InboundMail).where(InboundMail.tenant_id == tenant_id, InboundMail.message_id == message_id)
    return session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()


def store_inbound(session: Session, *, row: InboundMail) -> tuple[InboundMail, bool]:
    """Insert `row`; (row, True), or (the stored row, False) when its Message-ID is known."""
    existing = find_inbound(session, tenant_id=row.tenant_id, message_id=row.message_id)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(row)
    except sa_exc.IntegrityError:
        existing = find_inbound(session, tenant_id=row.tenant_id, message_id=row.message_id)
        if existing is None:  # pragma: no cover - the conflict was on something else
            raise
        return existing, False
    return row, True


def pending_inbound(session: Session, *, limit: int = 100) -> list[InboundMail]:
    """Mail stored but not handled (RECEIVED or FAILED), oldest first. Those out of attempts are
    among them on purpose: `begin_inbound_attempt` quarantines them."""
    stmt = (
        select(InboundMail)
        .options(defer(InboundMail.raw))  # up to 25 MB each; read one at a time when handled
        .where(InboundMail.status.in_((InboundMailStatus.RECEIVED, InboundMailStatus.FAILED)))
        .order_by(InboundMail.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


class Attempt(enum.StrEnum):
    """What `begin_inbound_attempt` decided."""

    GO = "go"  # counted and committed: handle it now
    BUSY = "busy"  # an attempt began less than `lease` ago (in flight, or it just killed the process)
    DONE = "done"  # handled, skipped or quarantined before: nothing to do
    QUARANTINED = "quarantined"  # out of attempts: quarantined now, do not handle


def begin_inbound_attempt(
    session: Session, *, inbound_id: int, now: datetime, max_attempts: int, lease: timedelta | None = None
) -> Attempt:
    """Count one attempt to handle a stored mail before it is made (commit before handling, so
    an attempt that kills the process still counts), or quarantine it when `max_attempts` are
    used up. With `lease`, a mail whose last attempt began less than `lease` ago is left alone."""
    row = session.scalars(select(InboundMail).where(InboundMail.id == inbound_id).with_for_update()).one()
    if row.status not in (InboundMailStatus.RECEIVED, InboundMailStatus.FAILED):
        return Attempt.DONE
    if lease is not None and row.last_attempt_at is not None and row.last_attempt_at > now - lease:
        return Attempt.BUSY
    if row.attempts >= max_attempts:
        quarantine_inbound(session, row=row, now=now)
        return Attempt.QUARANTINED
    row.attempts += 1
    row.last_attempt_at = now
    return Attempt.GO


def fail_inbound(session: Session, *, inbound_id: int, error: str, now: datetime, max_attempts: int) -> InboundMailStatus:
    """Record a failed attempt (already counted): FAILED for a retry, or QUARANTINED when it was
    the last one."""
    row = session.scalars(select(InboundMail).where(InboundMail.id == inbound_id).with_for_update()).one()
    row.last_error = error[:2000]
    if row.attempts >= max_attempts:
        quarantine_inbound(session, row=row, now=now)
    else:
        row.status = InboundMailStatus.FAILED
    return row.status


def quarantine_inbound(session: Session, *, row: InboundMail, now: datetime) -> None:
    """Give up on a stored mail: QUARANTINED, with a `mail_quarantined` event. The raw mail stays."""
    row.status = InboundMailStatus.QUARANTINED
    row.quarantined_at = now
    row.last_error = row.last_error or (
        f"quarantined after {row.attempts} attempt(s) that never finished (the process stopped while handling it)"
    )
    repo.add_event(
        session, tenant_id=row.tenant_id, kind=EventKind.MAIL_QUARANTINED, at=now, contact_id=row.contact_id,
        data={"inbound_id": row.id, "attempts": row.attempts, "error": redact(row.last_error)[:500]},
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class QuarantinedView:
    """One quarantined item for the supervisor list; texts are redacted (bot.privacy.redact)."""

    queue: str  # "inbound_mail" or "outbox"
    id: int
    kind: str  # "mail" for inbound mail; the outbox kind (auto_reply, agent_reply) otherwise
    quarantined_at: datetime | None
    attempts: int
    error: str
    subject: str | None
    message_id: str | None
    contact_id: str | None
    since: datetime  # received (inbound) or enqueued (outbox)


def quarantined(session: Session, *, tenant_id: str, limit: int = 500) -> list[QuarantinedView]:
    """Every quarantined inbound mail and outbox item of one tenant, newest first."""
    mails = session.scalars(
        select(InboundMail)
        .where(InboundMail.tenant_id == tenant_id, InboundMail.status == InboundMailStatus.QUARANTINED)
        .order_by(InboundMail.id.desc()).limit(limit)
    )  # fmt: skip
    out = [
        QuarantinedView("inbound_mail", m.id, "mail", m.quarantined_at, m.attempts, redact(m.last_error or ""),
                        redact(m.subject) if m.subject else None, m.message_id, m.contact_id, m.received_at)
        for m in mails
    ]  # fmt: skip
    items_ = session.scalars(
        select(OutboxItem)
        .where(OutboxItem.tenant_id == tenant_id, OutboxItem.status == OutboxStatus.QUARANTINED)
        .order_by(OutboxItem.id.desc()).limit(limit)
    )  # fmt: skip
    out += [
        QuarantinedView("outbox", i.id, i.kind.value, i.quarantined_at, i.attempts, redact(i.last_error or ""),
                        None, i.message_id, i.contact_id, i.created_at)
        for i in items_
    ]  # fmt: skip
    return sorted(out, key=lambda v: (v.quarantined_at or v.since), reverse=True)[:limit]


def inbound_for_contact(session: Session, *, tenant_id: str, contact_id: str) -> list[InboundMail]:
    stmt = select(InboundMail).where(InboundMail.tenant_id == tenant_id, InboundMail.contact_id == contact_id)
    return list(session.scalars(stmt.order_by(InboundMail.id)))


def thread_of_message_id(session: Session, *, tenant_id: str, message_id: str) -> str | None:
    """The thread (contact external_ref) of a Message-ID we know: a stored inbound mail or one
    of our own outgoing messages."""
    found = session.scalars(
        select(InboundMail.thread_id).where(
            InboundMail.tenant_id == tenant_id, InboundMail.message_id == message_id,
            InboundMail.thread_id.is_not(None),
        )  # fmt: skip
    ).first()
    if found is not None:
        return found
    return session.scalars(
        select(Contact.external_ref)
        .join(OutboxItem, OutboxItem.contact_id == Contact.id)
        .where(OutboxItem.tenant_id == tenant_id, OutboxItem.message_id == message_id)
    ).first()


def thread_by_subject(
    session: Session, *, tenant_id: str, from_addr: str, subject_key: str, since: datetime
) -> str | None:
    """The newest thread of this sender with this normalised subject, active since `since`."""
    return session.scalars(
        select(InboundMail.thread_id)
        .where(
            InboundMail.tenant_id == tenant_id, InboundMail.from_addr == from_addr,
            InboundMail.subject_key == subject_key, InboundMail.received_at >= since,
            InboundMail.thread_id.is_not(None),
        )  # fmt: skip
        .order_by(InboundMail.id.desc())
    ).first()


# --- SLA ---------------------------------------------------------------------------------------

AWAITING_REPLY = (ContactState.HANDOFF_REQUESTED, ContactState.QUEUED, ContactState.OFFERED, ContactState.ASSIGNED)


def set_sla_due(session: Session, *, tenant_id: str, contact_id: str, due: datetime) -> None:
    """Set the reply deadline of a contact that has none yet (the engine keeps a deadline that
    is already set when it hands the contact off)."""
    c = repo.get_contact(session, tenant_id=tenant_id, contact_id=contact_id, lock=True)
    if c.sla_due_at is None:
        c.sla_due_at = due


def contacts_awaiting_reply(
    session: Session, *, channel: Channel = Channel.EMAIL, states: Sequence[ContactState] = AWAITING_REPLY
) -> list[Contact]:
    """Contacts of every tenant with a deadline and no agent reply yet."""
    stmt = select(Contact).where(
        Contact.channel == channel, Contact.sla_due_at.is_not(None), Contact.state.in_(list(states))
    )
    return list(session.scalars(stmt.order_by(Contact.sla_due_at)))


def has_event(session: Session, *, tenant_id: str, contact_id: str, kind: EventKind) -> bool:
    stmt = select(Event.id).where(Event.tenant_id == tenant_id, Event.contact_id == contact_id, Event.kind == kind)
    return session.scalars(stmt.limit(1)).first() is not None


class Outbox:
    """The outbox over a `Database`: each call is one committed transaction."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def enqueue(
        self,
        *,
        tenant_id: str,
        channel: Channel,
        kind: OutboxKind,
        payload: bytes,
        dedupe_key: str,
        now: datetime,
        contact_id: str | None = None,
        message_id: str | None = None,
    ) -> tuple[OutboxView, bool]:
        """Committed before it returns; (item, False) if the dedupe_key was enqueued before."""
        with self.db.write() as s:
            row, created = enqueue(
                s, tenant_id=tenant_id, channel=channel, kind=kind, payload=payload, dedupe_key=dedupe_key,
                now=now, contact_id=contact_id, message_id=message_id,
            )  # fmt: skip
            s.flush()
            return OutboxView.of(row), created

    def get(self, item_id: int) -> OutboxView:
        with self.db.read() as s:
            return OutboxView.of(get_item(s, item_id=item_id))

    def items(
        self,
        tenant_id: str,
        *,
        status: OutboxStatus | None = None,
        contact_id: str | None = None,
        kind: OutboxKind | None = None,
    ) -> list[OutboxView]:
        with self.db.read() as s:
            rows = items(s, tenant_id=tenant_id, status=status, contact_id=contact_id, kind=kind)
            return [OutboxView.of(r) for r in rows]
