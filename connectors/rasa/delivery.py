"""Delivery of Rasa callback conversations: the outbox sender that POSTs a message to
KONTAKT_CALLBACK_URL, and the worker that runs it in the app lifespan.

A handover row (connectors/rasa/service.py) is PENDING until the callback URL answers 2xx.
Anything else (connection refused, timeout, 5xx, 4xx) is retried with backoff by the outbox
(`bot.outbox_worker.deliver_due`, `bot.storage.outbox.RetryPolicy`) and, out of attempts, kept
as FAILED with an `outbox_failed` event; a delivery never fails the citizen's or agent's
request. A message waits while an older one of the same conversation is still undelivered, so
the client sees them in order. The worker runs at once when this process hands something over
(`wake`) and every `outbox_seconds` otherwise; workers of several processes share the outbox
safely (claims are leases, bot/storage/outbox.py). At start and every `sweep_seconds` it also
hands over messages a stopped process stored but never handed over (`RasaChannel.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from bot.config import CallbackSettings
from bot.errors import CallbackOutOfOrder, CallbackRefused, DatabaseUnavailable
from bot.outbox_worker import Sender, deliver_due
from bot.storage import deliveries
from bot.storage import outbox as ob
from bot.storage.db import Database
from connectors.rasa.service import CHANNEL, RasaChannel

__all__ = ["callback_sender", "rasa_background", "run_callback_worker"]

log = logging.getLogger("kontakt.rasa")

if TYPE_CHECKING:
    import httpx  # imported where a callback URL is set: its import costs a server 0.1 s of start-up


def callback_sender(db: Database, url: str, client: httpx.Client) -> Sender:
    """POST the stored JSON body to `url`; raise unless it answers 2xx."""

    def send(item: ob.OutboxView) -> None:
        if item.contact_id is not None:
            with db.read() as s:
                if deliveries.earlier_undelivered(s, item_id=item.id, contact_id=item.contact_id):
                    raise CallbackOutOfOrder(f"outbox item {item.id} waits for an earlier message of its conversation")
        r = client.post(url, content=item.payload, headers={"Content-Type": "application/json"})
        if not r.is_success:  # the body is not read: it may echo the citizen's words
            raise CallbackRefused(f"the callback URL answered {r.status_code} to outbox item {item.id}")

    return send


CATCH_UP_WINDOW = timedelta(hours=1)  # how far back a sweep looks for conversations that changed
CATCH_UP_GRACE = timedelta(seconds=5)  # ... and how long a change is left to its own request


async def run_callback_worker(
    db: Database,
    sender: Sender,
    clock: Callable[[], datetime],
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    interval: float,
    policy: ob.RetryPolicy,
    catch_up: Callable[[datetime, datetime], int] | None = None,
    sweep_seconds: float = 30.0,
) -> None:
    """`deliver_due` for the Rasa callback's items whenever woken, else every `interval` s;
    before it, at start and every `sweep_seconds`, `catch_up` hands over what is still owed."""
    loop = asyncio.get_running_loop()
    next_sweep = loop.time()
    while not stop.is_set():
        wake.clear()
        if catch_up is not None and loop.time() >= next_sweep:
            next_sweep = loop.time() + sweep_seconds
            try:
                now = clock()
                owed = await asyncio.to_thread(catch_up, now - CATCH_UP_WINDOW, now - CATCH_UP_GRACE)
                if owed:
                    log.warning("rasa callback: %s stored message(s) had not been handed over; they are now", owed)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("rasa callback: catching up failed")
        try:
            stats = await asyncio.to_thread(deliver_due, db, {CHANNEL: sender}, clock(), policy=policy)
            if stats.claimed:
                log.info("rasa callback: %s", stats)
        except DatabaseUnavailable as exc:
            log.warning("rasa callback: %s", exc)
        except Exception:  # noqa: BLE001 - keep the worker alive; the items stay claimable
            log.exception("rasa callback: unexpected error")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)


@contextlib.asynccontextmanager
async def rasa_background(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan hook (after the core has loaded): the `RasaChannel` on app.state.rasa_channel,
    its watcher for agent replies, and the callback worker when KONTAKT_CALLBACK_URL is set."""
    settings: CallbackSettings = app.state.settings.callback
    loop = asyncio.get_running_loop()
    wake, stop = asyncio.Event(), asyncio.Event()

    def wake_worker() -> None:  # called from request threads
        with contextlib.suppress(RuntimeError):  # the loop has stopped: the next start delivers
            loop.call_soon_threadsafe(wake.set)

    channel = RasaChannel(app.state.engine, app.state.understanding, app.state.tenants, wake=wake_worker)
    app.state.rasa_channel = channel
    app.state.channels.watchers.append(channel.on_changed)
    if settings.url is None:
        yield
        return
    import httpx

    client = httpx.Client(timeout=settings.timeout_seconds)
    policy = ob.RetryPolicy(base=timedelta(seconds=settings.retry_seconds), poison_after=ob.DEFAULT_POISON_ATTEMPTS)
    task = asyncio.create_task(run_callback_worker(
        app.state.engine.db, callback_sender(app.state.engine.db, settings.url, client), app.state.engine.clock,
        wake=wake, stop=stop, interval=settings.outbox_seconds, policy=policy, catch_up=channel.catch_up,
        sweep_seconds=settings.sweep_seconds,
    ))  # fmt: skip
    try:
        yield
    finally:
        stop.set()
        wake.set()
        await asyncio.gather(task, return_exceptions=True)
        client.close()
