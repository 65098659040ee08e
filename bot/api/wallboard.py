"""Live figures: the supervisors' wallboard (JSON, polled by the page every few seconds), the
Prometheus scrape endpoint, and the two report pages with their static files.

    GET /api/v1/stats/live[?tenant=…]   the wallboard of my tenant, now
    GET /metrics                         Prometheus text format, my tenant's live values
    GET /agent/wallboard                 the wallboard page (Danish)
    GET /agent/reports                   the reports page with charts (Danish)

`/metrics` takes the same bearer token as the API (in Prometheus: `authorization:
{credentials: <supervisor token>}`), and a token shows its own tenant only; every series is
labelled `tenant`. Values: contacts waiting and the longest current wait per queue, agents by
state, and today's contacts by ending.

Today's contacts are folded again only when the tenant's event log has grown, so a room of
wallboards polling every few seconds costs one small query each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute

from bot.api import printable
from bot.api.auth import DatabaseDep, EngineDep, SupervisorAgent
from bot.api.console import SECURITY_HEADERS
from bot.api.reports import PREFIX, StatsRoute, kpi_config, own_tenant
from bot.stats.facts import ContactFacts
from bot.stats.grouping import COPENHAGEN
from bot.stats.live import AgentNow, Board, QueueNow, board

if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily
from bot.stats.service import load_facts
from bot.storage import stats as store
from bot.storage.agent_queries import agents_live, queue_loads
from bot.storage.db import Database

STATIC = Path(__file__).resolve().parent / "static" / "reports"
ASSETS = {
    "supervisor.js": "text/javascript; charset=utf-8",  # the page head and login both pages share
    "wallboard.js": "text/javascript; charset=utf-8",
    "reports.js": "text/javascript; charset=utf-8",
    "reports.css": "text/css; charset=utf-8",
}
PAGES = {"wallboard": "wallboard.html", "reports": "reports.html"}

router = APIRouter(tags=["reports"], route_class=StatsRoute)


class TodayCache:
    """Today's facts per tenant, folded again only when the event log has grown or the day
    has turned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[int, datetime], tuple[ContactFacts, ...]]] = {}

    def facts(self, db: Database, tenant_id: str, now: datetime) -> tuple[ContactFacts, ...]:
        today = now.astimezone(COPENHAGEN).date()
        start = datetime(today.year, today.month, today.day, tzinfo=COPENHAGEN).astimezone(UTC)
        with db.read() as s:
            stamp = (store.log_stamp(s, tenant_id=tenant_id), start)
        with self._lock:
            hit = self._entries.get(tenant_id)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        end = datetime.combine(today + timedelta(days=1), datetime.min.time(), COPENHAGEN).astimezone(UTC)
        facts = load_facts(db, tenant_id=tenant_id, start=start, end=end)
        with self._lock:
            self._entries[tenant_id] = (stamp, facts)
        return facts


def _cache(request: Request) -> TodayCache:
    cache: TodayCache = request.app.state.stats_today  # built with the app (bot.api.create_app)
    return cache


def live_board(request: Request, db: Database, tenant_id: str, now: datetime) -> Board:
    queues = [QueueNow(q.id, q.name, q.waiting, q.oldest_enqueued_at) for q in queue_loads(db, tenant_id)]
    agents = [AgentNow(a.id, a.state, a.acw_until, a.skills) for a in agents_live(db, tenant_id)]
    return board(queues, agents, _cache(request).facts(db, tenant_id, now), kpi_config(request, tenant_id), now)


def board_json(b: Board, tenant_id: str, tenant_name: str, limits: dict[str, Any]) -> dict[str, Any]:
    def r(v: float | None, digits: int = 1) -> float | None:
        return None if v is None else round(v, digits)

    return {
        "tenant": {"id": tenant_id, "name": tenant_name},
        "at": b.at.isoformat(),
        "limits": limits,
        "waiting": b.waiting,
        "longest_wait_seconds": r(b.longest_wait_seconds),
        "service_level": r(b.service_level, 4),
        "service_level_target": b.service_level_target,
        "agents": {s.value: n for s, n in b.agents.items()},
        "contacts_by_ending": {e.value: n for e, n in b.contacts_by_ending.items()},
        "alarms": [a.value for a in b.alarms],
        "queues": [
            {"id": t.id, "name": t.name, "waiting": t.waiting, "longest_wait_seconds": r(t.longest_wait_seconds),
             "service_level": r(t.service_level, 4), "service_level_target": t.service_level_target,
             "offered": t.offered, "answered": t.answered, "abandoned": t.abandoned,
             "agents": {s.value: n for s, n in t.agents.items()}, "alarms": [a.value for a in t.alarms]}
            for t in b.queues
        ],
    }  # fmt: skip


