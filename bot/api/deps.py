"""Named dependencies: what a route may ask of the app, each built once by the lifespan of
`create_app` (the composition root) and read here, never built on first use.

    def overview(engine: EngineDep, tenants: TenantsDep) -> ...

Parameters are typed `HTTPConnection`, so the same dependency serves HTTP routes and WebSockets.
The readers are `async def` although they do not wait: FastAPI runs a plain `def` dependency in
the thread pool, a hand-off per dependency per request, where reading an attribute is all they do.
A channel's own services (the chat backend, the mail service) have their dependency next to the
channel's routes in `connectors/`, set by that channel's start-up part."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from starlette.requests import HTTPConnection

from bot.agent_accounts import token_pepper
from bot.api.ratelimit import RateLimits
from bot.channels import Channels
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.knowledge.live import LiveKnowledge
from bot.knowledge.review import ReviewCatalogueFile
from bot.storage.db import Database
from bot.tenants import Tenants
from bot.understanding import Understanding

__all__ = [
    "ChannelsDep", "DatabaseDep", "EngineDep", "KnowledgeDep", "PepperDep", "RateLimitsDep", "ReviewCatalogueDep",
    "SettingsDep", "TenantsDep", "UnderstandingDep", "get_channels", "get_database", "get_engine", "get_knowledge",
    "get_rate_limits", "get_review_catalogue", "get_settings", "get_tenants", "get_understanding", "request_pepper",
    "signature_once",
]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


def signature_once(call: F) -> F:
    """`call` with its signature resolved now. FastAPI reads a dependency's signature again for
    every route that uses it (72 routes take the database, 41 the bearer token), evaluating its
    string annotations each time: 0.07-0.1 s of a server's start-up CPU (measured). Where an
    annotation cannot be resolved yet, `call` is left as it is and FastAPI reads it as before."""
    try:
        call.__signature__ = inspect.signature(call, eval_str=True)  # type: ignore[attr-defined]
    except NameError:
        pass
    return call


@signature_once
async def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = conn.app.state.settings
    return settings


@signature_once
async def get_understanding(conn: HTTPConnection) -> Understanding:
    understanding: Understanding = conn.app.state.understanding
    return understanding


@signature_once
async def get_tenants(conn: HTTPConnection) -> Tenants:
    tenants: Tenants = conn.app.state.tenants
    return tenants


@signature_once
async def get_database(conn: HTTPConnection) -> Database:
    db: Database = conn.app.state.db
    return db


@signature_once
async def get_engine(conn: HTTPConnection) -> ConversationEngine:
    engine: ConversationEngine = conn.app.state.engine
    return engine


@signature_once
async def get_channels(conn: HTTPConnection) -> Channels:
    channels: Channels = conn.app.state.channels
    return channels


@signature_once
async def get_knowledge(conn: HTTPConnection) -> LiveKnowledge:
    """The articles in force and the editors' actions (set by `knowledge_background`)."""
    knowledge: LiveKnowledge = conn.app.state.knowledge
    return knowledge


@signature_once
async def get_rate_limits(conn: HTTPConnection) -> RateLimits:
    limits: RateLimits = conn.app.state.rate_limits
    return limits


@signature_once
async def get_review_catalogue(conn: HTTPConnection) -> ReviewCatalogueFile:
    """Articles with owners and review intervals (set by the knowledge-review start-up part)."""
    catalogue: ReviewCatalogueFile = conn.app.state.review_catalogue
    return catalogue


SettingsDep = Annotated[Settings, Depends(get_settings)]
UnderstandingDep = Annotated[Understanding, Depends(get_understanding)]
TenantsDep = Annotated[Tenants, Depends(get_tenants)]
DatabaseDep = Annotated[Database, Depends(get_database)]
EngineDep = Annotated[ConversationEngine, Depends(get_engine)]
ChannelsDep = Annotated[Channels, Depends(get_channels)]
KnowledgeDep = Annotated[LiveKnowledge, Depends(get_knowledge)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
ReviewCatalogueDep = Annotated[ReviewCatalogueFile, Depends(get_review_catalogue)]


@signature_once
def request_pepper(settings: SettingsDep) -> bytes:
    """The agent-token pepper; `AuthNotConfigured` (503) only on the routes that need it, so an
    installation without agents still serves the channels."""
    return token_pepper(settings)


PepperDep = Annotated[bytes, Depends(request_pepper)]
