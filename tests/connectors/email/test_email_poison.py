"""Poison mail on the real Danish model and SQLite: a mail that kills the process while it is
handled is tried a bounded number of times and then quarantined, never again; one bad mail
never stops the retry pass for the others; supervisors see the quarantine of their own tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.quarantine import router as quarantine_router
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import ContactState, EventKind, InboundMail, InboundMailStatus
from bot.tenants import load_tenants
from connectors.email.service import MailService
from tests.bot.conftest import FakeClock

pytestmark = pytest.mark.integration

TENANT = "kobenhavn"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen")).astimezone(UTC)
POISON = "Giftig besked"


class ProcessDied(BaseException):
    """What a native crash looks like from here: nothing after it runs, no `except Exception`
    catches it. Raised while a mail is handled, it leaves the database as a killed process does."""


class CrashingUnderstanding:
    """The real model, except that a text containing POISON kills the process (or raises)."""

    def __init__(self, real, exc: type[BaseException] = ProcessDied) -> None:
        self.real, self.contract, self.articles, self.exc = real, real.contract, real.articles, exc
        self.articles_for = real.articles_for
        self.calls = 0

    def parse(self, text: str, **kwargs):
        if POISON in text:
            self.calls += 1
            raise self.exc("the embedder crashed on this text")
        return self.real.parse(text, **kwargs)


def mail(message_id: str, body: str, subject: str = "Spørgsmål", charset: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Søren Østergaard <soren@example.dk>"
    msg["To"] = "kontakt@kobenhavn.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    raw = msg.as_bytes()
    if charset is not None:
        raw = raw.replace(b'charset="utf-8"', f'charset="{charset}"'.encode())
    return raw


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10)


def make_service(db: Database, understanding, clock: FakeClock) -> MailService:
    """A fresh service over the same database: what a restarted process builds."""
    tenants = load_tenants(Settings().tenants_file)
    engine = ConversationEngine(db, understanding.contract, clock)
    for t in tenants.tenants:
        engine.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules())
    return MailService(engine, understanding, tenants, db, ob.Outbox(db), clock, max_handle_attempts=3)


def rows(db: Database) -> list[InboundMail]:
    with db.read() as s:
        return list(s.query(InboundMail).order_by(InboundMail.id))


def test_email_poison_mail_that_kills_the_process_is_quarantined_after_three_attempts(
    db: Database, understanding, clock: FakeClock
) -> None:
    crashing = CrashingUnderstanding(understanding)
    service = make_service(db, crashing, clock)
    with pytest.raises(ProcessDied):
        service.ingest(TENANT, mail("<poison-1@example.dk>", POISON), "imap")
    (row,) = rows(db)
    assert (row.status, row.attempts) == (InboundMailStatus.RECEIVED, 1)  # counted before it died

    # The mailbox delivers it again right after the restart: the attempt is too fresh to repeat.
    service = make_service(db, crashing, clock)
    again = service.ingest(TENANT, mail("<poison-1@example.dk>", POISON), "imap")
    assert again.duplicate and again.status is InboundMailStatus.RECEIVED and crashing.calls == 1

    for attempt in (2, 3):  # each retry pass (every minute, and at every start) dies once more
        clock.advance(300)
        with pytest.raises(ProcessDied):
            make_service(db, crashing, clock).reprocess_pending()
        assert rows(db)[0].attempts == attempt
    service = make_service(db, crashing, clock)
    service.ingest(TENANT, mail("<fine-1@example.dk>", "Hvad koster et nyt pas?"), "http")
    clock.advance(300)
    (quarantined,) = service.reprocess_pending()  # no fourth attempt: quarantined instead
    assert quarantined.status is InboundMailStatus.QUARANTINED and crashing.calls == 3
    first, fine = rows(db)
    assert (first.status, first.attempts, first.quarantined_at) == (InboundMailStatus.QUARANTINED, 3, clock())
    assert bytes(first.raw) == mail("<poison-1@example.dk>", POISON)  # kept for a person to look at
    assert fine.status is InboundMailStatus.HANDLED
    events = [e for e in service.engine.events(TENANT) if e.kind is EventKind.MAIL_QUARANTINED]
    assert [e.data["inbound_id"] for e in events] == [first.id]

    clock.advance(3600)  # later passes and restarts leave it alone
    assert make_service(db, crashing, clock).reprocess_pending() == [] and crashing.calls == 3


def test_email_poison_failing_mail_is_quarantined_and_the_pass_goes_on(
    db: Database, understanding, clock: FakeClock
) -> None:
    failing = CrashingUnderstanding(understanding, RuntimeError)
    service = make_service(db, failing, clock)
    bad = service.ingest(TENANT, mail("<bad-1@example.dk>", POISON), "http")
    good = service.ingest(TENANT, mail("<good-1@example.dk>", "Hvornår kommer skraldebilen?", "Affald"), "http")
    assert bad.status is InboundMailStatus.FAILED and good.status is InboundMailStatus.HANDLED
    clock.advance(300)
    (retry,) = service.reprocess_pending()
    assert retry.status is InboundMailStatus.FAILED
    clock.advance(300)
    (last,) = service.reprocess_pending()
    assert last.status is InboundMailStatus.QUARANTINED and failing.calls == 3
    assert "RuntimeError" in (rows(db)[0].last_error or "")


def test_email_poison_a_bad_charset_does_not_stop_recovery_for_the_others(
    db: Database, understanding, clock: FakeClock
) -> None:
    # Stored, never handled (the process stopped after the commit): the retry pass must read both.
    nul = mail("<nul-1@example.dk>", "Hvad koster et nyt pas?", charset="utf-8\0")
    later = mail("<later-1@example.dk>", "Hvornår kommer skraldebilen?", "Affald")
    service = make_service(db, understanding, clock)  # the tenants exist before mail is stored
    with db.write() as s:
        for i, raw in enumerate((nul, later)):
            s.add(InboundMail(tenant_id=TENANT, message_id=f"<stored-{i}@example.dk>", source="imap", raw=raw,
                              size=len(raw), sha256="0" * 64, received_at=MONDAY_10,
                              status=InboundMailStatus.RECEIVED, attempts=0))  # fmt: skip
    clock.advance(300)
    results = service.reprocess_pending()
    assert [r.status for r in results] == [InboundMailStatus.HANDLED] * 2
    for r in results:
        assert service.engine.contact(TENANT, r.contact_id).state is ContactState.QUEUED


def test_email_poison_supervisors_see_their_own_quarantine(
    db: Database, understanding, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = CrashingUnderstanding(understanding, RuntimeError)
    service = make_service(db, failing, clock)
    subject = "Flytning CPR 131285-4821"
    for _ in range(3):
        service.ingest(TENANT, mail("<q-1@example.dk>", POISON, subject=subject), "http")
        clock.advance(300)
        service.reprocess_pending()
    assert rows(db)[0].status is InboundMailStatus.QUARANTINED

    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", "test-pepper-0123456789abcdefghijklmnopqrstuvwxyz")
    settings = Settings(database_url=db.url)
    app = create_app(settings, routers=[quarantine_router], understanding=understanding)
    with TestClient(app) as client:
        pepper = token_pepper(settings)
        eng = app.state.engine
        sara = create_agent(eng, pepper, tenant_id=TENANT, agent_id="sara", name="Sara", role="supervisor")
        anne = create_agent(eng, pepper, tenant_id=TENANT, agent_id="anne", name="Anne")
        rita = create_agent(eng, pepper, tenant_id="rodovre", agent_id="rita", name="Rita", role="supervisor")
        url = "/agent/api/supervisor/quarantine"
        listed = client.get(url, headers={"Authorization": f"Bearer {sara}"})
        assert listed.status_code == 200 and listed.headers["Cache-Control"] == "no-store"
        (item,) = listed.json()["items"]
        assert (item["queue"], item["kind"], item["attempts"]) == ("inbound_mail", "mail", 3)
        assert item["subject"] == "Flytning CPR [CPR]" and "131285" not in listed.text
        assert client.get(url, headers={"Authorization": f"Bearer {rita}"}).json()["items"] == []
        assert client.get(url, headers={"Authorization": f"Bearer {anne}"}).status_code == 403
        assert client.get(url).status_code == 401
