"""The timer that ends quiet bot conversations (`ConversationEngine.close_idle`), as a lifespan
hook for the app, in the pattern of the e-mail channel's background tasks:

    background=[..., idle_background]   # in connectors/app.py, after the core has loaded

Every worker may run it: `close_idle` skips contacts another worker holds, so each ends once.
Each ended contact is announced to the channels (`app.state.channels.changed`), so a web chat
still open on some worker learns that its conversation is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.engine.endings import IdlePolicy

__all__ = ["close_idle_everywhere", "idle_background", "idle_policy", "run_idle_closer"]

log = logging.getLogger("kontakt.idle")
BATCH = 200


class _Engine(Protocol):
    def close_idle(
        self, tenant_id: str, now: datetime | None = None, *, idle: IdlePolicy | None = None, limit: int = 200
    ) -> Sequence[Any]: ...


Changed = Callable[[str, str], None]  # (tenant_id, contact_id)


def idle_policy(settings: Any) -> IdlePolicy:
    """The idle times from the one Settings (KONTAKT_BOT_IDLE_MINUTES, KONTAKT_BOT_IDLE_EMAIL_HOURS)."""
    return IdlePolicy(live=timedelta(minutes=settings.bot_idle_minutes),
                      email=timedelta(hours=settings.bot_idle_email_hours))  # fmt: skip


def close_idle_everywhere(
    engine: _Engine, tenant_ids: Sequence[str], now: datetime, idle: IdlePolicy, changed: Changed | None = None
) -> int:
    """One round: every tenant's idle bot conversations, in batches until none are left."""
    total = 0
    for tenant_id in tenant_ids:
        while True:
            batch = engine.close_idle(tenant_id, now, idle=idle, limit=BATCH)
            for contact in batch:
                if changed is not None:
                    changed(tenant_id, contact.id)
            total += len(batch)
            if len(batch) < BATCH:
                break
    return total


async def run_idle_closer(
    engine: _Engine,
    tenant_ids: Sequence[str],
    clock: Callable[[], datetime],
    idle: IdlePolicy,
    *,
    interval: float = 60.0,
    stop: asyncio.Event | None = None,
    changed: Changed | None = None,
) -> None:
    """`close_idle_everywhere` every `interval` seconds until `stop` is set; a failing round is
    logged and the next one runs as usual."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await asyncio.to_thread(close_idle_everywhere, engine, tenant_ids, clock(), idle, changed)
        except Exception:  # noqa: BLE001 - keep the timer alive; the next round retries
            log.exception("closing idle bot conversations failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


@contextlib.asynccontextmanager
async def idle_background(app: Any) -> AsyncIterator[None]:
    """Run the idle timer while the app lives (needs app.state.engine, tenants, settings)."""
    state = app.state
    stop = asyncio.Event()
    tenant_ids = [t.id for t in state.tenants.tenants]
    channels = state.channels
    task = asyncio.create_task(run_idle_closer(
        state.engine, tenant_ids, state.engine.clock, idle_policy(state.settings),
        interval=state.settings.bot_idle_check_seconds, stop=stop,
        changed=channels.changed,
    ))  # fmt: skip
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
