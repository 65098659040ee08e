"""Knowledge review for supervisors: the articles whose review is overdue, and the start-up part
that checks the owners file and mails owners their weekly reminder through the outbox.

    GET /api/v1/knowledge/stale[?tenant=…]   national articles and my tenant's local overlays
                                              past their review date, most overdue first

Supervisor or admin of the tenant (an agent gets 403, no token 401); naming another tenant
answers 404, like the reports. Each item: article id and title, national or local, owner (id,
name), last reviewed, due date, days overdue, and the path of its editing page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

from bot.api.auth import AgentRoute, EngineDep, SupervisorAgent
from bot.api.deps import ReviewCatalogueDep, TenantsDep
from bot.api.reports import own_tenant
from bot.errors import DatabaseUnavailable
from bot.knowledge.review import KnowledgePaths, ReviewCatalogueFile
from bot.knowledge.review_mail import EDIT_PATH, enqueue_reminders
from bot.storage.db import Database
from bot.tenants import Tenants

log = logging.getLogger("kontakt.knowledge")

router = APIRouter(tags=["knowledge"], route_class=AgentRoute)


@router.get("/api/v1/knowledge/stale")
def knowledge_stale(
    agent: SupervisorAgent, engine: EngineDep, catalogue: ReviewCatalogueDep, tenants: TenantsDep,
    tenant: Annotated[str | None, Query(max_length=64, description="Your own tenant id (the token's)")] = None,
) -> dict[str, Any]:  # fmt: skip
    """National articles and this tenant's local overlays whose review date plus interval has
    passed, by the engine's clock in the tenant's time zone; most overdue first."""
    tenant_id = own_tenant(agent.tenant_id, tenant)
    now = engine.clock()
    current = catalogue.get()
    items = current.stale(now, tenant_id)
    return {
        "tenant": {"id": tenant_id, "name": tenants.get(tenant_id).name},
        "at": now.isoformat(),
        "articles": [
            {
                "id": s.id, "title": s.title, "kind": s.kind.value, "tenant": s.tenant,
                "owner": {"id": s.owner, "name": current.owner(s.owner).name},
                "reviewed": s.reviewed.isoformat(), "due": s.due.isoformat(), "days_overdue": s.days_overdue,
                "edit": f"{EDIT_PATH}{s.id}",
            }
            for s in items
        ],
    }  # fmt: skip


# --- the start-up part ---------------------------------------------------------------------------


async def run_review_mailer(
    db: Database, catalogue: ReviewCatalogueFile, tenants: Tenants, clock: Callable[[], datetime], *,
    base_url: str, interval: float, stop: asyncio.Event,
) -> None:  # fmt: skip
    """`enqueue_reminders` every `interval` seconds until `stop`; a failing pass is logged and
    the next one tries again (the outbox key keeps a retried week from sending twice)."""
    while not stop.is_set():
        try:
            stored = await asyncio.to_thread(
                lambda: enqueue_reminders(db, catalogue.get(), tenants, clock(), base_url=base_url))
            if stored:
                log.info("review reminders: %s stored in the outbox", stored)
        except DatabaseUnavailable as exc:
            log.warning("review reminders: %s", exc)
        except Exception:  # noqa: BLE001 - keep the mailer alive; the next pass tries again
            log.exception("review reminders: unexpected error")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


@contextlib.asynccontextmanager
async def review_background(app: FastAPI) -> AsyncIterator[None]:
    """Read and check the owners file with every article and overlay (a bad file stops the
    start, naming the owner and key), then look for owed reminders every
    `Settings.review_check_seconds` by the engine's clock (read at each pass: tools and tests
    may set another)."""
    state = app.state
    settings = state.settings
    paths = KnowledgePaths(articles=settings.articles_dir, topics=settings.topics_file)
    state.review_catalogue = catalogue = await asyncio.to_thread(ReviewCatalogueFile, paths, state.tenants)
    stop = asyncio.Event()
    task = asyncio.create_task(run_review_mailer(
        state.db, catalogue, state.tenants, lambda: state.engine.clock(), base_url=settings.public_base_url,
        interval=settings.review_check_seconds, stop=stop))  # fmt: skip
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
