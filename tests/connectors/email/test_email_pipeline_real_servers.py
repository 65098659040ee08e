"""The whole e-mail pipeline against real servers on loopback: a mail arrives (IMAP via
mail_devel, or pushed over HTTP), is stored, triaged and queued; the outbox worker delivers the
auto-reply and the agent's answer to aiosmtpd; a connection dropped before the ack loses nothing
and handles nothing twice."""

from __future__ import annotations

import email
import smtplib
import socket
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.api import create_app
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.errors import ImapUnavailable
from bot.outbox_worker import deliver_due
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import AgentState, Channel, ContactState, InboundMail
from bot.tenants import load_tenants
from connectors.email.background import email_services
from connectors.email.poller import poll_once
from connectors.email.routes import SECRET_HEADER
from connectors.email.routes import router as email_router
from connectors.email.service import MailService, smtp_sender
from connectors.email.settings import EmailSettings
from connectors.email.transport import ImapPoller, SmtpSender
from tests.bot.conftest import FakeClock

if TYPE_CHECKING:
    from conftest import MailDevel, SmtpSink

pytestmark = pytest.mark.integration

TENANT = "kobenhavn"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen")).astimezone(UTC)


def citizen_mail(message_id: str, subject: str = "Pas", body: str = "Hvad koster et nyt pas?",
                 in_reply_to: str | None = None) -> EmailMessage:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = "Søren Østergaard <soren@example.dk>"
    msg["To"] = "test@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg


@pytest.fixture
def service(tmp_path: Path, understanding):
    db = Database(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    db.migrate()
    tenants = load_tenants(Settings().tenants_file)
    clock = FakeClock(MONDAY_10)
    engine = ConversationEngine(db, understanding.contract, clock)
    for t in tenants.tenants:
        engine.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules())
    yield MailService(engine, understanding, tenants, db, ob.Outbox(db), clock)
    db.dispose()


def received_messages(sink: SmtpSink) -> list[EmailMessage]:
    return [email.message_from_bytes(r.data, policy=policy.default) for r in sink.received]  # type: ignore[misc]


def test_email_pipeline_auto_reply_and_agent_reply_reach_smtp_threaded(service: MailService, smtp_sink: SmtpSink) -> None:
    senders = {Channel.EMAIL: smtp_sender(SmtpSender(smtp_sink.host, smtp_sink.port, timeout=5))}
    result = service.ingest(TENANT, citizen_mail("<pipe-1@example.dk>").as_bytes(), "test")
    contact = service.engine.contact(TENANT, result.contact_id)
    assert contact.state is ContactState.QUEUED and contact.sla_due_at is not None

    assert deliver_due(service.db, senders, MONDAY_10).sent == 1
    (auto,) = received_messages(smtp_sink)
    assert auto["Auto-Submitted"] == "auto-replied" and auto["Subject"] == "Re: Pas"
    assert auto["In-Reply-To"] == "<pipe-1@example.dk>" and auto["References"] == "<pipe-1@example.dk>"
    assert "Du får svar senest mandag den 2. marts kl. 12.00." in auto.get_content()
    assert smtp_sink.received[0].rcpt_tos == ["soren@example.dk"]

    reply = citizen_mail("<pipe-2@example.dk>", "Re: Pas", "Kan jeg bestille tid i dag?", in_reply_to=auto["Message-ID"])
    assert service.ingest(TENANT, reply.as_bytes(), "test").contact_id == contact.id

    eng = service.engine
    eng.add_agent(TENANT, "mette", "Mette Holm", skills={"borgerservice_basis": 5})
    eng.set_agent_state(TENANT, "mette", AgentState.AVAILABLE)
    (offer,) = eng.route(TENANT)
    eng.accept_offer(TENANT, offer.id, "mette")
    service.send_agent_reply(TENANT, contact.id, "mette", "Ja, du kan bestille tid på kk.dk.")
    assert deliver_due(service.db, senders, MONDAY_10).sent == 1
    agent = received_messages(smtp_sink)[1]
    assert agent["In-Reply-To"] == "<pipe-2@example.dk>" and agent["Auto-Submitted"] is None
    assert agent["References"].split()[0] == "<pipe-1@example.dk>"
    assert smtp_sink.received[1].mail_from == "kontakt@kobenhavn.example"


