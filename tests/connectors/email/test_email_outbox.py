"""The outbox worker delivering e-mail to a real SMTP server on loopback: retries with backoff
while the server is down, delivery once it is back, never twice."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.errors import SmtpRejected
from bot.outbox_worker import deliver_due
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import Channel, OutboxKind, OutboxStatus, Tenant
from connectors.email.service import smtp_sender
from connectors.email.transport import SmtpSender

if TYPE_CHECKING:
    from conftest import SmtpSink

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = ob.RetryPolicy(max_attempts=5, base=timedelta(seconds=30), jitter=0.2)


@pytest.fixture
def sqlite_db(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    db.migrate()
    with db.write() as s:
        s.add(Tenant(id="kobenhavn", name="Københavns Kommune", created_at=T0))
    yield db
    db.dispose()


def _payload(auto: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Københavns Kommune <kontakt@kobenhavn.example>"
    msg["To"] = "soren@example.dk"
    msg["Subject"] = "Re: Pas"
    msg["Message-ID"] = "<out-1@kobenhavn.example>"
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Tak for din mail.")
    return msg.as_bytes(policy=policy.SMTP)


def _enqueue(db: Database, auto: bool = True) -> ob.OutboxView:
    item, _ = ob.Outbox(db).enqueue(tenant_id="kobenhavn", channel=Channel.EMAIL, kind=OutboxKind.AUTO_REPLY,
                                    payload=_payload(auto), dedupe_key="auto:1", now=T0,
                                    message_id="<out-1@kobenhavn.example>")  # fmt: skip
    return item


class Sink:
    """An aiosmtpd handler that records (envelope sender, raw data) of what it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, envelope.original_content or envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"


def test_email_outbox_waits_for_a_down_server_and_delivers_once(sqlite_db: Database, closed_port: int) -> None:
    from aiosmtpd.controller import Controller

    item = _enqueue(sqlite_db)
    senders = {Channel.EMAIL: smtp_sender(SmtpSender("127.0.0.1", closed_port, timeout=2))}
    stats = deliver_due(sqlite_db, senders, T0, policy=POLICY, rand=lambda: 0.5)
    assert (stats.claimed, stats.retried, stats.sent) == (1, 1, 0)
    row = ob.Outbox(sqlite_db).get(item.id)
    assert row.status is OutboxStatus.PENDING and row.next_attempt_at == T0 + timedelta(seconds=30)
    assert "SmtpUnavailable" in (row.last_error or "")
    assert deliver_due(sqlite_db, senders, T0 + timedelta(seconds=10), policy=POLICY).claimed == 0  # backing off

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=closed_port)
    controller.start()
    try:
        later = T0 + timedelta(seconds=30)
        assert deliver_due(sqlite_db, senders, later, policy=POLICY).sent == 1
        assert deliver_due(sqlite_db, senders, later + timedelta(hours=1), policy=POLICY).claimed == 0
    finally:
        controller.stop()
    ((mail_from, data),) = sink.received
    assert mail_from in ("", "<>")  # auto-replies go out with the null sender (RFC 3834)
    msg = email.message_from_bytes(data, policy=policy.default)
    assert msg["Message-ID"] == "<out-1@kobenhavn.example>" and msg["Auto-Submitted"] == "auto-replied"
    done = ob.Outbox(sqlite_db).get(item.id)
    assert done.status is OutboxStatus.SENT and done.sent_at == later and done.attempts == 2


def test_email_outbox_a_permanent_refusal_fails_the_item(sqlite_db: Database) -> None:
    item = _enqueue(sqlite_db)

    def refuse(_: ob.OutboxView) -> None:
        raise SmtpRejected("550 no such user")

    stats = deliver_due(sqlite_db, {Channel.EMAIL: refuse}, T0, policy=POLICY)
    assert stats.failed == 1 and ob.Outbox(sqlite_db).get(item.id).status is OutboxStatus.FAILED


def test_email_outbox_only_claims_channels_it_can_send(sqlite_db: Database, smtp_sink: SmtpSink) -> None:
    _enqueue(sqlite_db)
    assert deliver_due(sqlite_db, {Channel.CHAT: lambda _: None}, T0, policy=POLICY).claimed == 0
    sender = smtp_sender(SmtpSender(smtp_sink.host, smtp_sink.port, timeout=5))
    assert deliver_due(sqlite_db, {Channel.EMAIL: sender}, T0, policy=POLICY).sent == 1
    assert len(smtp_sink.received) == 1
