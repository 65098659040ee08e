"""The one entry point that sees everything: settings, the core API and every channel's router.
`python -m bot serve` runs `uvicorn --factory connectors.app:build_app`; nothing is built at import."""

from __future__ import annotations

from fastapi import FastAPI

from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.console import router as console_router
from bot.api.supervisor import router as supervisor_router
from bot.config import Settings, get_settings
from connectors.email.background import email_background
from connectors.email.routes import router as email_router
from connectors.voice.routes import router as voice_router
from connectors.webchat import router as webchat_router


def build_app(settings: Settings | None = None, **kwargs) -> FastAPI:
    return create_app(
        settings or get_settings(),
        routers=[webchat_router, voice_router, email_router, agents_router, supervisor_router, console_router],
        background=[email_background],
        **kwargs,
    )



def __getattr__(name: str):
    # `uvicorn connectors.app:app` still works for those who start it by hand.
    if name == "app":
        return build_app()
    raise AttributeError(name)
