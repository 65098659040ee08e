"""Fixtures for the voice connector: the real app with the real trained model on its own SQLite
database (a copy of a migrated one), requests signed with a test auth token exactly as Twilio
signs them, an injectable clock, and the app's call store (the database, as in production)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from voice_helpers import OPEN_NOW, TOKEN, Clock, TestClient, Twilio

from bot.api import create_app
from connectors.voice.config import VoiceSettings
from connectors.voice.engine_store import EngineCallStore
from connectors.voice.routes import get_now, router
from connectors.voice.security import get_voice_settings
from connectors.voice.wiring import voice_channel
from tests.bot.conftest import migrated_sqlite  # noqa: F401


@pytest.fixture
def voice_settings() -> VoiceSettings:
    return VoiceSettings(twilio_auth_token=TOKEN)


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN_NOW)


@pytest.fixture
def app_settings(settings, tmp_path, migrated_sqlite):  # noqa: F811
    target = tmp_path / "voice.sqlite3"
    shutil.copyfile(migrated_sqlite, target)
    return settings.model_copy(update={"database_url": f"sqlite:///{target}"})


@pytest.fixture
def app(app_settings, understanding, voice_settings, clock):
    app = create_app(app_settings, routers=[router], understanding=understanding, background=[voice_channel])
    app.dependency_overrides[get_voice_settings] = lambda: voice_settings
    app.dependency_overrides[get_now] = lambda: clock.now
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def store(app, client) -> EngineCallStore:
    """The store the webhooks use: every record read here comes from the database."""
    return app.state.voice_calls


@pytest.fixture
def twilio(client) -> Twilio:
    return Twilio(client)
