"""Crisis mode over HTTP.

    GET    /agent/api/supervisor/crisis        the crisis that is on (or none), who joined its queue
    POST   /agent/api/supervisor/crisis        switch it on, or change its message, queue or keywords
    DELETE /agent/api/supervisor/crisis        switch it off (agents who joined its queue leave it)
    POST   /agent/api/supervisor/crisis/join   agents with level >= N in a queue join the crisis queue
    GET    /agent/crisis                       the supervisors' Danish page (script: /agent/static/crisis/)
    GET    /chat/api/crisis?tenant=…           public: the message the chat widget shows as a banner

Supervisor or admin token, own tenant only (there is no tenant parameter to tamper with); an
agent gets 403. Every switch is recorded as an event with who and when (bot.crisis_board).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import Field

from bot.api import Text
from bot.api.agents import _In, _Out
from bot.api.auth import AgentRoute, DatabaseDep, EngineDep, SupervisorAgent
from bot.api.console import SECURITY_HEADERS
from bot.crisis import CRISIS_QUEUE, CRISIS_QUEUE_NAME, MAX_KEYWORDS, MAX_MESSAGE_CHARS, Crisis, SkillGrant
from bot.crisis_board import CrisisState, board_for
from bot.errors import NoCrisis
from bot.routing.skills import MAX_SKILL
from bot.storage.agent_queries import queue_loads
from bot.storage.db import Database

__all__ = ["notice_router", "router"]

STATIC = Path(__file__).resolve().parent / "static" / "crisis"
ASSETS = {"crisis.js": "text/javascript; charset=utf-8", "crisis.css": "text/css; charset=utf-8"}

router = APIRouter(prefix="/agent/api/supervisor/crisis", tags=["crisis"], route_class=AgentRoute)
notice_router = APIRouter(tags=["crisis"])


# --- boundary models ------------------------------------------------------------------------------


class CrisisIn(_In):
    message_da: Text = Field(min_length=1, max_length=MAX_MESSAGE_CHARS * 2,
                             description="The message in Danish, plain text; every channel says it first")
    message_en: Text | None = Field(None, max_length=MAX_MESSAGE_CHARS * 2,
                                    description="The same in English (for citizens who write English)")
    queue: Text | None = Field(None, max_length=64, description=(
        f"Where questions about the crisis go: a queue of the tenant, or {CRISIS_QUEUE!r} for the dedicated"
        " crisis queue (created on first use). None: the usual queues."))
    keywords: list[Annotated[Text, Field(max_length=80)]] = Field(
        default_factory=list, max_length=MAX_KEYWORDS * 2,
        description="Words that mark a question as being about the crisis, e.g. 'sandsæk', 'oversvøm'")  # fmt: skip


class JoinIn(_In):
    queue: Text = Field(min_length=1, max_length=64, description="Agents are chosen by their level in this queue")
    min_level: int = Field(ge=1, le=MAX_SKILL, strict=True, description="Level 1..9 or higher in `queue`")


class CrisisOutBody(_Out):
    message_da: str
    message_en: str | None
    queue: str | None
    keywords: list[str]
    started_at: datetime
    started_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, c: Crisis) -> CrisisOutBody:
        return cls(message_da=c.message_da, message_en=c.message_en, queue=c.queue_id, keywords=list(c.keywords),
                   started_at=c.started_at, started_by=c.started_by, updated_at=c.updated_at,
                   updated_by=c.updated_by)  # fmt: skip


class GrantOut(_Out):
    agent_id: str
    queue: str
    level: int
    previous: int | None = Field(description="The level before the agent joined (None: none)")

    @classmethod
    def of(cls, g: SkillGrant) -> GrantOut:
        return cls(agent_id=g.agent_id, queue=g.queue_id, level=g.level, previous=g.previous)


class QueueChoice(_Out):
    id: str
    name: str


class CrisisOut(_Out):
    active: bool
    crisis: CrisisOutBody | None
    joined: list[GrantOut] = Field(description="Agents in the crisis queue through crisis mode")
    queues: list[QueueChoice] = Field(description="The tenant's queues (the crisis queue first)")


class JoinOut(CrisisOut):
    added: list[GrantOut] = Field(description="Agents who joined now")


class EndOut(CrisisOut):
    ended: CrisisOutBody | None = Field(description="The crisis that ended now (None: none was on)")
    restored: list[GrantOut] = Field(description="Agents whose earlier level for the crisis queue was put back")


class NoticeOut(_Out):
    active: bool
    message_da: str | None = None
    message_en: str | None = None


# --- supervisor API -------------------------------------------------------------------------------


def _out(db: Database, tenant_id: str, state: CrisisState) -> dict[str, Any]:
    queues = [QueueChoice(id=q.id, name=q.name) for q in queue_loads(db, tenant_id)]
    if not any(q.id == CRISIS_QUEUE for q in queues):
        queues.insert(0, QueueChoice(id=CRISIS_QUEUE, name=f"{CRISIS_QUEUE_NAME} (oprettes ved brug)"))
    queues.sort(key=lambda q: q.id != CRISIS_QUEUE)
    return {"active": state.crisis is not None, "crisis": CrisisOutBody.of(state.crisis) if state.crisis else None,
            "joined": [GrantOut.of(g) for g in state.grants], "queues": queues}  # fmt: skip


@router.get("", response_model=CrisisOut)
def get_crisis(agent: SupervisorAgent, db: DatabaseDep) -> CrisisOut:
    """My tenant's crisis: its message, queue and keywords, or `active: false`. Supervisor or admin."""
    return CrisisOut(**_out(db, agent.tenant_id, board_for(db).state(agent.tenant_id)))


