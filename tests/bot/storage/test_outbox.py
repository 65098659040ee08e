"""bot.storage.outbox on SQLite and PostgreSQL: idempotent enqueue, claiming with leases and row
locks, backoff with jitter, and the final failure event."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import ConversationEngine
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import Channel, EventKind, InboundMail, InboundMailStatus, OutboxKind, OutboxStatus

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAST = ob.RetryPolicy(max_attempts=3, base=timedelta(seconds=10), cap=timedelta(seconds=60), jitter=0.2,
                      lease=timedelta(seconds=30))  # fmt: skip


def _enqueue(db: Database, key: str = "k1", now: datetime = T0) -> tuple[ob.OutboxView, bool]:
    return ob.Outbox(db).enqueue(tenant_id="kobenhavn", channel=Channel.EMAIL, kind=OutboxKind.AUTO_REPLY,
                                 payload=b"Subject: x\r\n\r\nhej\r\n", dedupe_key=key, now=now)  # fmt: skip


@pytest.mark.parametrize(
    ("attempts", "rand", "expected"),
    [(1, 0.5, 10), (2, 0.5, 20), (3, 0.5, 40), (4, 0.5, 60), (30, 0.5, 60), (1, 0.0, 8), (1, 1.0, 12)],
)
def test_outbox_backoff_is_exponential_capped_and_jittered(attempts: int, rand: float, expected: float) -> None:
    assert ob.backoff(attempts, FAST, lambda: rand) == timedelta(seconds=expected)


def test_outbox_enqueue_is_idempotent_by_dedupe_key(db: Database, engine: ConversationEngine) -> None:
    first, created = _enqueue(db)
    again, created_again = _enqueue(db, now=T0 + timedelta(minutes=1))
    assert created and not created_again
    assert again.id == first.id and again.created_at == T0
    assert [i.id for i in ob.Outbox(db).items("kobenhavn")] == [first.id]


def test_outbox_claim_marks_sending_and_lease_expiry_makes_it_claimable(db: Database, engine: ConversationEngine) -> None:
    item, _ = _enqueue(db)
    with db.write() as s:
        (claimed,) = ob.claim_due(s, now=T0, policy=FAST)
        assert (claimed.status, claimed.attempts) == (OutboxStatus.SENDING, 1)
    with db.write() as s:
        assert ob.claim_due(s, now=T0 + timedelta(seconds=29), policy=FAST) == []  # leased
    with db.write() as s:  # the worker died: after the lease it is claimed again
        (again,) = ob.claim_due(s, now=T0 + timedelta(seconds=30), policy=FAST)
        assert again.id == item.id and again.attempts == 2
        ob.mark_sent(s, item_id=again.id, now=T0 + timedelta(seconds=31))
    with db.write() as s:
        assert ob.claim_due(s, now=T0 + timedelta(days=1), policy=FAST) == []
    assert ob.Outbox(db).get(item.id).status is OutboxStatus.SENT


def test_outbox_failures_back_off_then_fail_with_an_event(db: Database, engine: ConversationEngine) -> None:
    item, _ = _enqueue(db)
    now = T0
    for attempt in (1, 2):
        with db.write() as s:
            (row,) = ob.claim_due(s, now=now, policy=FAST)
            row = ob.mark_failed(s, item_id=row.id, error="SmtpUnavailable: down", now=now, policy=FAST,
                                 rand=lambda: 0.5)  # fmt: skip
            assert row.status is OutboxStatus.PENDING
            assert row.next_attempt_at == now + timedelta(seconds=10 * 2 ** (attempt - 1))
            now = row.next_attempt_at
        with db.write() as s:
            assert ob.claim_due(s, now=now - timedelta(seconds=1), policy=FAST) == []
    with db.write() as s:
        (row,) = ob.claim_due(s, now=now, policy=FAST)
        row = ob.mark_failed(s, item_id=row.id, error="SmtpUnavailable: still down", now=now, policy=FAST)
        assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    events = [e for e in engine.events("kobenhavn") if e.kind is EventKind.OUTBOX_FAILED]
    assert len(events) == 1 and events[0].data["outbox_id"] == item.id
    with db.write() as s:
        assert ob.claim_due(s, now=now + timedelta(days=1), policy=FAST) == []


def test_outbox_permanent_failure_fails_at_once(db: Database, engine: ConversationEngine) -> None:
    item, _ = _enqueue(db)
    with db.write() as s:
        (row,) = ob.claim_due(s, now=T0, policy=FAST)
        assert ob.mark_failed(s, item_id=row.id, error="SmtpRejected", now=T0, permanent=True,
                              policy=FAST).status is OutboxStatus.FAILED  # fmt: skip


def test_outbox_concurrent_claims_never_share_an_item(db: Database, engine: ConversationEngine) -> None:
    for i in range(20):
        _enqueue(db, key=f"k{i}")
    got: list[list[int]] = []
    lock = threading.Lock()

    def worker() -> None:
        with db.write() as s:
            ids = [r.id for r in ob.claim_due(s, now=T0, limit=7, policy=FAST)]
        with lock:
            got.append(ids)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    flat = [i for ids in got for i in ids]
    assert len(flat) == len(set(flat)) == 20


def test_inbound_store_recognises_the_same_message_id(db: Database, engine: ConversationEngine) -> None:
    def row(raw: bytes) -> InboundMail:
        return InboundMail(tenant_id="kobenhavn", message_id="<a@example.dk>", source="test", raw=raw,
                           size=len(raw), sha256="0" * 64, received_at=T0, status=InboundMailStatus.RECEIVED,
                           attempts=0)  # fmt: skip

    big = b"x" * (3 * 1024 * 1024)
    with db.write() as s:
        first, created = ob.store_inbound(s, row=row(big))
    with db.write() as s:
        again, created_again = ob.store_inbound(s, row=row(b"other"))
        assert created and not created_again and again.id == first.id
        assert bytes(again.raw) == big


def test_outbox_item_that_kills_the_worker_is_quarantined_after_three_lost_leases(
    db: Database, engine: ConversationEngine
) -> None:
    item, _ = _enqueue(db)
    now = T0
    for _ in range(3):  # claimed, then the worker dies mid-send: no outcome is ever recorded
        with db.write() as s:
            (row,) = ob.claim_due(s, now=now, policy=FAST)
            assert row.id == item.id
        now += FAST.lease
    with db.write() as s:
        assert ob.claim_due(s, now=now, policy=FAST) == []  # the third lost lease: given up
    row = ob.Outbox(db).get(item.id)
    assert row.status is OutboxStatus.QUARANTINED and row.attempts == 3
    with db.write() as s:
        assert ob.claim_due(s, now=now + timedelta(days=1), policy=FAST) == []
    events = [e for e in engine.events("kobenhavn") if e.kind is EventKind.OUTBOX_QUARANTINED]
    assert [e.data["outbox_id"] for e in events] == [item.id]
    with db.read() as s:
        (listed,) = ob.quarantined(s, tenant_id="kobenhavn")
        assert (listed.queue, listed.id, listed.kind) == ("outbox", item.id, "auto_reply")
        assert ob.quarantined(s, tenant_id="rodovre") == []


def test_inbound_attempts_are_counted_before_handling_and_end_in_quarantine(
    db: Database, engine: ConversationEngine
) -> None:
    raw = b"Subject: x\r\n\r\nhej\r\n"
    with db.write() as s:
        row, _ = ob.store_inbound(s, row=InboundMail(
            tenant_id="kobenhavn", message_id="<p@example.dk>", source="test", raw=raw, size=len(raw),
            sha256="0" * 64, received_at=T0, status=InboundMailStatus.RECEIVED, attempts=0))  # fmt: skip
        s.flush()
        inbound_id = row.id
    lease = timedelta(minutes=2)
    decide = lambda now: ob.begin_inbound_attempt(s, inbound_id=inbound_id, now=now, max_attempts=3, lease=lease)  # noqa: E731
    with db.write() as s:
        assert decide(T0) is ob.Attempt.GO
    with db.write() as s:
        assert decide(T0 + timedelta(minutes=1)) is ob.Attempt.BUSY  # in flight, or it just died
    for minutes in (3, 6):
        with db.write() as s:
            assert decide(T0 + timedelta(minutes=minutes)) is ob.Attempt.GO
    with db.write() as s:
        assert decide(T0 + timedelta(minutes=9)) is ob.Attempt.QUARANTINED
    with db.write() as s:
        assert decide(T0 + timedelta(minutes=12)) is ob.Attempt.DONE
        stored = s.get(InboundMail, inbound_id)
        assert (stored.status, stored.attempts) == (InboundMailStatus.QUARANTINED, 3) and bytes(stored.raw) == raw
    assert [e.kind for e in engine.events("kobenhavn")].count(EventKind.MAIL_QUARANTINED) == 1
