"""Emergency alerts for supervisors: each time the bot referred a citizen to 112 (an
`emergency_alert` event), with the channel and the start of the citizen's message, redacted.
Own tenant only, newest first. Same token and error rules as `bot.api.supervisor`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select

from bot.api.agents import _Out
from bot.api.auth import AgentRoute, DatabaseDep, SupervisorAgent
from bot.storage.models import Contact, Event, EventKind, Message

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
    stmt = (
        select(Event, Contact.channel)
        .outerjoin(Contact, Contact.id == Event.contact_id)
        .where(Event.tenant_id == agent.tenant_id, Event.kind == EventKind.EMERGENCY_ALERT)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    items = []
    with db.read() as s:
        for event, channel in s.execute(stmt):
            message_id = event.data.get("about_message_id")
            message = s.get(Message, message_id) if isinstance(message_id, int) else None
            text = message.text_redacted if message is not None and message.tenant_id == agent.tenant_id else ""
            items.append(AlertOut(id=event.id, at=event.at, contact_id=event.contact_id,
                                  channel=channel.value if channel is not None else event.data.get("channel"),
                                  excerpt=_excerpt(text)))  # fmt: skip
    return AlertList(items=items, count=len(items))
