"""Two whole workers (two apps, each with its engine, outbox worker and review mailer) over the same
SQLite file and the same PostgreSQL database, their clocks fixed at the week's reminder hour: the
owner's mail reaches a real SMTP server on loopback once, however many passes both mailers make."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import bot.api.knowledge_review as review_part
from bot.api import create_app
from bot.config import ROOT, EmailSettings, Settings
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import OutboxKind, OutboxStatus
from connectors.email.background import email_services
from tests.bot.api.test_capacity_api import ContractOnly
from tests.connectors.email.conftest import SmtpSink, smtp_sink  # noqa: F401 - the loopback SMTP fixture

pytestmark = pytest.mark.integration

MONDAY_8 = dt.datetime(2027, 7, 5, 6, 0, tzinfo=UTC)  # 08:00 in Copenhagen
ADDRESS = "borgerservice@rk.example"
PASSES = 4  # mailer passes each worker makes before the mail is counted
WAIT = 60.0


class FixedClock:
    def __call__(self) -> dt.datetime:
        return MONDAY_8


def _knowledge(tmp_path: Path) -> Path:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    owners = knowledge / "owners.yaml"
    marker = "    name: Rødovre Kommune – Borgerservice og Folkeregisteret\n"
    owners.write_text(owners.read_text(encoding="utf-8").replace(marker, marker + f"    email: {ADDRESS}\n"),
                      encoding="utf-8")  # fmt: skip
    return knowledge


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT} s for {what}")
        time.sleep(0.02)


def test_two_workers_send_the_weekly_mail_once(db: Database, contract, settings: Settings, tmp_path: Path,
                                               smtp_sink: SmtpSink, monkeypatch) -> None:  # noqa: F811  # fmt: skip
    knowledge = _knowledge(tmp_path)
    local = settings.model_copy(update={
        "database_url": db.url, "articles_dir": knowledge / "articles", "topics_file": knowledge / "topics.yaml",
        "tenants_file": knowledge / "tenants.yaml", "review_check_seconds": 0.02,
        "email": EmailSettings(smtp_host="127.0.0.1", smtp_port=smtp_sink.port, outbox_seconds=0.02),
    })  # fmt: skip
    # Count each worker's mailer passes around the real function (keyed by its database object).
    passes: Counter[int] = Counter()
    lock = threading.Lock()
    real = review_part.enqueue_reminders

    def counted(database, *args, **kwargs):
        stored = real(database, *args, **kwargs)
        with lock:
            passes[id(database)] += 1
        return stored

    monkeypatch.setattr(review_part, "enqueue_reminders", counted)
    apps = [create_app(local, background=[email_services, review_part.review_background],
                       understanding=ContractOnly(contract), clock=FixedClock()) for _ in range(2)]  # fmt: skip
    with ExitStack() as stack:
        for app in apps:
            stack.enter_context(TestClient(app))
        workers = [id(app.state.db) for app in apps]
        _until(lambda: all(passes[w] >= PASSES for w in workers), f"{PASSES} mailer passes on each worker")
        _until(lambda: _statuses(db) == [OutboxStatus.SENT], "the one reminder sent")
    assert len(smtp_sink.received) == 1 and smtp_sink.received[0].rcpt_tos == [ADDRESS]


def _statuses(db: Database) -> list[OutboxStatus]:
    with db.read() as s:
        return [r.status for t in ("kobenhavn", "rodovre") for r in ob.items(s, tenant_id=t, kind=OutboxKind.REVIEW_REMINDER)]
