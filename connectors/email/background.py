"""The e-mail channel's background tasks for the app lifespan: the outbox worker (SMTP), the IMAP
poller and the deadline checker (which also retries stored mail that failed to be handled).

    async with email_background(app):   # inside the lifespan, after app.state.engine exists
        yield
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import FastAPI

from bot.outbox_worker import run_outbox_worker
from bot.storage import outbox as ob
from bot.storage.models import Channel
from connectors.email.poller import run_imap_poller
from connectors.email.routes import get_email_settings, get_mail_service
from connectors.email.service import run_deadline_checker, smtp_sender
from connectors.email.transport import ImapPoller, SmtpSender

__all__ = ["email_background"]


@contextlib.asynccontextmanager
async def email_background(app: FastAPI) -> AsyncIterator[None]:
    """Start the tasks the settings ask for; stop them (and wait) when the block ends."""

    class _Req:  # the route helpers take a request; they only read request.app
        def __init__(self, a: FastAPI) -> None:
            self.app = a

    req = _Req(app)
    settings = get_email_settings(req)  # type: ignore[arg-type]
    service = get_mail_service(req)  # type: ignore[arg-type]
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    clock = lambda: datetime.now(UTC)  # noqa: E731
    if settings.smtp_host:
        smtp = SmtpSender(
            settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
            starttls=settings.smtp_starttls, ssl=settings.smtp_ssl,
        )  # fmt: skip
        policy = ob.RetryPolicy(poison_after=settings.poison_attempts)
        tasks.append(asyncio.create_task(run_outbox_worker(
            service.db, {Channel.EMAIL: smtp_sender(smtp)}, clock, interval=settings.outbox_seconds, stop=stop,
            policy=policy)))
    if settings.imap_host and settings.imap_user and settings.imap_password:
        poller = ImapPoller(settings.imap_host, settings.imap_port, settings.imap_user, settings.imap_password,
                            ssl=settings.imap_ssl)  # fmt: skip
        tenant_id = settings.imap_tenant or service.tenants.default_tenant
        tasks.append(asyncio.create_task(run_imap_poller(
            poller, service, tenant_id, interval=settings.poll_seconds, stop=stop)))
    tasks.append(asyncio.create_task(run_deadline_checker(
        service, interval=settings.deadline_check_seconds, stop=stop)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
