"""Emergency alerts for supervisors: each time the bot referred a citizen to 112 (an
`emergency_alert` event), with the channel and the start of the citizen's message, redacted.
Own tenant only, newest first. Same token and error rules as `bot.api.supervisor`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import Field

from bot.api.agents import _Out
from bot.api.auth import AgentRoute, DatabaseDep, SupervisorAgent
from bot.storage import changes

router = APIRouter(prefix="/agent/api/supervisor", tags=["supervisor"], route_class=AgentRoute)

EXCERPT_CHARS = 160


class AlertOut(_Out):
    id: int = Field(description="The event's id; grows with time, so a client can tell new alerts")
    at: datetime = Field(description="When the bot referred the citizen to 112")
    contact_id: str | None
    channel: str | None = Field(description="chat, voice or email")
    excerpt: str = Field(description="The start of the citizen's message, redacted")


class AlertList(_Out):
    items: list[AlertOut]
    count: int


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1].rstrip() + "…"


@router.get("/alerts", response_model=AlertList)
def alerts(agent: SupervisorAgent, db: DatabaseDep, limit: int = Query(50, ge=1, le=500)) -> AlertList:
    """The bot's 112 referrals in my tenant, newest first. Supervisor or admin."""
    with db.read() as s:
        rows = changes.emergency_alerts(s, tenant_id=agent.tenant_id, limit=limit)
    items = [AlertOut(id=r.id, at=r.at, contact_id=r.contact_id, channel=r.channel, excerpt=_excerpt(r.text_redacted))
             for r in rows]  # fmt: skip
    return AlertList(items=items, count=len(items))