@router.get(PREFIX + "/live")
def stats_live(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: str | None = None
) -> dict[str, Any]:
    """The wallboard of my tenant now: per queue waiting, longest wait, today's service level
    against the target, agents by state, and which tiles are past their limits."""
    tenant_id = own_tenant(agent.tenant_id, tenant)
    b = live_board(request, db, tenant_id, engine.clock())
    limits = kpi_config(request, tenant_id).wallboard.model_dump()
    return board_json(b, tenant_id, agent.tenant_name, limits)


class _BoardCollector:
    """A Prometheus collector (what the registry calls is `collect`). prometheus_client loads
    with the first scrape, not in every server's start-up (0.02 s of CPU, measured)."""

    def __init__(self, tenant_id: str, b: Board) -> None:
        self.tenant, self.board = tenant_id, b

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily

        t, b = self.tenant, self.board
        waiting = GaugeMetricFamily("kontakt_queue_waiting", "Contacts waiting in the queue now",
                                    labels=["tenant", "queue"])  # fmt: skip
        longest = GaugeMetricFamily("kontakt_queue_longest_wait_seconds",
                                    "The longest current wait in the queue (0 when nobody waits)",
                                    labels=["tenant", "queue"])  # fmt: skip
        level = GaugeMetricFamily("kontakt_queue_service_level_today",
                                  "Share answered within the threshold today (absent before anything counted)",
                                  labels=["tenant", "queue"])  # fmt: skip
        for q in b.queues:
            waiting.add_metric([t, q.id], q.waiting)
            longest.add_metric([t, q.id], q.longest_wait_seconds or 0.0)
            if q.service_level is not None:
                level.add_metric([t, q.id], q.service_level)
        agents = GaugeMetricFamily("kontakt_agents", "Agents by state now", labels=["tenant", "state"])
        for state, n in b.agents.items():
            agents.add_metric([t, state.value], n)
        endings = GaugeMetricFamily("kontakt_contacts_today", "Contacts opened today by how they ended",
                                    labels=["tenant", "ending"])  # fmt: skip
        for ending, n in b.contacts_by_ending.items():
            endings.add_metric([t, ending.value], n)
        yield from (waiting, longest, level, agents, endings)


@router.get("/metrics", response_model=None)
def metrics(request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> Response:
    """Prometheus text format: my tenant's live values (see the module docstring)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_BoardCollector(agent.tenant_id, live_board(request, db, agent.tenant_id, engine.clock())))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# --- the pages and their files -------------------------------------------------------------------


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / PAGES[name], media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


def wallboard_page() -> FileResponse:
    """The wallboard (anyone may load the page; its data needs a supervisor token)."""
    return _page("wallboard")


def reports_page() -> FileResponse:
    """The reports page (anyone may load the page; its data needs a supervisor token)."""
    return _page("reports")


def reports_asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        return JSONResponse({"error": "not_found", "message": f"no file {printable(name, 80)!r} in /agent/static/reports/"},
                            status_code=404)  # fmt: skip
    return FileResponse(STATIC / name, media_type=media_type,
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


for _path, _endpoint in (("/agent/wallboard", wallboard_page), ("/agent/reports", reports_page),
                         ("/agent/static/reports/{name}", reports_asset)):  # fmt: skip
    router.add_api_route(_path, _endpoint, methods=["GET"], include_in_schema=False, response_model=None,
                         route_class_override=APIRoute)  # fmt: skip


# Every route of management information in one router, for the entry point to register in one line.
from bot.api.reports import router as reports_router  # noqa: E402

stats_router = APIRouter()
stats_router.include_router(reports_router)
stats_router.include_router(router)
