"""The one entry point that sees everything: settings, the core API and every channel's router.
`python -m bot serve` runs `uvicorn --factory connectors.app:build_app`; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.alerts import router as alerts_router
from bot.api.capacity import router as capacity_router
from bot.api.console import router as console_router
from bot.api.quarantine import router as quarantine_router
from bot.api.supervisor import router as supervisor_router
from bot.config import Settings, get_settings
from connectors.email.background import email_background
from connectors.email.routes import get_mail_service
from connectors.email.routes import router as email_router
from connectors.voice.routes import router as voice_router
from connectors.voice.wiring import voice_channel
from connectors.webchat import router as webchat_router
from connectors.webchat.engine_backend import install_engine_backend
from connectors.webchat.notify import notify


@asynccontextmanager
async def channel_hooks(app: FastAPI) -> AsyncIterator[None]:
    """After the core has loaded: how agent actions reach each channel."""

    class _Request:  # get_mail_service only reads request.app
        def __init__(self, a: FastAPI) -> None:
            self.app = a

    channels = app.state.channels
    channels.reply_senders["email"] = get_mail_service(_Request(app)).send_agent_reply
    channels.watchers.append(lambda tenant_id, contact_id: notify(app.state.db, contact_id))
    yield


def build_app(settings: Settings | None = None, **kwargs) -> FastAPI:
    settings = settings or get_settings()
    app = create_app(
        settings,
        routers=[webchat_router, voice_router, email_router, agents_router, supervisor_router, capacity_router,
                 quarantine_router, alerts_router, console_router],
        # Voice: the call store on the engine, the bridge on accept, agents' replies as callbacks.
        background=[channel_hooks, voice_channel, email_background],
        **kwargs,
    )
    install_engine_backend(app)  # chat state lives in the engine (shared by every worker)
    return app



def __getattr__(name: str):
    # `uvicorn connectors.app:app` still works for those who start it by hand.
    if name == "app":
        return build_app()
    raise AttributeError(name)
