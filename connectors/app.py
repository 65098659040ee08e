"""The composition root: the one place that sees everything. It takes the one `Settings`, and
`bot.api.create_app` builds the core services once in the lifespan (understanding, tenants,
database, engine); then each channel's start-up part below builds that channel's services
(chat backend, mail service, outbox worker, pollers) and registers how agent actions reach it.
Routers get everything through named dependencies (`bot/api/deps.py` and each channel's routes).
`python -m bot serve` runs `uvicorn --factory connectors.app:build_app`; nothing is built at import."""

from __future__ import annotations

from fastapi import FastAPI

from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.alerts import router as alerts_router
from bot.api.capacity import router as capacity_router
from bot.api.console import router as console_router
from bot.api.crisis import notice_router as crisis_notice_router
from bot.api.crisis import router as crisis_router
from bot.api.knowledge import page_router as knowledge_page_router
from bot.api.knowledge import router as knowledge_router
from bot.api.knowledge_review import review_background
from bot.api.knowledge_review import router as knowledge_review_router
from bot.api.live import router as live_router
from bot.api.live import routing_background
from bot.api.quarantine import router as quarantine_router
from bot.api.supervisor import router as supervisor_router
from bot.api.wallboard import stats_router
from bot.config import Settings, get_settings
from bot.engine.idle import idle_background
from bot.heap import serve_heap, serving_gc, serving_memory
from bot.knowledge.live import knowledge_background
from connectors.email.background import email_services
from connectors.email.routes import router as email_router
from connectors.rasa import rasa_background
from connectors.rasa import router as rasa_router
from connectors.voice.routes import router as voice_router
from connectors.voice.wiring import voice_channel
from connectors.webchat import router as webchat_router
from connectors.webchat.engine_backend import chat_services

# Every channel's and every API resource's router, in the order they are matched.
ROUTERS = [
    webchat_router,
    voice_router,
    email_router,
    agents_router,
    supervisor_router,
    capacity_router,
    quarantine_router,
    alerts_router,
    console_router,
    rasa_router,  # Rasa REST and callback channels (connectors/rasa)
    stats_router,  # management information: KPI reports, wallboard, /metrics
    crisis_router,  # crisis mode: the supervisors' switch and page
    crisis_notice_router,  # crisis mode: the widget's banner
    live_router,  # the console's live offers (server-sent events)
    knowledge_router,  # editors publish, preview and roll back knowledge articles
    knowledge_page_router,  # the editors' page
    knowledge_review_router,  # articles past their review date, for supervisors
]

# Start-up parts, run in order after the core has loaded and stopped in reverse before it.
PARTS = [
    serving_memory,  # at most 16 request threads; freed heap handed back every 10 s (bot/heap.py)
    knowledge_background,  # published article versions in force before serving, then polled each second
    chat_services,  # the web chat on the engine, its change feed and cross-worker notifications
    voice_channel,  # the call store on the engine, the bridge on accept, agents' replies as callbacks
    email_services,  # the mail service, agent replies by mail, outbox worker, IMAP poller, deadlines
    rasa_background,  # the Rasa channel, its agent-reply watcher and callback worker
    idle_background,  # closes bot conversations nobody has written in for a while
    routing_background,  # push routing: offers made the moment something changes
    review_background,  # the owners file checked at start-up; owners' weekly review reminders
    serving_gc,  # last: the cyclic collector back on, what start-up built frozen (bot/heap.py)
]


def build_app(settings: Settings | None = None, **kwargs) -> FastAPI:
    """The whole product. `kwargs` go to `create_app` (e.g. `understanding=`, `clock=`,
    `rate_limits=` in tests and tools)."""
    serve_heap()  # each worker process, before its threads start (bot/heap.py)
    app = create_app(settings or get_settings(), routers=ROUTERS, background=PARTS, **kwargs)
    return app


def __getattr__(name: str):
    # `uvicorn connectors.app:app` still works for those who start it by hand.
    if name == "app":
        return build_app()
    raise AttributeError(name)
