"""An app factory for the two-worker test: the web chat on the engine, settings from the
environment (KONTAKT_DATABASE_URL). Served with `uvicorn --factory ...worker_app:create`."""

from __future__ import annotations

from bot.api import create_app
from bot.config import Settings
from connectors.webchat import router
from connectors.webchat.engine_backend import chat_services


def create():
    return create_app(Settings(), routers=[router], background=[chat_services])  # LISTEN/NOTIFY feed on PostgreSQL
