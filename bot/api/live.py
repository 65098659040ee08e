"""Live offers for the agent console, and the worker's push-routing loop.

`GET /agent/api/live` is a server-sent-event stream (`text/event-stream`) of the calling agent's
pending offers, authenticated with the agent's bearer token like every agent endpoint (the
console reads it with `fetch`, which can send the header; `EventSource` cannot). Each `offers`
event carries the whole list, the agent's state and the server's time, so the console can
count down to each offer's expiry with its own clock corrected:

    event: offers
    data: {"server_now": "...", "state": "busy", "offers": [{"id": 7, "expires_at": "...", ...}]}

The stream ends after `seconds` (default 25) and the console connects again: a revoked token
is noticed within that time, and a restarting worker is not held up by open streams.

Several workers: an offer may be made by any worker, so each worker's `OfferFeed` reads the ids
of all pending offers (one small query on the partial index of pending offers) twice a second
while anyone is listening, and wakes the streams whose agent's offers changed. The worker's own
dispatcher pokes the feed as soon as it has made offers.

`routing_background` is the lifespan hook that runs both loops (connectors/app.py registers it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from bot.api.agents import OfferOut
from bot.api.auth import AgentRoute, CurrentAgent, DatabaseDep, EngineDep
from bot.engine import ConversationEngine
from bot.engine.dispatch import Dispatcher
from bot.errors import KontaktError
from bot.storage import routing_reads
from bot.storage.agent_queries import AgentIdentity, agent_live, my_offers
from bot.storage.db import Database
from bot.storage.routing_reads import PendingOfferKey

log = logging.getLogger("kontakt.live")

router = APIRouter(prefix="/agent/api", tags=["agent"], route_class=AgentRoute)

HEARTBEAT_SECONDS = 10.0  # a comment line keeps proxies from closing an idle stream
FALLBACK_POLL_SECONDS = 1.0  # without a feed (an app without routing_background)


class OfferFeed:
    """One per worker: which offers are pending, re-read while any console listens."""

    def __init__(self, db: Database, *, interval_seconds: float = 0.5) -> None:
        self.db = db
        self.interval = interval_seconds
        self.version = 0
        self.listeners = 0
        self._keys: frozenset[PendingOfferKey] = frozenset()
        self._changed = asyncio.Condition()
        self._poke = asyncio.Event()

    def offer_ids(self, agent_id: str) -> frozenset[int]:
        return frozenset(k.offer_id for k in self._keys if k.agent_id == agent_id)

    def poke(self) -> None:
        """Read now (call from the event loop): this worker has just made offers."""
        self._poke.set()

    async def wait(self, seen: int, timeout: float) -> int:
        """The version after `seen`, or `seen` again after `timeout` seconds."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen), timeout)
            return self.version

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._poke.clear()
            if self.listeners:
                try:
                    keys = await run_in_threadpool(self._read)
                except Exception:  # noqa: BLE001 - the database may be away; streams wait
                    log.warning("reading pending offers failed", exc_info=True)
                else:
                    if keys != self._keys:
                        self._keys = keys
                        async with self._changed:
                            self.version += 1
                            self._changed.notify_all()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._poke.wait())]
            await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    def _read(self) -> frozenset[PendingOfferKey]:
        with self.db.read() as s:
            return routing_reads.pending_offer_keys(s)


@contextlib.asynccontextmanager
async def routing_background(app: FastAPI) -> AsyncIterator[None]:
    """Push routing for this worker: the dispatcher loop and the offer feed of the consoles."""
    engine: ConversationEngine = app.state.engine
    feed = app.state.offer_feed = OfferFeed(app.state.db)
    tenants = [t.id for t in app.state.tenants.tenants]
    dispatcher = Dispatcher(engine, tenants, on_offers=lambda made: feed.poke())
    stop = asyncio.Event()
    tasks = [asyncio.create_task(dispatcher.run(stop)), asyncio.create_task(feed.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _snapshot(db: Database, engine: ConversationEngine, agent: AgentIdentity) -> dict[str, Any]:
    now = engine.clock()
    offers = [OfferOut.of(o, now).model_dump(mode="json") for o in my_offers(db, agent.tenant_id, agent.id)]
    state = agent_live(db, agent.tenant_id, agent.id).state
    return {"server_now": now.isoformat(), "state": state.value, "offers": offers}


def _fingerprint(snapshot: dict[str, Any]) -> tuple[object, ...]:
    return snapshot["state"], tuple((o["id"], o["expires_at"]) for o in snapshot["offers"])


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`offers` events (see module docs)"}},
)
async def live(
    request: Request,
    agent: CurrentAgent,
    db: DatabaseDep,
    engine: EngineDep,
    seconds: Annotated[int, Query(ge=0, le=300, description="Keep the stream open this long; 0 sends one event")] = 25,
) -> StreamingResponse:
    """My pending offers as they come and go (server-sent events). Any role."""
    feed: OfferFeed | None = request.app.state.offer_feed  # None until the routing part runs: re-read instead
    first = await run_in_threadpool(_snapshot, db, engine, agent)  # errors answer as JSON, before streaming

    async def events() -> AsyncIterator[bytes]:
        end = time.monotonic() + seconds
        last = _fingerprint(first)
        yield b"retry: 1000\n\n" + sse("offers", first)
        if feed is not None:
            feed.listeners += 1
        try:
            seen, ids = (feed.version, feed.offer_ids(agent.id)) if feed is not None else (0, frozenset[int]())
            quiet = time.monotonic()
            while (left := end - time.monotonic()) > 0:
                if feed is not None:
                    seen = await feed.wait(seen, min(left, HEARTBEAT_SECONDS))
                    changed, ids = feed.offer_ids(agent.id) != ids, feed.offer_ids(agent.id)
                else:
                    await asyncio.sleep(min(left, FALLBACK_POLL_SECONDS))
                    changed = True
                if changed:
                    try:
                        snapshot = await run_in_threadpool(_snapshot, db, engine, agent)
                    except KontaktError as exc:  # the database went away: the console connects again
                        log.warning("live offers for %s ended: %s", agent.id, exc)
                        return
                    if _fingerprint(snapshot) != last:
                        last, quiet = _fingerprint(snapshot), time.monotonic()
                        yield sse("offers", snapshot)
                        continue
                if time.monotonic() - quiet >= HEARTBEAT_SECONDS:
                    quiet = time.monotonic()
                    yield b": ping\n\n"
        finally:
            if feed is not None:
                feed.listeners -= 1

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})  # fmt: skip


__all__ = ["OfferFeed", "router", "routing_background", "sse"]
