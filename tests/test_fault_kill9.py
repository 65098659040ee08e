"""Fault test (issue 6 §2): the real server is `kill -9`ed mid-conversation and started again on
the same SQLite file. Whatever was acknowledged (chat 200, e-mail 202) survives; the handoff and
the e-mail contacts exist exactly once; each e-mail gets exactly one auto-reply at a real SMTP
server on loopback (none lost, none doubled); retries after the restart create nothing new.

Two lives of `python -m bot serve` on one database:

1. outbox worker interval one hour, so the worker's only pass is at start-up, before any mail:
   both auto-replies are committed to the outbox but undelivered when SIGKILL lands, right
   after the second e-mail's 202 (the case a crash would lose without a durable outbox);
2. the restarted server's outbox worker (0.3 s) delivers them; chat and e-mail retries; one
   more chat message, then SIGKILL right after its 200: the message and the SENT status of
   both auto-replies are on disk (so a third start would send nothing again).

A third start would prove little more than the rows read here and costs ~10 s of model
loading, which would put the test near its 60 s budget on a busy 2-CPU machine.

A crash *during* an SMTP send is not provoked: that item stays SENDING for its 5-minute lease
and is then sent again (at-least-once, documented in bot/outbox_worker.py).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import (
    Channel,
    Contact,
    ContactState,
    Direction,
    EventKind,
    Handoff,
    InboundMail,
    InboundMailStatus,
    Message,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)
from tests.fault_helpers import ServerProcess, SmtpRecorder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TENANT = "kobenhavn"
SECRET_HEADER = "X-Kontakt-Email-Secret"
OUTBOX_TICK = 0.3  # seconds between outbox passes in lives 2 and 3
QUIET = 6 * OUTBOX_TICK  # how long we watch for a duplicate that should never come


@pytest.fixture
def smtp() -> Iterator[SmtpRecorder]:
    recorder = SmtpRecorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture
def launch(tmp_path: Path, smtp: SmtpRecorder, understanding) -> Iterator:
    """start(outbox_seconds) -> a ready server on one SQLite file; every process is stopped at
    the end, also when the test fails. `understanding` makes sure var/model is built first."""
    secret = secrets.token_urlsafe(24)
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    started: list[ServerProcess] = []

    def start(outbox_seconds: float) -> ServerProcess:
        env = {
            "KONTAKT_DATABASE_URL": url,
            "KONTAKT_EMAIL_INBOUND_SECRET": secret,
            "KONTAKT_EMAIL_SMTP_HOST": smtp.host,
            "KONTAKT_EMAIL_SMTP_PORT": str(smtp.port),
            "KONTAKT_EMAIL_SMTP_STARTTLS": "false",
            "KONTAKT_EMAIL_SMTP_SSL": "false",
            "KONTAKT_EMAIL_IMAP_HOST": "",
            "KONTAKT_EMAIL_OUTBOX_SECONDS": str(outbox_seconds),
        }
        server = ServerProcess.start(env, tmp_path / f"server{len(started) + 1}.log")
        started.append(server)
        server.wait_ready()
        return server

    start.url = url  # type: ignore[attr-defined]
    start.secret = secret  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for server in started:
            server.stop()


def citizen_mail(message_id: str, sender: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "kontakt@kobenhavn.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg.set_content(body)
    return msg.as_bytes()


MAILS = {
    "<kill9-a@example.dk>": citizen_mail("<kill9-a@example.dk>", "Anna Holm <anna@example.dk>", "Pas",
                                         "Hvad koster et nyt pas?"),
    "<kill9-b@example.dk>": citizen_mail("<kill9-b@example.dk>", "Bo Lund <bo@example.dk>", "Storskrald",
                                         "Hvornår bliver storskrald hentet?"),
}  # fmt: skip


def chat(server: ServerProcess, session: str | None, text: str, cmid: str) -> httpx.Response:
    body = {"session": session, "tenant": TENANT, "text": text, "client_message_id": cmid}
    r = httpx.post(f"{server.base_url}/chat/api/messages", json=body, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    return r


def post_mail(server: ServerProcess, raw: bytes, secret: str) -> dict:
    r = httpx.post(f"{server.base_url}/email/inbound", params={"tenant": TENANT}, content=raw, timeout=30,
                   headers={SECRET_HEADER: secret, "Content-Type": "message/rfc822"})  # fmt: skip
    assert r.status_code == 202, (r.status_code, r.text)
    return r.json()


def snapshot(url: str) -> dict[str, object]:
    """Row counts that a retry must not change, read straight from the database file."""
    db = Database(url)
    try:
        with db.read() as s:
            count = lambda model: s.scalar(select(func.count()).select_from(model))
            return {"contacts": count(Contact), "messages": count(Message), "handoffs": count(Handoff),
                    "inbound_mail": count(InboundMail), "outbox": count(OutboxItem)}  # fmt: skip
    finally:
        db.dispose()


def chat_state(url: str, session: str) -> tuple[list[Message], list[Handoff], list[EventKind], ContactState]:
    db = Database(url)
    try:
        with db.read() as s:
            c = repo.find_contact(s, tenant_id=TENANT, channel=Channel.CHAT, external_ref=session)
            assert c is not None, f"no chat contact for session {session}"
            msgs = repo.messages(s, tenant_id=TENANT, contact_id=c.id)
            handoffs = repo.handoffs(s, tenant_id=TENANT, contact_id=c.id)
            kinds = [e.kind for e in repo.events(s, tenant_id=TENANT, contact_id=c.id)]
            return msgs, handoffs, kinds, c.state
    finally:
        db.dispose()


def assert_chat_durable(url: str, session: str, acked: dict[str, str]) -> None:
    msgs, handoffs, kinds, state = chat_state(url, session)
    citizen = [m for m in msgs if m.direction is Direction.IN]
    by_cmid = Counter(m.client_message_id for m in citizen)
    assert {cmid: n for cmid, n in by_cmid.items() if n != 1} == {}, "a client_message_id stored twice"
    assert {m.client_message_id: m.text for m in citizen} == acked  # every 200 is stored, nothing else
    assert len(handoffs) == 1, [h.reason for h in handoffs]
    assert kinds.count(EventKind.HANDOFF_REQUESTED) == 1 and kinds.count(EventKind.QUEUED) == 1
    assert state is ContactState.QUEUED


def assert_mail_durable(url: str, status: OutboxStatus) -> dict[str, str]:
    """Each e-mail: one stored inbound row (handled), one contact, one citizen message, one
    auto-reply outbox item in `status`. Returns Message-ID -> our auto-reply's Message-ID."""
    db = Database(url)
    try:
        with db.read() as s:
            out = {}
            for mid in MAILS:
                rows = s.scalars(select(InboundMail).where(InboundMail.message_id == mid)).all()
                assert [r.status for r in rows] == [InboundMailStatus.HANDLED], mid
                contacts = s.scalars(select(Contact).where(Contact.channel == Channel.EMAIL,
                                                           Contact.external_ref == mid)).all()  # fmt: skip
                assert len(contacts) == 1 and rows[0].contact_id == contacts[0].id, mid
                c = contacts[0]
                assert c.state is ContactState.QUEUED, (mid, c.state)
                citizen = [m for m in repo.messages(s, tenant_id=TENANT, contact_id=c.id)
                           if m.direction is Direction.IN]  # fmt: skip
                assert len(citizen) == 1, (mid, [m.text for m in citizen])
                assert len(repo.handoffs(s, tenant_id=TENANT, contact_id=c.id)) == 1, mid
                items = s.scalars(select(OutboxItem).where(OutboxItem.contact_id == c.id)).all()
                assert [(i.kind, i.status) for i in items] == [(OutboxKind.AUTO_REPLY, status)], mid
                out[mid] = items[0].message_id
            return out
    finally:
        db.dispose()


