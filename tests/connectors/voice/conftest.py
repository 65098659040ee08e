"""Fixtures for the voice connector: the real app with the real trained model, requests signed
with a test auth token exactly as Twilio signs them, an injectable clock and the call store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from voice_helpers import OPEN_NOW, TOKEN, Clock, TestClient, Twilio

from bot.api import create_app
from connectors.voice.calls import InMemoryCallStore
from connectors.voice.config import VoiceSettings
from connectors.voice.routes import get_call_store, get_now, router
from connectors.voice.security import get_voice_settings


@pytest.fixture
def voice_settings() -> VoiceSettings:
    return VoiceSettings(twilio_auth_token=TOKEN)


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN_NOW)


@pytest.fixture
def store() -> InMemoryCallStore:
    return InMemoryCallStore()


@pytest.fixture
def app(settings, understanding, voice_settings, clock, store):
    app = create_app(settings, routers=[router], understanding=understanding)
    app.dependency_overrides[get_voice_settings] = lambda: voice_settings
    app.dependency_overrides[get_now] = lambda: clock.now
    app.dependency_overrides[get_call_store] = lambda: store
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def twilio(client) -> Twilio:
    return Twilio(client)
