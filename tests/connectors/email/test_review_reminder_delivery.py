"""The owners' weekly reminder end to end: the app with the e-mail channel's part (outbox worker
on SMTP) and the knowledge-review part, the engine's clock fixed on Monday 5 July 2027 at 08:00
in Copenhagen, the real articles and overlays, and an owners file that gives Rødovre's Borgerservice
an address (its overlays, reviewed 2026-12-06 with 180 days, are a month overdue). A real SMTP server on loopback receives exactly one plain-text mail; the
owners without an address get none. While SMTP is down the mail waits in the outbox."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from datetime import UTC
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api import create_app
from bot.api.knowledge_review import review_background
from bot.config import ROOT, EmailSettings, Settings
from bot.knowledge.review_mail import enqueue_reminders
from bot.storage import outbox as ob
from bot.storage.models import OutboxKind, OutboxStatus
from bot.topics import TopicContract, load_contract
from connectors.email.background import email_services
from tests.bot.api.test_capacity_api import ContractOnly
from tests.connectors.email.conftest import SmtpSink

pytestmark = pytest.mark.integration

MONDAY_8 = dt.datetime(2027, 7, 5, 6, 0, tzinfo=UTC)  # 08:00 in Copenhagen (summer time)
ADDRESS = "borgerservice@rk.example"
WAIT = 30.0


class FixedClock:
    def __call__(self) -> dt.datetime:
        return MONDAY_8


def _knowledge(tmp_path: Path) -> Path:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    owners = knowledge / "owners.yaml"
    text = owners.read_text(encoding="utf-8")
    marker = "    name: Rødovre Kommune – Borgerservice og Folkeregisteret\n"
    assert marker in text
    owners.write_text(text.replace(marker, marker + f"    email: {ADDRESS}\n"), encoding="utf-8")
    return knowledge


@pytest.fixture
def contract() -> TopicContract:
    return load_contract(ROOT / "knowledge" / "topics.yaml")


def _settings(settings: Settings, tmp_path: Path, smtp_port: int) -> Settings:
    """A fresh SQLite file (the app migrates it at start-up) and a copy of knowledge/."""
    knowledge = _knowledge(tmp_path)
    return settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}",
        "articles_dir": knowledge / "articles", "topics_file": knowledge / "topics.yaml",
        "tenants_file": knowledge / "tenants.yaml", "review_check_seconds": 0.05,
        "public_base_url": "https://kontakt.rk.example",
        "email": EmailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port, outbox_seconds=0.05),
    })  # fmt: skip


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT} s for {what}")
        time.sleep(0.02)


def _reminders(app) -> list[ob.OutboxView]:
    with app.state.db.read() as s:
        return [ob.OutboxView.of(r) for t in ("kobenhavn", "rodovre")
                for r in ob.items(s, tenant_id=t, kind=OutboxKind.REVIEW_REMINDER)]  # fmt: skip


def test_the_owner_gets_one_plain_text_mail_over_smtp(settings, contract, tmp_path,
                                                      smtp_sink: SmtpSink) -> None:  # fmt: skip
    local = _settings(settings, tmp_path, smtp_sink.port)
    app = create_app(local, background=[email_services, review_background], understanding=ContractOnly(contract),
                     clock=FixedClock())  # fmt: skip
    with TestClient(app):
        _until(lambda: smtp_sink.received, "the reminder at the SMTP server")
        _until(lambda: [i.status for i in _reminders(app)] == [OutboxStatus.SENT], "the outbox item marked sent")
        # further passes of the mailer that week store nothing; the server got one mail
        assert enqueue_reminders(app.state.db, app.state.review_catalogue.get(), app.state.tenants, MONDAY_8
                                 + dt.timedelta(hours=3)) == 0  # fmt: skip
    assert len(smtp_sink.received) == 1
    got = smtp_sink.received[0]
    assert got.rcpt_tos == [ADDRESS]
    msg = message_from_bytes(got.data, policy=email_policy.default)
    assert msg["From"].addresses[0].addr_spec == "kontakt@rodovre.example"  # the owner's municipality
    assert msg["Subject"] == "Artikler til gennemgang i kontakt – uge 27"
    assert msg.get_content_type() == "text/plain"
    text = msg.get_content().replace("\r\n", "\n")  # lines end in CRLF on the wire
    assert text.startswith("Kære Rødovre Kommune – Borgerservice og Folkeregisteret\n")
    assert "Skulle have været gennemgået:" in text
    assert "Lokal tekst for Rødovre Kommune. Senest 4. juni 2027, 31 dage over fristen." in text
    for article in ("borgerservice_pas", "borgerservice_flytning"):
        assert f"Ret artiklen her: https://kontakt.rk.example/agent/knowledge#{article}" in text
    assert "byggeri" not in text and "København" not in text  # other owners' articles


def test_a_down_smtp_server_loses_nothing(settings, contract, tmp_path, closed_port: int) -> None:
    local = _settings(settings, tmp_path, closed_port)
    app = create_app(local, background=[email_services, review_background], understanding=ContractOnly(contract),
                     clock=FixedClock())  # fmt: skip
    with TestClient(app):
        # An attempt counts from its claim (the item is SENDING meanwhile); wait for its outcome.
        _until(lambda: any(i.attempts >= 1 and i.status is OutboxStatus.PENDING and i.last_error for i in _reminders(app)),
               "a failed attempt on the closed port, recorded")
        [item] = _reminders(app)
        assert item.status is OutboxStatus.PENDING and item.last_error  # kept for the next attempt