@router.post("", response_model=CrisisOut)
def start_crisis(body: CrisisIn, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> CrisisOut:
    """Switch my tenant's crisis on (or change it): from now on every channel says the message
    first. 422 for an empty, too long or marked-up message, 404 for an unknown queue, 409 when the
    queue changes while agents joined the old one. Supervisor or admin."""
    board = board_for(db)
    board.start(agent.tenant_id, by=agent.id, message_da=body.message_da, message_en=body.message_en,
                queue_id=body.queue or None, keywords=body.keywords, at=engine.clock())  # fmt: skip
    return CrisisOut(**_out(db, agent.tenant_id, board.state(agent.tenant_id)))


@router.delete("", response_model=EndOut)
def end_crisis(agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> EndOut:
    """Switch my tenant's crisis off: the channels stop saying the message, and agents who joined
    the crisis queue through crisis mode get their earlier level back. Idempotent: when none is
    on, nothing changes and `ended` is null (a second click is not an error). Supervisor or admin."""
    board = board_for(db)
    try:
        ended, restored = board.end(agent.tenant_id, by=agent.id, at=engine.clock(),
                                    fallback_queue=engine.default_queue)  # fmt: skip
    except NoCrisis:
        ended, restored = None, []
    return EndOut(**_out(db, agent.tenant_id, board.state(agent.tenant_id)),
                  ended=CrisisOutBody.of(ended) if ended else None,
                  restored=[GrantOut.of(g) for g in restored])  # fmt: skip


@router.post("/join", response_model=JoinOut)
def join_crisis_queue(body: JoinIn, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> JoinOut:
    """Every agent of my tenant with level >= `min_level` in `queue` joins the crisis queue at that
    level; undone when the crisis ends. 409 without a crisis or a crisis queue, 404 for an
    unknown queue. Supervisor or admin."""
    board = board_for(db)
    added = board.join(agent.tenant_id, by=agent.id, source_queue=body.queue, min_level=body.min_level,
                       at=engine.clock())  # fmt: skip
    return JoinOut(**_out(db, agent.tenant_id, board.state(agent.tenant_id)), added=[GrantOut.of(g) for g in added])


# --- the page -------------------------------------------------------------------------------------


@notice_router.get("/agent/crisis", include_in_schema=False)
def crisis_page() -> FileResponse:
    """The supervisors' crisis page (anyone may load it; every action needs a supervisor token)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


@notice_router.get("/agent/static/crisis/{name}", include_in_schema=False, response_model=None)
def crisis_asset(name: str) -> FileResponse | JSONResponse:
    if name not in ASSETS:
        return JSONResponse({"error": "not_found", "message": "no such file on the crisis page"}, status_code=404)
    return FileResponse(STATIC / name, media_type=ASSETS[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


# --- public: the chat widget's banner ---------------------------------------------------------------


@notice_router.get("/chat/api/crisis", response_model=NoticeOut, summary="The crisis message for the chat banner")
def crisis_notice(request: Request, tenant: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """Public and personal-data free: the municipality's crisis message, for the widget's banner.
    Read at most a couple of seconds stale on a busy worker; `active: false` when none is on."""
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
    tenants = request.app.state.tenants
    tenant_id = tenant or tenants.default_tenant
    if tenant_id not in tenants.by_id:
        return JSONResponse({"error": "unknown_tenant", "message": "Kommunen findes ikke her."}, status_code=404,
                            headers=headers)  # fmt: skip
    crisis = board_for(request.app.state.db).current(tenant_id)
    body = NoticeOut(active=False) if crisis is None else NoticeOut(
        active=True, message_da=crisis.message_da, message_en=crisis.message_en)  # fmt: skip
    return JSONResponse(body.model_dump(), headers=headers)

