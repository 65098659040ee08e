"""Deliver the outbox: claim due items, hand each to its channel's sender, record the outcome.

`bot` knows no transport: a sender is any callable `(OutboxView) -> None` registered per channel
(the e-mail one is `connectors.email.service.smtp_sender`). A sender raises on failure; an
exception in `permanent` (default: `SmtpRejected`) fails the item at once, anything else is
retried with backoff (`bot.storage.outbox.RetryPolicy`). Claim and outcome are two committed
transactions around the send, so a crash mid-send leaves the item SENDING until its lease runs
out and it is sent again (at-least-once; the receiving side dedupes by Message-ID).

Run `run_outbox_worker` as a background task in the app lifespan, or call `deliver_due` yourself.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.errors import DatabaseUnavailable, SmtpRejected
from bot.storage import outbox as ob
from bot.storage.db import Database
from bot.storage.models import Channel

__all__ = ["DeliveryStats", "Sender", "deliver_due", "run_outbox_worker"]

log = logging.getLogger("kontakt.outbox")

Sender = Callable[[ob.OutboxView], None]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # failed this time, will be tried again
    failed: int = 0  # permanently failed (refused, or out of attempts)


def deliver_due(
    db: Database,
    senders: Mapping[Channel, Sender],
    now: datetime,
    *,
    policy: ob.RetryPolicy = ob.DEFAULT_RETRY,
    limit: int = 50,
    permanent: tuple[type[BaseException], ...] = (SmtpRejected,),
    rand: Callable[[], float] = random.random,
) -> DeliveryStats:
    """One pass over the due items of the channels in `senders`."""
    if now.tzinfo is None:
        raise ValueError("deliver_due: pass an aware `now` (UTC)")
    with db.write() as s:
        claimed = [ob.OutboxView.of(r) for r in ob.claim_due(s, now=now, channels=list(senders), limit=limit,
                                                             policy=policy)]  # fmt: skip
    sent = retried = failed = 0
    for item in claimed:
        try:
            senders[item.channel](item)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the item
            is_permanent = isinstance(exc, permanent)
            error = f"{type(exc).__name__}: {exc}"
            with db.write() as s:
                row = ob.mark_failed(s, item_id=item.id, error=error, now=now, permanent=is_permanent,
                                     policy=policy, rand=rand)  # fmt: skip
                final = row.status is ob.OutboxStatus.FAILED
            if final:
                failed += 1
                log.error("outbox item %s (%s) failed for good after %s attempt(s): %s",
                          item.id, item.kind.value, item.attempts, error)  # fmt: skip
            else:
                retried += 1
                log.warning("outbox item %s (%s) attempt %s failed, will retry: %s",
                            item.id, item.kind.value, item.attempts, error)  # fmt: skip
            continue
        with db.write() as s:
            ob.mark_sent(s, item_id=item.id, now=now)
        sent += 1
    return DeliveryStats(claimed=len(claimed), sent=sent, retried=retried, failed=failed)


async def run_outbox_worker(
    db: Database,
    senders: Mapping[Channel, Sender],
    clock: Callable[[], datetime],
    *,
    interval: float = 5.0,
    stop: asyncio.Event | None = None,
    policy: ob.RetryPolicy = ob.DEFAULT_RETRY,
) -> None:
    """Call `deliver_due` every `interval` seconds (in a thread: senders block) until `stop` is
    set or the task is cancelled. A database outage is logged and retried on the next tick."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            stats = await asyncio.to_thread(deliver_due, db, senders, clock(), policy=policy)
            if stats.claimed:
                log.info("outbox: %s", stats)
        except DatabaseUnavailable as exc:
            log.warning("outbox: %s", exc)
        except Exception:  # noqa: BLE001 - keep the worker alive; the item stays claimable
            log.exception("outbox: unexpected error")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