def _deliver(server: MailDevel, msg: EmailMessage) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)


class DroppingPoller(ImapPoller):
    """Drops the connection (as the network would) right before the first ack."""

    dropped = False

    def ack(self, uid: int) -> None:
        if not self.dropped and self._conn is not None:
            self.dropped = True
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        super().ack(uid)


def test_email_pipeline_imap_poll_ingests_then_acks_and_survives_a_drop(service: MailService, mail_devel: MailDevel) -> None:
    _deliver(mail_devel, citizen_mail("<imap-1@example.dk>"))
    poller = DroppingPoller(mail_devel.host, mail_devel.imap_port, mail_devel.user, mail_devel.password, timeout=5)
    try:
        with pytest.raises(ImapUnavailable):
            poll_once(poller, service, TENANT)  # stored, but the ack never arrived
        again = poll_once(poller, service, TENANT)  # fetched again: a duplicate, now acked
        assert (again.fetched, again.duplicates, again.acked) == (1, 1, 1)
        assert poll_once(poller, service, TENANT).fetched == 0

        _deliver(mail_devel, citizen_mail("<imap-2@example.dk>", "Storskrald", "Hvornår bliver storskrald hentet?"))
        stats = poll_once(poller, service, TENANT)
        assert (stats.fetched, stats.ingested, stats.acked) == (1, 1, 1)
    finally:
        poller.close()
    with service.db.read() as s:
        assert sorted(r.message_id for r in s.query(InboundMail)) == ["<imap-1@example.dk>", "<imap-2@example.dk>"]
    assert len(service.outbox.items(TENANT)) == 2  # one auto-reply each, none twice


@pytest.fixture
def client(tmp_path: Path, understanding):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.sqlite3'}", max_body_bytes=30 * 1024 * 1024)
    app = create_app(settings, routers=[email_router], understanding=understanding,
                     background=[partial(email_services, workers=False)])  # fmt: skip
    app.state.email_settings = EmailSettings(inbound_secret=SecretStr("s3cret"), max_inbound_bytes=2 * 1024 * 1024)
    with TestClient(app) as c:
        yield c


def test_email_pipeline_http_inbound_needs_the_secret_and_a_sane_size(client: TestClient) -> None:
    # The receiving mail system names the mailbox it delivered to: that picks the municipality.
    delivered = b"Delivered-To: kontakt@kobenhavn.example\r\n"
    raw = delivered + citizen_mail("<http-1@example.dk>").as_bytes()
    rfc822 = {"Content-Type": "message/rfc822"}
    assert client.post("/email/inbound", content=raw, headers=rfc822).status_code == 401
    assert client.post("/email/inbound", content=raw, headers={**rfc822, SECRET_HEADER: "nope"}).status_code == 403
    ok = client.post("/email/inbound", content=raw, headers={**rfc822, SECRET_HEADER: "s3cret"})
    assert ok.status_code == 202 and ok.json()["duplicate"] is False and ok.json()["contact_id"]
    again = client.post("/email/inbound?tenant=kobenhavn", content=raw, headers={**rfc822, SECRET_HEADER: "s3cret"})
    assert again.status_code == 202 and again.json()["duplicate"] is True

    form = client.post("/email/inbound", headers={SECRET_HEADER: "s3cret"},
                       files={"message": ("mail.eml", delivered + citizen_mail("<http-2@example.dk>").as_bytes(),
                                           "message/rfc822")})  # fmt: skip
    assert form.status_code == 202 and form.json()["message_id"] == "<http-2@example.dk>"

    huge = b"Subject: stor\r\n\r\n" + b"x" * (3 * 1024 * 1024)
    assert client.post("/email/inbound", content=huge, headers={**rfc822, SECRET_HEADER: "s3cret"}).status_code == 413
    assert client.post("/email/inbound?tenant=nowhere", content=raw,
                       headers={**rfc822, SECRET_HEADER: "s3cret"}).status_code == 404  # fmt: skip
    # Sent to no municipality's address: with two municipalities here, naming one is not enough.
    stray = citizen_mail("<http-3@example.dk>").as_bytes()
    refused = client.post("/email/inbound?tenant=kobenhavn", content=stray, headers={**rfc822, SECRET_HEADER: "s3cret"})
    assert refused.status_code == 404 and refused.json()["error"] == "unknown_recipient"
