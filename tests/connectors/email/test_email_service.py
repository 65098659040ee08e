"""connectors.email.service.MailService on SQLite and PostgreSQL with the real Danish model:
store first, loop guard, threading, triage and routing, deadlines, the auto-reply in the outbox,
agent replies, duplicates, huge and broken mail, and the SLA events."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.engine import ConversationEngine
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import (
    AgentState,
    ContactState,
    EventKind,
    InboundMail,
    InboundMailStatus,
    OutboxKind,
)
from bot.tenants import Tenants, load_tenants
from connectors.email.service import MailService
from tests.bot.conftest import FakeClock, db, migrated_pg_template, migrated_sqlite, pg_cluster  # noqa: F401

pytestmark = pytest.mark.integration

CPH = ZoneInfo("Europe/Copenhagen")
TENANT = "kobenhavn"


def cph(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


def make_mail(
    message_id: str,
    subject: str = "Pas",
    body: str = "Hvad koster et nyt pas?",
    *,
    sender: str = "Søren Østergaard <soren@example.dk>",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "kontakt@kobenhavn.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body + "\n\nMed venlig hilsen\nSøren\n")
    return msg.as_bytes()


def parse(payload: bytes) -> EmailMessage:
    msg = email.message_from_bytes(payload, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.fixture
def tenants() -> Tenants:
    return load_tenants(Settings().tenants_file)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(cph(2026, 3, 2, 10, 0))  # a Monday, open


@pytest.fixture
def engine(db: Database, understanding, tenants: Tenants, clock: FakeClock) -> ConversationEngine:  # noqa: F811
    eng = ConversationEngine(db, understanding.contract, clock)
    for t in tenants.tenants:
        eng.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules())
    return eng


@pytest.fixture
def service(db: Database, understanding, tenants: Tenants, engine: ConversationEngine, clock: FakeClock) -> MailService:  # noqa: F811
    return MailService(engine, understanding, tenants, db, ob.Outbox(db), clock)


def outbox_items(service: MailService, kind: OutboxKind | None = None) -> list[ob.OutboxView]:
    return service.outbox.items(TENANT, kind=kind)


def inbound_rows(db: Database) -> list[InboundMail]:  # noqa: F811
    with db.read() as s:
        return list(s.query(InboundMail).order_by(InboundMail.id))


@pytest.mark.parametrize(
    ("received", "deadline_da"),
    [
        (cph(2026, 3, 2, 10, 0), "mandag den 2. marts kl. 12.00"),
        (cph(2026, 3, 6, 16, 0), "fredag den 6. marts kl. 18.00"),  # ends exactly at closing
        (cph(2026, 3, 6, 17, 0), "mandag den 9. marts kl. 09.00"),  # Friday afternoon
        (cph(2026, 3, 7, 11, 0), "mandag den 9. marts kl. 10.00"),  # Saturday
        (cph(2026, 4, 1, 17, 0), "tirsdag den 7. april kl. 09.00"),  # before Easter
        (cph(2026, 6, 4, 17, 0), "mandag den 8. juni kl. 09.00"),  # before Grundlovsdag (05-06)
        (cph(2026, 12, 23, 17, 30), "mandag den 28. december kl. 09.30"),  # before Christmas
    ],
)
def test_email_service_new_mail_is_queued_with_the_danish_deadline(
    service: MailService, clock: FakeClock, received: datetime, deadline_da: str
) -> None:
    clock.now = received
    result = service.ingest(TENANT, make_mail("<pas-1@example.dk>"), "test")
    assert (result.status, result.duplicate, result.new_thread) == (InboundMailStatus.HANDLED, False, True)
    contact = service.engine.contact(TENANT, result.contact_id)
    assert contact.state is ContactState.QUEUED and contact.queue_id == "borgerservice_basis"
    assert contact.sla_due_at == result.sla_due_at
    (item,) = outbox_items(service)
    msg = parse(item.payload)
    body = msg.get_content()
    assert f"Du får svar senest {deadline_da}." in body
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<pas-1@example.dk>"
    assert msg["References"] == "<pas-1@example.dk>"
    assert msg["Subject"] == "Re: Pas"
    assert msg["To"] == "soren@example.dk"
    assert "Kilde:" in body and "ikke en afgørelse" in body  # FAQ-level: the answer with its source
    packet = service.engine.handoff_packets(TENANT, contact.id)[0]
    assert packet.deadline == contact.sla_due_at


def test_email_service_aktindsigt_goes_to_a_person_without_an_faq_answer(service: MailService) -> None:
    raw = make_mail("<akt-1@example.dk>", "Aktindsigt", "Jeg vil gerne have aktindsigt i min byggesag")
    result = service.ingest(TENANT, raw, "test")
    assert result.topic == "generelt_aktindsigt"
    body = parse(outbox_items(service)[0].payload).get_content()
    assert "Kilde:" not in body and "videre til den enhed" in body


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({"Auto-Submitted": "auto-replied", "Subject": "Automatisk svar: Pas"}, "jens@example.dk"),
        ({"Return-Path": "<>", "Subject": "Undeliverable: Pas"}, "MAILER-DAEMON@mx.example.dk"),
        ({"List-Id": "<nyheder.example.dk>", "Precedence": "list"}, "nyheder@example.dk"),
    ],
    ids=["auto-reply", "bounce", "list"],
)
def test_email_service_automatic_mail_is_stored_but_never_answered(
    service: MailService, db: Database, headers: dict[str, str], sender: str  # noqa: F811
) -> None:
    subject = headers.pop("Subject", "Hej")
    raw = make_mail("<auto-1@example.dk>", subject, "Jeg er på ferie.", sender=sender, headers=headers)
    result = service.ingest(TENANT, raw, "test")
    assert result.automatic is not None and result.status is InboundMailStatus.SKIPPED
    assert outbox_items(service) == []
    (row,) = inbound_rows(db)
    assert bytes(row.raw) == raw and row.contact_id is None


def test_email_service_replies_join_their_thread_and_duplicates_are_ignored(service: MailService, db: Database) -> None:  # noqa: F811
    first = service.ingest(TENANT, make_mail("<t-1@example.dk>"), "test")
    (auto,) = outbox_items(service)
    again = service.ingest(TENANT, make_mail("<t-1@example.dk>"), "imap")  # delivered twice
    assert again.duplicate and again.contact_id is None and len(outbox_items(service)) == 1

    reply = make_mail("<t-2@example.dk>", "Re: Pas", "Tak. Skal jeg bestille tid?", in_reply_to=auto.message_id,
                      references=f"<t-1@example.dk> {auto.message_id}")  # fmt: skip
    second = service.ingest(TENANT, reply, "test")
    assert second.contact_id == first.contact_id and not second.new_thread
    by_subject = service.ingest(TENANT, make_mail("<t-3@example.dk>", "SV: Pas", "Og hvad med børn?"), "test")
    assert by_subject.contact_id == first.contact_id and by_subject.thread.value == "subject"
    assert len(outbox_items(service)) == 1  # follow-ups get no second auto-reply
    texts = [m.text for m in service.engine.transcript(TENANT, first.contact_id) if m.author.value == "citizen"]
    assert len(texts) == 3
    assert [r.status for r in inbound_rows(db)] == [InboundMailStatus.HANDLED] * 3


def test_email_service_huge_and_broken_mail_are_kept_and_handled(service: MailService, db: Database) -> None:  # noqa: F811
    big = EmailMessage()
    big["From"] = "jens@example.dk"
    big["Subject"] = "Bilag til min sag"
    big["Message-ID"] = "<big-1@example.dk>"
    big.set_content("Her er bilagene til min byggesag.")
    big.add_attachment(b"\x00" * (20 * 1024 * 1024), maintype="application", subtype="octet-stream",
                       filename="tegninger.bin")  # fmt: skip
    raw_big = big.as_bytes()
    broken = b"From: =?utf-8?q?broken\r\nContent-Type: multipart/mixed; boundary=\"x\r\n\r\n--x\r\n\xff\xfe garbage"
    r1 = service.ingest(TENANT, raw_big, "test")
    r2 = service.ingest(TENANT, broken, "test")
    assert r1.status is InboundMailStatus.HANDLED
    assert r2.status in (InboundMailStatus.HANDLED, InboundMailStatus.SKIPPED)
    rows = inbound_rows(db)
    assert [bytes(r.raw) for r in rows] == [raw_big, broken]
    assert rows[0].size == len(raw_big) > 20 * 1024 * 1024


class BrokenUnderstanding:
    def __init__(self, real) -> None:
        self.real, self.contract, self.articles, self.fail = real, real.contract, real.articles, True
        self.articles_for = real.articles_for

    def parse(self, text: str, **kwargs):
        if self.fail:
            raise RuntimeError("model crashed")
        return self.real.parse(text, **kwargs)


def test_email_service_a_failing_handler_keeps_the_mail_for_a_retry(
    service: MailService, understanding, clock: FakeClock, db: Database  # noqa: F811
) -> None:
    broken = BrokenUnderstanding(understanding)
    service.understanding = broken
    result = service.ingest(TENANT, make_mail("<fail-1@example.dk>"), "http")
    assert result.status is InboundMailStatus.FAILED and "model crashed" in (result.error or "")
    broken.fail = False
    clock.advance(300)
    (retried,) = service.reprocess_pending()
    assert retried.status is InboundMailStatus.HANDLED
    assert service.engine.contact(TENANT, retried.contact_id).state is ContactState.QUEUED
    assert len(outbox_items(service)) == 1


def test_email_service_agent_reply_is_threaded_to_the_last_mail(service: MailService, clock: FakeClock) -> None:
    first = service.ingest(TENANT, make_mail("<a-1@example.dk>"), "test")
    (auto,) = outbox_items(service)
    later = make_mail("<a-2@example.dk>", "Re: Pas", "Jeg har også mistet mit kørekort.", in_reply_to=auto.message_id,
                      references=f"<a-1@example.dk> {auto.message_id}")  # fmt: skip
    service.ingest(TENANT, later, "test")
    eng = service.engine
    eng.add_agent(TENANT, "mette", "Mette Holm", skills={"borgerservice_basis": 5})
    eng.set_agent_state(TENANT, "mette", AgentState.AVAILABLE)
    (offer,) = eng.route(TENANT)
    eng.accept_offer(TENANT, offer.id, "mette")
    item = service.send_agent_reply(TENANT, first.contact_id, "mette", "Et pas koster 763 kr.", client_message_id="r1")
    again = service.send_agent_reply(TENANT, first.contact_id, "mette", "Et pas koster 763 kr.", client_message_id="r1")
    assert again.id == item.id and item.kind is OutboxKind.AGENT_REPLY
    msg = parse(item.payload)
    assert msg["In-Reply-To"] == "<a-2@example.dk>"
    assert msg["References"].split()[0] == "<a-1@example.dk>"
    assert msg["Auto-Submitted"] is None and msg["Subject"] == "Re: Pas"
    assert "Mette" in msg.get_content() and "Et pas koster 763 kr." in msg.get_content()


def test_email_service_deadline_warning_and_breach_fire_once(service: MailService, clock: FakeClock) -> None:
    result = service.ingest(TENANT, make_mail("<sla-1@example.dk>"), "test")  # due Monday 12:00
    assert service.check_deadlines(cph(2026, 3, 2, 11, 0)) == []
    assert service.check_deadlines(cph(2026, 3, 2, 11, 31)) == [(result.contact_id, EventKind.SLA_WARNING)]
    assert service.check_deadlines(cph(2026, 3, 2, 11, 45)) == []
    assert service.check_deadlines(cph(2026, 3, 2, 12, 0)) == [(result.contact_id, EventKind.SLA_BREACHED)]
    assert service.check_deadlines(cph(2026, 3, 2, 13, 0)) == []
    kinds = [e.kind for e in service.engine.events(TENANT, result.contact_id)]
    assert kinds.count(EventKind.SLA_WARNING) == 1 and kinds.count(EventKind.SLA_BREACHED) == 1
    assert timedelta(0) < result.sla_due_at - cph(2026, 3, 2, 10, 0) <= timedelta(hours=2)
