"""Push routing: the router runs when something changes and when a clock runs out, not when an
agent happens to pull.

- `RoutingSignal` (one per engine): the engine's methods mark a tenant whenever something the
  router depends on changed (a contact queued or transferred, an agent free or in another
  state, an offer declined or expired, a contact closed or abandoned). The mark is made when
  the transaction commits, never before, so the router never looks before the change is there.
- `RoutingTimers` and the pure `wake_at`: when the router must run even if nobody does anything
  (an offer expires and goes to the next agent, after-contact work ends, a waiting contact
  reaches its queue's overflow threshold).
- `Dispatcher`: one loop per worker. It routes the marked tenants and those whose timer is due,
  then sleeps until the next timer or the next mark. Every decision uses the engine's clock.
  While contacts wait it also routes every `safety_seconds`, which catches what no mark
  announces: a row another transaction held during a pass, or a change made by another
  process (the command line).

Several workers may route the same tenant at once: `ConversationEngine.route` locks rows
(FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), so no contact is offered
twice and no agent is overfilled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event

from bot.errors import DatabaseUnavailable, KontaktError

if TYPE_CHECKING:  # the engine imports this module; only type names flow back
    from bot.engine import ConversationEngine
    from bot.storage.repository import OfferView

log = logging.getLogger("kontakt.dispatch")

__all__ = ["Dispatcher", "RoutingSignal", "RoutingTimers", "next_overflow", "wake_at"]


class RoutingSignal:
    """Tenants whose routing may have changed since the dispatcher last looked. Thread-safe:
    the engine runs in request threads, the dispatcher in the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._listeners: list[Callable[[], None]] = []

    def notify(self, tenant_id: str) -> None:
        with self._lock:
            self._dirty.add(tenant_id)
            listeners = list(self._listeners)
        for wake in listeners:
            try:
                wake()
            except RuntimeError:  # the worker's loop is shutting down: nothing left to wake
                log.debug("routing wake-up after the loop closed", exc_info=True)

    def after_commit(self, session: Any, tenant_id: str) -> None:
        """Notify once `session` commits (nothing happens if it rolls back)."""
        sa_event.listen(session, "after_commit", lambda _s: self.notify(tenant_id), once=True)

    def take(self) -> set[str]:
        """The marked tenants, cleared."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            return dirty

    def listen(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` on every mark; returns the function that stops it."""
        with self._lock:
            self._listeners.append(wake)

        def stop() -> None:
            with self._lock:
                if wake in self._listeners:
                    self._listeners.remove(wake)

        return stop


# --- timers (pure) ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingTimers:
    """One tenant's clocks, as read from the database at one moment."""

    tenant_id: str
    waiting: int = 0
    offer_expiries: tuple[datetime, ...] = ()  # pending offers
    acw_ends: tuple[datetime, ...] = ()  # agents in after-contact work
    overflow_at: datetime | None = None  # the next waiting contact to reach its overflow threshold


def next_overflow(
    queued: Mapping[str | None, Sequence[datetime]], threshold: Callable[[str | None], timedelta | None], now: datetime
) -> datetime | None:
    """The earliest moment after `now` at which a waiting contact (queue → enqueue times)
    reaches its queue's overflow threshold; None if none will."""
    moments = [
        at + limit
        for queue_id, times in queued.items()
        if (limit := threshold(queue_id)) is not None
        for at in times
        if at + limit > now
    ]
    return min(moments, default=None)


def wake_at(timers: RoutingTimers) -> datetime | None:
    """When the router must next run for this tenant though nothing else happens (may be in
    the past: due now). Overflow only matters while contacts wait."""
    moments = [*timers.offer_expiries, *timers.acw_ends]
    if timers.waiting and timers.overflow_at is not None:
        moments.append(timers.overflow_at)
    return min(moments, default=None)


def due_tenants(
    scheduled: Mapping[str, datetime], marked: Iterable[str], now: datetime
) -> set[str]:
    """Marked tenants plus those whose timer has run out."""
    return set(marked) | {t for t, at in scheduled.items() if at <= now}


# --- the loop ---------------------------------------------------------------------------------------


class Dispatcher:
    """Routes marked and due tenants; `run` is the worker's loop, `step` one pass of it."""

    def __init__(
        self,
        engine: ConversationEngine,
        tenant_ids: Iterable[str],
        *,
        safety_seconds: float = 5.0,
        min_pause_seconds: float = 0.05,
        on_offers: Callable[[list[OfferView]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.tenant_ids = tuple(tenant_ids)
        self.safety = timedelta(seconds=safety_seconds)
        self.min_pause = min_pause_seconds
        self.on_offers = on_offers
        self._scheduled: dict[str, datetime] = {}
        self._waiting: set[str] = set()
        self._next_safety: datetime | None = None
        self._retry: set[str] = set()  # tenants whose pass failed because the database was away

    def step(self) -> datetime | None:
        """Route what is marked or due, read the timers again; returns when to run next
        (engine clock), None when only a mark can make routing useful."""
        now = self.engine.clock()
        marked = self.engine.routing_signal.take()
        due = due_tenants(self._scheduled, marked, now)
        if self._next_safety is None or now >= self._next_safety:
            due |= self._waiting | self._retry
            self._retry = set()
            self._next_safety = now + self.safety
        made: list[OfferView] = []
        for tenant_id in sorted(due):
            try:
                made.extend(self.engine.route(tenant_id))
            except DatabaseUnavailable as exc:  # tried again with the next safety pass
                log.warning("routing %s failed: %s", tenant_id, exc)
                self._retry.add(tenant_id)
            except KontaktError as exc:  # e.g. a tenant a channel named that is not set up
                log.warning("routing %s failed: %s", tenant_id, exc)
        if made and self.on_offers is not None:
            self.on_offers(made)
        timers = self.engine.routing_timers(self.tenant_ids)
        self._waiting = {t.tenant_id for t in timers if t.waiting}
        self._scheduled = {t.tenant_id: at for t in timers if (at := wake_at(t)) is not None}
        upcoming = [*self._scheduled.values()]
        if (self._waiting or self._retry) and self._next_safety is not None:
            upcoming.append(self._next_safety)
        return min(upcoming, default=None)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a pass, then sleep until the next timer, a mark, or `stop`."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:  # called from the thread that committed the change
            loop.call_soon_threadsafe(wake.set)

        unlisten = self.engine.routing_signal.listen(wake_up)
        retry = self.min_pause
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    next_at = await asyncio.to_thread(self.step)
                    delay = self._delay(next_at)
                    retry = self.min_pause
                except Exception:  # noqa: BLE001 - the loop must outlive a bad pass; it is logged
                    log.exception("routing pass failed; trying again")
                    retry = min(retry * 2, self.safety.total_seconds())
                    delay = retry
                await _first_of(wake, stop, timeout=max(delay, self.min_pause))
        finally:
            unlisten()

    def _delay(self, next_at: datetime | None) -> float:
        if next_at is None:
            return self.safety.total_seconds()
        seconds = (next_at - self.engine.clock()).total_seconds()
        return min(max(seconds, 0.0), self.safety.total_seconds())


async def _first_of(a: asyncio.Event, b: asyncio.Event, *, timeout: float) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w