def auto_replies_by_thread(smtp: SmtpRecorder) -> Counter[str]:
    return Counter(e.message["In-Reply-To"] for e in smtp.received)


def test_fault_kill9_mid_conversation_loses_nothing_and_doubles_nothing(launch, smtp: SmtpRecorder) -> None:
    url, secret = launch.url, launch.secret
    acked: dict[str, str] = {}

    # --- life 1: a conversation with a handoff, two e-mails; SIGKILL right after the last 202 ---
    first = launch(outbox_seconds=3600)
    r = chat(first, None, "Hvornår kommer skraldebilen?", "c1")
    session = r.json()["session"]
    acked["c1"] = "Hvornår kommer skraldebilen?"
    for cmid, text in (("c2", "Hvad koster et nyt pas?"), ("c3", "Jeg vil gerne tale med en medarbejder"),
                       ("c4", "Tak, jeg venter gerne i køen")):  # fmt: skip
        chat(first, session, text, cmid)
        acked[cmid] = text
    results = [post_mail(first, raw, secret) for raw in MAILS.values()]
    first.kill9()  # right after the second 202: both auto-replies are still in the outbox

    assert [(x["duplicate"], x["status"]) for x in results] == [(False, "handled")] * 2
    assert smtp.received == []  # nothing was delivered before the crash
    assert_chat_durable(url, session, acked)
    assert_mail_durable(url, OutboxStatus.PENDING)

    # --- life 2: the restarted outbox worker delivers each auto-reply exactly once ------------------
    second = launch(outbox_seconds=OUTBOX_TICK)
    smtp.wait_for(2, timeout=15)
    time.sleep(QUIET)  # several more outbox passes: a duplicate would show up now
    ours = assert_mail_durable(url, OutboxStatus.SENT)
    assert auto_replies_by_thread(smtp) == Counter({mid: 1 for mid in MAILS})
    for env in smtp.received:
        msg = env.message
        assert msg["Auto-Submitted"] == "auto-replied" and msg["Message-ID"] == ours[msg["In-Reply-To"]]
    assert sorted(e.rcpt_tos for e in smtp.received) == [("anna@example.dk",), ("bo@example.dk",)]
    assert_chat_durable(url, session, acked)

    # Retries after the restart (the widget resends an unacknowledged message; the mail service
    # redelivers): the same answers, nothing new stored, nothing new sent.
    before = snapshot(url)
    again = chat(second, session, "Jeg vil gerne tale med en medarbejder", "c3").json()
    assert again["session"] == session
    assert [m.get("client_message_id") for m in again["messages"] if m["kind"] == "user"] == ["c3"]
    chat(second, session, "Hvornår kommer skraldebilen?", "c1")
    redelivered = [post_mail(second, raw, secret) for raw in MAILS.values()]
    assert [(x["duplicate"], x["status"]) for x in redelivered] == [(True, "handled")] * 2
    assert [x["inbound_id"] for x in redelivered] == [x["inbound_id"] for x in results]
    time.sleep(QUIET)
    assert snapshot(url) == before
    assert auto_replies_by_thread(smtp) == Counter({mid: 1 for mid in MAILS})
    assert_chat_durable(url, session, acked)

    history = httpx.get(f"{second.base_url}/chat/api/history", params={"session": session}, timeout=30).json()
    assert [m.get("client_message_id") for m in history["messages"] if m["kind"] == "user"] == list(acked)

    # One more message in the queue, then SIGKILL right after its 200. What a third start would
    # read: the message, and both auto-replies SENT (claim_due never picks a SENT item again).
    chat(second, session, "Er der nogen der kan hjælpe mig snart?", "c5")
    acked["c5"] = "Er der nogen der kan hjælpe mig snart?"
    second.kill9()
    assert_chat_durable(url, session, acked)
    assert_mail_durable(url, OutboxStatus.SENT)
    assert auto_replies_by_thread(smtp) == Counter({mid: 1 for mid in MAILS})
