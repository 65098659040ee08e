"""The e-mail channel's part of the app's start-up: the one `MailService` (used by the inbound
route, the IMAP poller, the deadline checker and the agent console's replies), then the outbox
worker (SMTP), the IMAP poller and the deadline checker (which also retries stored mail that
failed to be handled), each only when the settings ask for it.

    create_app(settings, routers=[email_router], background=[email_services])
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI

from bot.channels import Channels
from bot.outbox_worker import run_outbox_worker
from bot.storage import outbox as ob
from bot.storage.models import Channel
from connectors.email.mailboxes import MailboxSecrets
from connectors.email.poller import run_imap_poller
from connectors.email.service import MailService, run_deadline_checker, smtp_sender
from connectors.email.settings import EmailSettings
from connectors.email.transport import ImapPoller, SmtpSender

__all__ = ["MAILS_HANDLED_AT_ONCE", "email_services"]

# Pushed mails handled at once per worker, each in a request thread. A burst of 200 at 8 at a time
# held half the threads and more than half the CPU, and chat turns beside it waited (p99 1.4–2.0 s
# with 4 chat clients on 2 cores); at 2 the chat p99 fell to 0.4–1.0 s and the burst still took
# seconds. Mail is answered by an auto-reply, not while someone watches; a chat turn is.
MAILS_HANDLED_AT_ONCE = 2


@contextlib.asynccontextmanager
async def email_services(app: FastAPI, *, workers: bool = True) -> AsyncIterator[None]:
    """Build the mail service once and start the tasks the settings ask for; stop them (and
    wait) when the app stops. `workers=False` builds the service only (tests that drive the
    outbox and the checker by hand)."""
    state = app.state
    settings: EmailSettings = state.email_settings
    service = MailService(state.engine, state.understanding, state.tenants, state.db,
                          reply_hours=settings.promise_hours, max_handle_attempts=settings.poison_attempts)  # fmt: skip
    state.mail_service = service
    state.mail_handling = anyio.CapacityLimiter(MAILS_HANDLED_AT_ONCE)  # POST /email/inbound
    # Each address's own push secret and IMAP password, from the variables tenants.yaml names.
    state.mailbox_secrets = secrets = MailboxSecrets.from_environment(service.tenants, os.environ)
    channels: Channels = state.channels
    channels.reply_senders["email"] = service.send_agent_reply  # agent replies leave by mail
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    if workers and settings.smtp_host:
        smtp = SmtpSender(
            settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
            starttls=settings.smtp_starttls, ssl=settings.smtp_ssl,
        )  # fmt: skip
        policy = ob.RetryPolicy(poison_after=settings.poison_attempts)
        tasks.append(asyncio.create_task(run_outbox_worker(
            service.db, {Channel.EMAIL: smtp_sender(smtp)}, service.clock, interval=settings.outbox_seconds,
            stop=stop, policy=policy)))  # fmt: skip
    if workers and settings.imap_host and settings.imap_user and settings.imap_password:
        # The installation-wide mailbox (KONTAKT_EMAIL_IMAP_*), for KONTAKT_EMAIL_IMAP_TENANT.
        poller = ImapPoller(settings.imap_host, settings.imap_port, settings.imap_user, settings.imap_password,
                            ssl=settings.imap_ssl)  # fmt: skip
        tenant_id = settings.imap_tenant or service.tenants.default_tenant
        tasks.append(asyncio.create_task(run_imap_poller(
            poller, service, tenant_id, interval=settings.poll_seconds, stop=stop)))
    for tenant, address in secrets.polled(service.tenants) if workers else ():
        # A municipality's own mailbox: what arrives there is that municipality's mail.
        imap = next(m.imap for m in tenant.mailboxes if m.address == address and m.imap is not None)
        poller = ImapPoller(imap.host, imap.port, imap.user, secrets.imap[address], ssl=imap.ssl)
        tasks.append(asyncio.create_task(run_imap_poller(
            poller, service, tenant.id, interval=settings.poll_seconds, stop=stop)))
    if workers:
        tasks.append(asyncio.create_task(run_deadline_checker(
            service, interval=settings.deadline_check_seconds, stop=stop)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
