"""GET /agent/api/live (bot.api.live): the agent's pending offers as server-sent events.

The stream is served by real uvicorn and read with httpx; the offer is made by another worker
(its own Database and engine on the same SQLite file or PostgreSQL database), so the stream
can only learn of it from the database."""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.live import OfferFeed
from bot.api.live import router as live_router
from bot.engine import ConversationEngine
from bot.routing.skills import AgentState
from bot.storage import Database
from bot.types import HandoffReason

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration]

PEPPER = "live-api-pepper-0123456789abcdefghijklmnopqrstuv"
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEADLINE = 10.0  # seconds to wait for an event that must come


@contextlib.asynccontextmanager
async def feed_only(app: FastAPI) -> AsyncIterator[None]:
    """The offer feed without this worker's router: every offer here comes from the other worker."""
    import asyncio

    feed = app.state.offer_feed = OfferFeed(app.state.db)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


def _app(settings, understanding, url: str, background=()) -> FastAPI:
    local = settings.model_copy(update={"database_url": url, "agent_token_pepper": SecretStr(PEPPER)})
    return create_app(local, routers=[agents_router, live_router], understanding=understanding,
                      background=list(background))  # fmt: skip


def events(response: httpx.Response) -> Iterator[dict]:
    """The `offers` events of a stream, as they arrive."""
    kind, data = None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            if kind == "offers":
                yield json.loads("\n".join(data))
            kind, data = None, []


def test_live_needs_the_agent_token(settings, understanding, tmp_path):
    app = _app(settings, understanding, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    with TestClient(app) as client:
        r = client.get("/agent/api/live")
        assert r.status_code == 401 and r.json()["error"] == "NotAuthenticated"
        r = client.get("/agent/api/live", headers={"Authorization": "Bearer kontakt_wrong"})
        assert r.status_code == 401


def test_live_with_seconds_zero_sends_one_snapshot_and_ends(settings, understanding, tmp_path):
    app = _app(settings, understanding, f"sqlite:///{tmp_path / 'k.sqlite3'}")
    with TestClient(app) as client:
        engine: ConversationEngine = app.state.engine
        engine.clock = lambda: MONDAY_10
        token = create_agent(engine, token_pepper(app.state.settings), tenant_id="kobenhavn", agent_id="anne",
                             name="Anne", skills={"borgerservice_basis": 5})  # fmt: skip
        r = client.get("/agent/api/live?seconds=0", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        assert r.text.startswith("retry: 1000\n\nevent: offers\n")
        [snapshot] = events(httpx.Response(200, content=r.content))
        assert snapshot == {"server_now": MONDAY_10.isoformat(), "state": "offline", "offers": []}


def test_the_stream_sees_an_offer_made_by_another_worker(db: Database, settings, understanding, serve):
    app = _app(settings, understanding, db.url, background=[feed_only])
    base = serve(app)
    engine: ConversationEngine = app.state.engine
    token = create_agent(engine, token_pepper(app.state.settings), tenant_id="kobenhavn", agent_id="anne",
                         name="Anne", skills={"borgerservice_basis": 5})  # fmt: skip
    other_db = Database(db.url)  # the other worker
    other = ConversationEngine(other_db, understanding.contract, clock=lambda: datetime.now(UTC))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=DEADLINE) as http, \
                http.stream("GET", "/agent/api/live?seconds=30", headers=headers) as r:  # fmt: skip
            assert r.status_code == 200
            stream = events(r)
            assert next(stream)["offers"] == []
            other.set_agent_state("kobenhavn", "anne", AgentState.AVAILABLE)
            c = other.open_contact("kobenhavn", "chat", "live-1")
            other.record_inbound("kobenhavn", c.id, "Jeg vil tale med en medarbejder")
            other.request_handoff("kobenhavn", c.id, None, HandoffReason.ASKED_FOR_HUMAN)
            [made] = other.route("kobenhavn")
            deadline = time.monotonic() + DEADLINE
            for snapshot in stream:
                if snapshot["offers"] or time.monotonic() > deadline:
                    break
            assert [(o["id"], o["contact_id"]) for o in snapshot["offers"]] == [(made.id, c.id)]
            assert snapshot["state"] == "busy"
            other.decline_or_expire_offer("kobenhavn", made.id, agent_id="anne")
            for snapshot in stream:  # the declined offer disappears
                if not snapshot["offers"] or time.monotonic() > deadline:
                    break
            assert snapshot["offers"] == [] and snapshot["state"] == "paused"
    finally:
        other_db.dispose()
