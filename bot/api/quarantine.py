"""The quarantine list for supervisors: inbound mails and outgoing messages that were given up
after too many attempts (`bot.storage.outbox`: each one failed or stopped the process every
time), so a person can look at them. Read-only; the caller's own tenant only (from the token);
texts are redacted. Same token and error rules as `bot.api.supervisor`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field

from bot.api.agents import _Out
from bot.api.auth import AgentRoute, DatabaseDep, SupervisorAgent
from bot.storage import outbox as ob

router = APIRouter(prefix="/agent/api/supervisor", tags=["supervisor"], route_class=AgentRoute)


class QuarantinedOut(_Out):
    queue: Literal["inbound_mail", "outbox"] = Field(description="Which queue gave up on it")
    id: int = Field(description="The inbound mail's or outbox item's id")
    kind: str = Field(description='"mail" for an inbound mail, else the outbox kind (auto_reply, agent_reply)')
    since: datetime = Field(description="When it was received (mail) or enqueued (outbox)")
    quarantined_at: datetime | None
    attempts: int
    error: str = Field(description="The last error, redacted")
    subject: str | None = Field(description="The mail's subject, redacted")
    message_id: str | None
    contact_id: str | None


class QuarantineList(_Out):
    items: list[QuarantinedOut]
    count: int


@router.get("/quarantine", response_model=QuarantineList)
def quarantine(agent: SupervisorAgent, db: DatabaseDep, limit: int = Query(200, ge=1, le=500)) -> QuarantineList:
    """Quarantined inbound mails and outbox items of my tenant, newest first. Supervisor or admin."""
    with db.read() as s:
        views = ob.quarantined(s, tenant_id=agent.tenant_id, limit=limit)
    items = [
        QuarantinedOut(queue=v.queue, id=v.id, kind=v.kind, since=v.since, quarantined_at=v.quarantined_at,  # type: ignore[arg-type]
                       attempts=v.attempts, error=v.error, subject=v.subject, message_id=v.message_id,
                       contact_id=v.contact_id)
        for v in views
    ]  # fmt: skip
    return QuarantineList(items=items, count=len(items))
