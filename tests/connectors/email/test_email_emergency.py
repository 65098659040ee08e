"""A mail describing acute danger gets an auto-reply that leads with 112, in the mail's language;
a routine mail's reply does not. Posted to the real app (`connectors.app.build_app`, SQLite in a
temporary folder) and read as delivered to aiosmtpd on loopback."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.config import Settings
from bot.outbox_worker import deliver_due
from bot.storage.models import Channel
from connectors.app import build_app
from connectors.email.routes import SECRET_HEADER
from connectors.email.service import smtp_sender
from connectors.email.settings import EmailSettings
from connectors.email.transport import SmtpSender

if TYPE_CHECKING:
    from conftest import SmtpSink

pytestmark = pytest.mark.integration

SECRET = "emergency-secret"


def citizen_mail(message_id: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Søren Østergaard <soren@example.dk>"
    msg["To"] = "kontakt@kobenhavn.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg


@pytest.fixture
def post_and_read(tmp_path, understanding, smtp_sink: SmtpSink, monkeypatch) -> Iterator:
    monkeypatch.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.sqlite3'}")
    app = build_app(settings, understanding=understanding)
    app.state.email_settings = EmailSettings(inbound_secret=SecretStr(SECRET), deadline_check_seconds=3600)
    sender = {Channel.EMAIL: smtp_sender(SmtpSender(smtp_sink.host, smtp_sink.port, timeout=10))}

    with TestClient(app) as client:

        def run(msg: EmailMessage) -> tuple[EmailMessage, dict]:
            r = client.post("/email/inbound?tenant=kobenhavn", content=msg.as_bytes(),
                            headers={SECRET_HEADER: SECRET, "Content-Type": "message/rfc822"})  # fmt: skip
            assert r.status_code == 202, r.text
            before = len(smtp_sink.received)
            assert deliver_due(app.state.db, sender, app.state.engine.clock()).sent == 1
            (got,) = smtp_sink.received[before:]
            return email.message_from_bytes(got.data, policy=policy.default), r.json()  # type: ignore[return-value]

        yield run


def _paragraphs(msg: EmailMessage) -> list[str]:
    return [p.strip() for p in msg.get_content().replace("\r\n", "\n").split("\n\n") if p.strip()]  # type: ignore[attr-defined]


def test_email_emergency_reply_leads_with_112_in_danish(post_and_read) -> None:
    reply, _ = post_and_read(citizen_mail(
        "<akut-1@example.dk>", "Hjælp",
        "Min far er faldet om i køkkenet og trækker ikke vejret. Hvad skal jeg gøre?",
    ))  # fmt: skip
    paragraphs = _paragraphs(reply)
    assert paragraphs[0] == "Ring 112 nu, hvis nogen er i fare."
    assert "1813" in reply.get_content() and "114" in reply.get_content()
    assert paragraphs.index(next(p for p in paragraphs if p.startswith("Du får svar senest"))) > 2


def test_email_emergency_reply_leads_with_112_in_english(post_and_read) -> None:
    reply, _ = post_and_read(citizen_mail(
        "<akut-2@example.dk>", "Help",
        "My neighbour is lying on the floor and is not breathing, please help me what do I do",
    ))  # fmt: skip
    paragraphs = _paragraphs(reply)
    assert paragraphs[0] == "Call 112 now if someone is in danger."
    assert paragraphs[3] == "Hej,"


def test_email_routine_reply_has_no_112(post_and_read) -> None:
    reply, _ = post_and_read(citizen_mail("<pas-1@example.dk>", "Pas", "Hvad koster et nyt pas?"))
    paragraphs = _paragraphs(reply)
    assert paragraphs[0] == "Hej,"
    assert not any("112" in p for p in paragraphs)
