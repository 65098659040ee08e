"""Poll an IMAP mailbox into `MailService.ingest`, acknowledging only what is stored.

`poll_once` fetches unseen mail (not marked seen), ingests each message (the raw mail is committed
before `ingest` returns) and only then acks it. If the connection drops between fetch and ack, or
the process dies, the mail stays unseen, is fetched again on the next poll and recognised as a
duplicate by its Message-ID: nothing is lost and nothing is handled twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.errors import DatabaseUnavailable, MailTransportError
from connectors.email.service import MailService
from connectors.email.transport import ImapPoller

__all__ = ["PollStats", "poll_once", "run_imap_poller"]

log = logging.getLogger("kontakt.email.imap")


@dataclass(frozen=True, slots=True)
class PollStats:
    fetched: int = 0
    ingested: int = 0  # stored for the first time
    duplicates: int = 0
    acked: int = 0


def poll_once(poller: ImapPoller, service: MailService, tenant_id: str) -> PollStats:
    """One poll. Raises `ImapUnavailable`/`MailAuthFailed` from the server and
    `DatabaseUnavailable` when a mail cannot be stored (that mail and the rest stay un-acked)."""
    batch = poller.fetch_new()
    ingested = duplicates = acked = 0
    for uid, raw in batch:
        result = service.ingest(tenant_id, raw, source="imap")
        if result.duplicate:
            duplicates += 1
        else:
            ingested += 1
        poller.ack(uid)
        acked += 1
    return PollStats(fetched=len(batch), ingested=ingested, duplicates=duplicates, acked=acked)


async def run_imap_poller(
    poller: ImapPoller,
    service: MailService,
    tenant_id: str,
    *,
    interval: float = 30.0,
    stop: asyncio.Event | None = None,
) -> None:
    """`poll_once` every `interval` seconds (in a thread) until `stop` is set; server and database
    outages are logged and retried on the next tick. Closes the poller at the end."""
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            try:
                stats = await asyncio.to_thread(poll_once, poller, service, tenant_id)
                if stats.fetched:
                    log.info("imap %s: %s", tenant_id, stats)
            except (MailTransportError, DatabaseUnavailable) as exc:
                log.warning("imap %s: %s", tenant_id, exc)
            except Exception:  # noqa: BLE001 - keep polling; un-acked mail is fetched again
                log.exception("imap %s: unexpected error", tenant_id)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
    finally:
        await asyncio.to_thread(poller.close)
