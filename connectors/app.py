"""The one entry point that sees everything: settings, the core API and every channel's router.
uvicorn serves `connectors.app:app` (`python -m bot serve` does this)."""

from __future__ import annotations

from fastapi import FastAPI

from bot.api import create_app
from bot.config import Settings, get_settings
from connectors.voice.routes import router as voice_router
from connectors.webchat import router as webchat_router


def build_app(settings: Settings | None = None, **kwargs) -> FastAPI:
    return create_app(settings or get_settings(), routers=[webchat_router, voice_router], **kwargs)


app = build_app()
