"""HTTP API. `create_app(settings, routers=[...])` builds the app; models load in the lifespan."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from starlette.datastructures import URL, Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import __version__
from bot.api.ratelimit import RateLimit, RateLimits, RateLimitSettings
from bot.channels import Channels
from bot.clock import Clock, utcnow
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.errors import KontaktError, UnknownTenant, http_status
from bot.privacy import RedactingFilter, redact
from bot.storage import Database
from bot.tenants import load_tenants
from bot.understanding import Understanding

log = logging.getLogger("kontakt.api")


# Rasa's endpoints read the body as JSON whatever its content type; its documented
# `curl ... -d '{"text": ...}'` sends a form type, so these paths are read the same way.
RASA_JSON_PATHS = frozenset({"/model/parse", "/webhooks/rest/webhook", "/webhooks/callback/webhook"})
_FORM = b"application/x-www-form-urlencoded"


class RasaJsonBody:
    """Treat a form-typed body on Rasa's JSON endpoints as JSON (plain ASGI, headers only)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str] = RASA_JSON_PATHS) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            headers = scope["headers"]
            if any(k == b"content-type" and v.split(b";")[0].strip().lower() == _FORM for k, v in headers):
                headers = [(k, b"application/json" if k == b"content-type" else v) for k, v in headers]
                scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over the limit with 413 before reading them into memory.

    Plain ASGI rather than `BaseHTTPMiddleware`, which runs every request through a task group
    and memory streams of its own: a measurable share of the event loop's time per chat message."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt  # routes that enforce their own (larger) limit, e.g. raw e-mail

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            {"error": "payload_too_large", "message": f"Request body is larger than {self.max_bytes} bytes."},
            status_code=413,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or URL(scope=scope).path.startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large()(scope, receive, send)
            return
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # No length announced (chunked): read it all, counting, then hand it on whole.
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                body += message.get("body", b"")
                if len(body) > self.max_bytes:
                    await self._too_large()(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, as one message, then what the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(value: str) -> str:
    """Refuse a lone UTF-16 surrogate (JSON allows the escape "\\ud800"): no UTF-8 encoder,
    database or socket can carry it, so it is bad input, not text."""
    if _SURROGATE.search(value):
        raise ValueError("the text contains a lone surrogate (an invalid \\uD800-\\uDFFF escape)")
    return value


# A string field that is real Unicode text (use it for every string a request stores or echoes).
Text = Annotated[str, AfterValidator(no_surrogates)]


def printable(value: object, limit: int = 200) -> str:
    """`value` as text that can always be encoded as UTF-8 (a lone surrogate from a JSON escape
    becomes '?') and is at most `limit` characters long: safe to echo in an error body."""
    text = value if isinstance(value, str) else str(value)
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def error_body(exc: KontaktError) -> tuple[int, dict[str, str]]:
    """Status and `{error, message}` for one of our errors at the HTTP edge, the status from the
    one table in bot/errors.py (`http_status`). An unknown tenant is named by the caller only:
    the answer never lists the tenants that exist."""
    if isinstance(exc, UnknownTenant):
        return 404, {"error": "unknown_tenant", "message": "This municipality (tenant) is not served here."}
    return http_status(exc), {"error": type(exc).__name__, "message": redact(printable(exc, 1000))}


def install_log_redaction() -> None:
    """Every handler that can carry citizen text gets the CPR filter (uvicorn's too)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "kontakt"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


def create_app(
    settings: Settings,
    routers: Sequence[APIRouter] = (),
    understanding: Understanding | None = None,
    background: Sequence[Callable[[FastAPI], AbstractAsyncContextManager]] = (),
    rate_limits: RateLimitSettings | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """The app: core API plus the given routers. The lifespan builds every core service once
    (understanding, tenants, database, engine) and puts it where the named dependencies of
    `bot/api/deps.py` read it; then the `background` parts run in order, each a channel's
    start-up (its services, pollers, workers) that stops before the core does.
    `understanding` and `clock` replace the real model and the wall clock (tests, tools);
    `rate_limits` defaults to the KONTAKT_RATELIMIT_* environment (bot/api/ratelimit.py)."""
    install_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        started = time.perf_counter()
        state = app.state
        state.understanding = understanding or Understanding.load(settings)
        # Checked against the topic contract: a queue typo stops the start, naming tenant and key.
        state.tenants = load_tenants(settings.tenants_file, state.understanding.contract)
        db = Database(settings.database_url)
        db.migrate()
        engine = ConversationEngine(db, state.understanding.contract, clock=clock,
                                    email_sla_hours=settings.email.promise_hours)  # fmt: skip
        for t in state.tenants.tenants:  # queues, hours and routing policy per knowledge/tenants.yaml
            engine.set_up_tenant(t)
        state.db, state.engine = db, engine
        state.ready_seconds = round(time.perf_counter() - started, 3)
        log.info("kontakt ready in %.2f s", state.ready_seconds)
        try:
            async with AsyncExitStack() as stack:
                for hook in background:
                    await stack.enter_async_context(hook(app))
                yield
        finally:
            db.dispose()

    app = FastAPI(
        title="kontakt",
        version=__version__,
        description="Danish-first front for municipal contact centres. Rasa-compatible NLU, REST and callback channels.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Per-app caches of the reports and the console's offer feed (set by the routing part).
    from bot.api.wallboard import TodayCache
    from bot.stats.config import KpiConfigFile

    app.state.kpi_config_file, app.state.stats_today = KpiConfigFile(settings.kpi_file), TodayCache()
    app.state.offer_feed = None
    app.state.channels = Channels()  # filled by the channels' start-up hooks (bot/channels.py)
    # Each channel's part of the one Settings, where its routes look for it.
    app.state.email_settings, app.state.voice_settings = settings.email, settings.voice
    app.add_middleware(RasaJsonBody)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt=("/email/inbound",))
    # One set of buckets per app, shared by the middleware and the chat WebSocket route.
    app.state.rate_limits = limits = RateLimits(rate_limits or settings.ratelimit)
    app.add_middleware(RateLimit, limits=limits)  # outermost: refuse floods before any work

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A location may hold a key the client sent (a lone surrogate, a huge string): echo it safely.
        errors = [
            {"loc": [p if isinstance(p, int) else printable(p) for p in e.get("loc", ())],
             "msg": printable(e.get("msg", ""), 1000), "type": printable(e.get("type", ""))}
            for e in exc.errors()
        ]  # fmt: skip
        return JSONResponse(
            {"error": "invalid_request", "message": "The request body is not valid JSON of the expected shape.",
             "details": errors},
            status_code=422 if not any(e["type"] == "json_invalid" for e in errors) else 400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own errors (e.g. an unparseable body) get the same shape as ours.
        return JSONResponse(
            {"error": "http_error", "message": redact(printable(exc.detail, 1000))}, status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(KontaktError)
    async def _kontakt(request: Request, exc: KontaktError) -> JSONResponse:
        status, body = error_body(exc)
        if status >= 500:
            log.error("request failed: %s", exc)
        return JSONResponse(body, status_code=status)

    from bot.api import rasa

    app.include_router(rasa.router)
    for r in routers:
        app.include_router(r)
    return app
