"""Each municipality's own mailbox (knowledge/tenants.yaml `mailboxes`): the recipients a pushed
mail names, and a real IMAP server (mail_devel) polled for one municipality only, its password
read from the variable the file names."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bot.api import create_app
from bot.config import ROOT, Settings
from bot.storage.models import InboundMail
from bot.tenants import Tenants
from connectors.email.background import email_services
from connectors.email.mailboxes import MailboxSecrets, PushAuth, recipients, tenant_of_push
from connectors.email.routes import router as email_router
from connectors.email.settings import EmailSettings

if TYPE_CHECKING:
    from conftest import MailDevel

TENANTS = Tenants.model_validate({
    "default_tenant": "a",
    "tenants": [
        {"id": "a", "name": "A Kommune", "mailboxes": [{"address": "post@a.example", "push_secret_env": "A_PUSH"}]},
        {"id": "b", "name": "B Kommune", "email": "kontakt@b.example"},
    ],
})  # fmt: skip


def _raw(*headers: str) -> bytes:
    return ("\r\n".join([*headers, "From: jens@example.org", "Subject: Hej", "", "Tekst", ""])).encode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (("To: Kontakt <KONTAKT@b.example>",), ["kontakt@b.example"]),
        (("To: someone@example.org", "Cc: post@a.example"), ["someone@example.org", "post@a.example"]),
        (("Delivered-To: post@a.example", "To: kontakt@b.example"), ["post@a.example", "kontakt@b.example"]),
        (("To: ;;; <<<@@@>>>",), []),
        ((), []),
    ],
)
def test_mailboxes_recipients_envelope_first(headers, expected) -> None:
    assert recipients(_raw(*headers)) == expected


def test_mailboxes_the_tenant_of_a_push() -> None:
    secrets = MailboxSecrets.from_environment(TENANTS, {"A_PUSH": "a-secret"})
    installation = PushAuth.check("shared", None, secrets)
    assert not installation.ok  # no installation secret configured: "shared" is nobody's
    own = PushAuth.check("a-secret", None, secrets)
    assert own.ok and own.addresses == ("post@a.example",)
    # the address's own secret names the municipality, whatever the mail says
    assert tenant_of_push(_raw("To: kontakt@b.example"), own, TENANTS, None) is TENANTS.get("a")
    shared = PushAuth.check("shared", SecretStr("shared"), secrets)
    assert tenant_of_push(_raw("To: kontakt@b.example"), shared, TENANTS, None) is TENANTS.get("b")
    assert tenant_of_push(_raw("To: x@elsewhere.example"), shared, TENANTS, None) is None
    assert tenant_of_push(_raw("To: x@elsewhere.example"), shared, TENANTS, "a") is None  # two municipalities
    single = Tenants.model_validate({"default_tenant": "a", "tenants": [TENANTS.get("a").model_dump()]})
    assert tenant_of_push(_raw("To: x@elsewhere.example"), shared, single, "a") is single.get("a")


@pytest.fixture
def app_polling_rodovre(tmp_path: Path, understanding, mail_devel: MailDevel, monkeypatch) -> Iterator[TestClient]:
    data = yaml.safe_load((ROOT / "knowledge" / "tenants.yaml").read_text(encoding="utf-8"))
    for t in data["tenants"]:
        if t["id"] == "rodovre":
            t["mailboxes"] = [{"address": "kontakt@rodovre.example", "imap": {
                "host": mail_devel.host, "port": mail_devel.imap_port, "user": mail_devel.user,
                "password_env": "KONTAKT_TEST_RODOVRE_IMAP", "ssl": False}}]  # fmt: skip
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("KONTAKT_TEST_RODOVRE_IMAP", mail_devel.password)
    monkeypatch.delenv("KONTAKT_KOBENHAVN_IMAP_PASSWORD", raising=False)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.sqlite3'}", tenants_file=path)
    app = create_app(settings, routers=[email_router], understanding=understanding, background=[email_services])
    app.state.email_settings = EmailSettings(poll_seconds=0.2, deadline_check_seconds=3600)
    with TestClient(app) as client:
        yield client


def test_mailboxes_a_municipalitys_own_imap_mailbox_is_polled_as_that_municipalitys_mail(
    app_polling_rodovre: TestClient, mail_devel: MailDevel
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Jens <jens@example.org>", mail_devel.user, "Pas"
    msg["Message-ID"] = "<rdv-imap-1@example.org>"
    msg.set_content("Hvordan får jeg et nyt pas?")
    with smtplib.SMTP(mail_devel.host, mail_devel.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)
    db = app_polling_rodovre.app.state.db
    deadline = time.monotonic() + 30
    rows: list[InboundMail] = []
    while not rows and time.monotonic() < deadline:  # the poller's next tick stores it
        with db.read() as s:
            rows = list(s.scalars(select(InboundMail)).all())
        if not rows:
            time.sleep(0.1)
    assert [(r.tenant_id, r.message_id, r.source) for r in rows] == [("rodovre", "<rdv-imap-1@example.org>", "imap")]
