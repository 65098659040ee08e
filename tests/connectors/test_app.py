"""The composition root (`connectors.app.build_app`): every service is built once, at start-up,
from the one Settings, and handed to the parts that use it."""

from __future__ import annotations

import warnings

import pytest

from bot.config import EmailSettings
from connectors.app import build_app
from connectors.email.background import MAILS_HANDLED_AT_ONCE
from connectors.email.service import MailService
from connectors.webchat.engine_backend import EngineChatBackend

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_app_builds_each_service_once_from_the_settings(settings, understanding, tmp_path) -> None:
    local = settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}",
        "email": EmailSettings(promise_hours=3.5, deadline_check_seconds=3600),
    })  # fmt: skip
    app = build_app(local, understanding=understanding)
    assert not hasattr(app.state, "engine")  # nothing is built before the app starts
    with TestClient(app):
        state = app.state
        assert isinstance(state.chat_backend, EngineChatBackend) and state.chat_backend.engine is state.engine
        assert isinstance(state.mail_service, MailService) and state.mail_service.engine is state.engine
        # agent replies to an e-mail contact leave through the same mail service the routes use
        assert state.channels.reply_senders["email"] == state.mail_service.send_agent_reply
        # the e-mail promise has one home: the auto-reply's deadline and the queue's SLA agree
        assert state.mail_service.reply_hours == state.engine.email_sla_hours == 3.5
        # pushed mail is handled a few at a time, so a burst leaves request threads to the chat
        assert state.mail_handling.total_tokens == MAILS_HANDLED_AT_ONCE
