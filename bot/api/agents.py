"""The agent API (issue 4 item 7): one agent's queues, state, offers, contacts and tasks.

Every endpoint needs `Authorization: Bearer <agent token>` (401 without); the token fixes the
agent and the tenant, and every query is scoped to that tenant in the SQL, so a contact, offer
or task of another tenant answers 404 exactly like a missing one. Roles: agent < supervisor <
admin; each endpoint's docstring says who may call it. Errors are `{error, message}`:
401 no/invalid token, 403 wrong role or not your contact, 404 unknown id, 409 illegal step or
stale offer, 422 invalid body.

Personal data rule (CPR and other numbers): transcripts and packets are redacted
(`bot.privacy.redact`), except that the agent the contact is assigned to (ASSIGNED or
AGENT_ACTIVE) sees the citizen's own words unredacted when the citizen is authenticated
(MitID). Supervisors and admins monitor with redacted data. Stored handoff packets are
always redacted; the unredacted view is the live transcript.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from bot.api import no_surrogates
from bot.api.auth import ROLE_RANK, AgentRoute, ChannelsDep, CurrentAgent, DatabaseDep, EngineDep
from bot.channels import Channels
from bot.engine import ConversationEngine
from bot.errors import AgentBusy, ContactForbidden, NotAssignedAgent, UnknownOffer, UnknownTask
from bot.privacy import redact
from bot.routing.handoff import Author, HandoffPacket
from bot.routing.skills import ROUTABLE_STATES
from bot.storage.agent_queries import (
    AgentIdentity,
    AgentLive,
    OfferInfo,
    QueueLoad,
    agent_live,
    agent_may_view_contact,
    my_contacts,
    my_offers,
    offer_info,
    queue_loads,
    tasks_in_queues,
)
from bot.storage.db import Database
from bot.storage.models import AgentRole, AgentState, Channel, ContactState, Outcome, TaskKind
from bot.storage.repository import ContactView, TaskView

router = APIRouter(prefix="/agent/api", tags=["agent"], route_class=AgentRoute)

# --- boundary models -------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TenantOut(_Out):
    id: str
    name: str


class AgentOut(_Out):
    id: str
    name: str
    role: AgentRole
    state: AgentState
    since: datetime
    acw_until: datetime | None
    skills: dict[str, int] = Field(description="Queue id → level 1..9 (0 = cannot take the queue)")
    active: int = Field(description="Contacts offered to, assigned to or handled by the agent now")

    @classmethod
    def of(cls, a: AgentLive) -> AgentOut:
        return cls(id=a.id, name=a.name, role=a.role, state=a.state, since=a.since, acw_until=a.acw_until,
                   skills=dict(a.skills), active=a.active)  # fmt: skip


class MeOut(AgentOut):
    tenant: TenantOut


class QueueOut(_Out):
    id: str
    name: str
    level: int = Field(description="The caller's skill level for the queue (0 = none)")
    waiting: int
    oldest_enqueued_at: datetime | None
    oldest_wait_seconds: int | None
    in_progress: int


class QueuesOut(_Out):
    queues: list[QueueOut]


AgentSettableState = Literal["available", "paused", "offline"]


class StateIn(_In):
    state: AgentSettableState = Field(description="available (klar), paused (pause) or offline (logget af)")


class OfferOut(_Out):
    id: int
    contact_id: str
    queue_id: str | None
    channel: Channel
    topic: str | None
    offered_at: datetime
    expires_at: datetime
    waited_seconds: int | None

    @classmethod
    def of(cls, o: OfferInfo, now: datetime) -> OfferOut:
        waited = int((now - o.enqueued_at).total_seconds()) if o.enqueued_at else None
        return cls(id=o.id, contact_id=o.contact_id, queue_id=o.queue_id, channel=o.channel, topic=o.topic,
                   offered_at=o.offered_at, expires_at=o.expires_at, waited_seconds=waited)  # fmt: skip


class OffersOut(_Out):
    offers: list[OfferOut]


class ContactOut(_Out):
    id: str
    state: ContactState
    channel: Channel
    queue_id: str | None
    topic: str | None
    assigned_agent_id: str | None
    enqueued_at: datetime | None
    sla_due_at: datetime | None
    authenticated: bool
    outcome: Outcome | None
    closed_at: datetime | None
    mine: bool = Field(description="Assigned to the caller and open: the caller may reply, transfer, close")

    @classmethod
    def of(cls, c: ContactView, agent_id: str) -> ContactOut:
        return cls(id=c.id, state=c.state, channel=c.channel, queue_id=c.queue_id, topic=c.topic,
                   assigned_agent_id=c.assigned_agent_id, enqueued_at=c.enqueued_at, sla_due_at=c.sla_due_at,
                   authenticated=c.authenticated, outcome=c.outcome, closed_at=c.closed_at,
                   mine=_is_mine(c, agent_id))  # fmt: skip


class MessageOut(_Out):
    id: int
    author: Author
    agent_id: str | None
    text: str = Field(description="Redacted unless the personal-data rule reveals it (see module docs)")
    at: datetime


class ContactDetail(_Out):
    contact: ContactOut
    packet: HandoffPacket | None = Field(description="The latest handoff packet (always redacted)")
    packet_version: int = Field(description="1 for the first handoff, +1 per transfer; 0 when none")
    revealed: bool = Field(description="True when the transcript shows the citizen's data unredacted")
    transcript: list[MessageOut]


class MyContactOut(_Out):
    id: str
    state: ContactState
    channel: Channel
    queue_id: str | None
    topic: str | None
    citizen_name: str | None
    updated_at: datetime


class MyContactsOut(_Out):
    contacts: list[MyContactOut]


ReplyText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), AfterValidator(no_surrogates)
]
Note = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(no_surrogates)
]
# Offer and task ids are database integers (64-bit): a larger number cannot name one, so it is a
# 422 here rather than an overflow in the database driver.
MAX_ID = 2**63 - 1
OfferId = Annotated[int, Path(ge=1, le=MAX_ID, description="An offer id from GET /agent/api/offers")]
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="A task id from GET /agent/api/tasks")]


class ReplyIn(_In):
    text: ReplyText
    client_message_id: Annotated[str, AfterValidator(no_surrogates)] | None = Field(default=None, max_length=200,
                                          description="Idempotency key: a repeat returns the stored reply")


class TransferIn(_In):
    queue_id: Annotated[str, AfterValidator(no_surrogates)] = Field(min_length=1, max_length=64)
    note: Note = Field(description="What the next agent needs to know (shown in the new packet)")


class CloseIn(_In):
    outcome: Outcome = Field(description="Registration code (straksafklaret, omstillet, besked_taget, ...)")


class TaskOut(_Out):
    id: int
    contact_id: str
    kind: TaskKind
    queue_id: str | None
    name: str | None
    phone: str
    preferred_at: datetime | None
    note: str
    expectation: str = Field(description="What the citizen was told, word for word")
    due_at: datetime

    @classmethod
    def of(cls, t: TaskView) -> TaskOut:
        return cls(id=t.id, contact_id=t.contact_id, kind=t.kind, queue_id=t.queue_id, name=t.name, phone=t.phone,
                   preferred_at=t.preferred_at, note=t.note, expectation=t.expectation, due_at=t.due_at)  # fmt: skip


class TasksOut(_Out):
    tasks: list[TaskOut]


class TaskDoneIn(_In):
    outcome: Outcome


# --- rules -------------------------------------------------------------------------------------------


def _is_mine(c: ContactView, agent_id: str) -> bool:
    return c.assigned_agent_id == agent_id and c.state in (ContactState.ASSIGNED, ContactState.AGENT_ACTIVE)


def may_reveal(contact: ContactView, agent: AgentIdentity) -> bool:
    """The personal-data rule: only the assigned agent, and only for an authenticated citizen."""
    return contact.authenticated and _is_mine(contact, agent.id)


def _supervises(agent: AgentIdentity) -> bool:
    return ROLE_RANK[agent.role] >= ROLE_RANK[AgentRole.SUPERVISOR]


def _my_queue_ids(db: Database, agent: AgentIdentity) -> set[str]:
    return {q for q, level in agent_live(db, agent.tenant_id, agent.id).skills.items() if level > 0}


def contact_detail(engine: ConversationEngine, db: Database, agent: AgentIdentity, contact_id: str) -> ContactDetail:
    """The contact as `agent` may see it; UnknownContact (404) outside the tenant,
    ContactForbidden (403) for an agent without need to know."""
    tenant = agent.tenant_id
    if not _supervises(agent) and not agent_may_view_contact(db, tenant, agent.id, contact_id):
        raise ContactForbidden(
            f"contact {contact_id!r} is not offered or assigned to agent {agent.id!r} nor waiting in their queues"
        )
    c = engine.contact(tenant, contact_id)
    packets = engine.handoff_packets(tenant, contact_id)
    reveal = may_reveal(c, agent)
    transcript = [
        MessageOut(id=m.id, author=m.author, agent_id=m.agent_id, text=m.text if reveal else m.text_redacted,
                   at=m.created_at)  # fmt: skip
        for m in engine.transcript(tenant, contact_id)
    ]
    return ContactDetail(contact=ContactOut.of(c, agent.id), packet=packets[-1] if packets else None,
                         packet_version=len(packets), revealed=reveal, transcript=transcript)  # fmt: skip


def _me(db: Database, agent: AgentIdentity) -> MeOut:
    live = agent_live(db, agent.tenant_id, agent.id)
    return MeOut(**AgentOut.of(live).model_dump(), tenant=TenantOut(id=agent.tenant_id, name=agent.tenant_name))


def queue_out(q: QueueLoad, level: int, now: datetime) -> QueueOut:
    oldest = int((now - q.oldest_enqueued_at).total_seconds()) if q.oldest_enqueued_at else None
    return QueueOut(id=q.id, name=q.name, level=level, waiting=q.waiting, oldest_enqueued_at=q.oldest_enqueued_at,
                    oldest_wait_seconds=oldest, in_progress=q.in_progress)  # fmt: skip


# --- endpoints ---------------------------------------------------------------------------------------


@router.get("/me", response_model=MeOut)
def me(agent: CurrentAgent, db: DatabaseDep) -> MeOut:
    """Who am I: name, role, tenant, state and skills. Any role."""
    return _me(db, agent)


@router.get("/queues", response_model=QueuesOut)
def queues(
    agent: CurrentAgent,
    db: DatabaseDep,
    engine: EngineDep,
    all_queues: Annotated[bool, Query(alias="all", description="every queue of the tenant (e.g. for transfer)")] = False,
) -> QueuesOut:
    """My queues (skill > 0) with waiting counts and the oldest wait; `?all=true` lists every
    queue of my tenant. Any role."""
    levels = dict(agent_live(db, agent.tenant_id, agent.id).skills)
    now = engine.clock()
    out = [
        queue_out(q, levels.get(q.id, 0), now)
        for q in queue_loads(db, agent.tenant_id)
        if all_queues or levels.get(q.id, 0) > 0
    ]
    return QueuesOut(queues=out)


@router.post("/state", response_model=MeOut)
def set_state(body: StateIn, agent: CurrentAgent, db: DatabaseDep, engine: EngineDep) -> MeOut:
    """Set my own state: available, paused or offline. Offline is refused (409) while contacts
    are still offered or assigned to me. Any role."""
    if body.state == "offline" and agent_live(db, agent.tenant_id, agent.id).active:
        raise AgentBusy(f"agent {agent.id!r} still has contacts in progress; close or transfer them first")
    engine.set_agent_state(agent.tenant_id, agent.id, AgentState(body.state))
    return _me(db, agent)


@router.post("/next", response_model=ContactDetail, responses={204: {"description": "Nothing waits for me"}})
def take_next(agent: CurrentAgent, db: DatabaseDep, engine: EngineDep, channels: ChannelsDep) -> ContactDetail | Response:
    """Take the next contact: accept my oldest pending offer, or else make me available, run
    the router for my tenant and accept what it offers me. 200 with the contact (packet and
    transcript), 204 when nothing waits for me, 409 if the offer went stale meanwhile. Any role."""
    tenant = agent.tenant_id
    now = engine.clock()
    pending = [o for o in my_offers(db, tenant, agent.id) if o.expires_at > now]
    if not pending:
        engine.expire_offers(tenant)
        if agent_live(db, tenant, agent.id).state not in ROUTABLE_STATES:  # paused, offline, ACW
            engine.set_agent_state(tenant, agent.id, AgentState.AVAILABLE)
        engine.route(tenant)
        pending = _offers_to_me(db, engine, agent)
    if not pending:
        return Response(status_code=204)
    offer = pending[0]
    _accept(engine, channels, agent, offer.id, offer.contact_id)
    return contact_detail(engine, db, agent, offer.contact_id)


def _offers_to_me(db: Database, engine: ConversationEngine, agent: AgentIdentity) -> list[OfferInfo]:
    """My pending offers. While contacts wait, another router (a worker's dispatcher) may hold
    the rows ours skipped, and it may have skipped mine in turn: route again for a few seconds
    until an offer is made or nothing waits any more."""
    deadline = time.monotonic() + 3.0
    while True:
        pending = [o for o in my_offers(db, agent.tenant_id, agent.id) if o.expires_at > engine.clock()]
        if pending or time.monotonic() > deadline or not engine.waiting(agent.tenant_id):
            return pending
        time.sleep(0.1)
        engine.route(agent.tenant_id)


@router.get("/offers", response_model=OffersOut)
def offers(agent: CurrentAgent, db: DatabaseDep, engine: EngineDep) -> OffersOut:
    """My pending offers, oldest first. Any role."""
    now = engine.clock()
    return OffersOut(offers=[OfferOut.of(o, now) for o in my_offers(db, agent.tenant_id, agent.id)])


def _my_offer(db: Database, agent: AgentIdentity, offer_id: int) -> OfferInfo:
    o = offer_info(db, agent.tenant_id, offer_id)
    if o.agent_id != agent.id:  # another agent's offer is none of my business
        raise UnknownOffer(f"agent {agent.id!r} has no offer {offer_id}")
    return o


@router.post("/offers/{offer_id}/accept", response_model=ContactDetail)
def accept(
    offer_id: OfferId, agent: CurrentAgent, db: DatabaseDep, engine: EngineDep, channels: ChannelsDep
) -> ContactDetail:
    """Accept an offer made to me → the contact with packet and transcript. 409 if it expired
    or was decided already (an expired one goes back to the front of its queue). Any role."""
    o = _my_offer(db, agent, offer_id)
    _accept(engine, channels, agent, offer_id, o.contact_id)
    return contact_detail(engine, db, agent, o.contact_id)


def _accept(engine: ConversationEngine, channels: Channels, agent: AgentIdentity, offer_id: int, contact_id: str) -> None:
    """Accept, then let the contact's channel connect the citizen to me (a live call is bridged)."""
    engine.accept_offer(agent.tenant_id, offer_id, agent.id)
    channel = str(engine.contact(agent.tenant_id, contact_id).channel)
    channels.assigned(channel, agent.tenant_id, contact_id, agent.id)
    channels.changed(agent.tenant_id, contact_id)


@router.post("/offers/{offer_id}/decline", response_model=MeOut)
def decline(offer_id: OfferId, agent: CurrentAgent, db: DatabaseDep, engine: EngineDep) -> MeOut:
    """Decline an offer made to me: the contact goes back to the front of its queue and I am
    paused until I choose "klar" or "tag næste". 409 if no longer pending. Any role."""
    _my_offer(db, agent, offer_id)
    engine.decline_or_expire_offer(agent.tenant_id, offer_id, agent_id=agent.id)
    return _me(db, agent)


@router.get("/contacts", response_model=MyContactsOut)
def open_contacts(agent: CurrentAgent, db: DatabaseDep) -> MyContactsOut:
    """Contacts assigned to me and still open (to pick up after a reload). Any role."""
    return MyContactsOut(contacts=[MyContactOut(**{k: getattr(c, k) for k in MyContactOut.model_fields})
                                   for c in my_contacts(db, agent.tenant_id, agent.id)])  # fmt: skip


@router.get("/contacts/{contact_id}", response_model=ContactDetail)
def get_contact(contact_id: str, agent: CurrentAgent, db: DatabaseDep, engine: EngineDep) -> ContactDetail:
    """The latest handoff packet and the transcript. Agents: contacts offered or assigned to
    them, waiting in their queues, or handled by them (else 403); supervisors and admins: any
    contact of the tenant. Redaction: see the module docs."""
    return contact_detail(engine, db, agent, contact_id)


@router.post("/contacts/{contact_id}/reply", response_model=MessageOut, status_code=201)
def reply(contact_id: str, body: ReplyIn, agent: CurrentAgent, engine: EngineDep, channels: ChannelsDep) -> MessageOut:
    """Store my reply; the contact's channel delivers it (chat and voice read messages_since; a
    channel with its own sender, e-mail, registers it in bot.channels.Channels). Only the
    assigned agent (403 otherwise; 409 if the contact is not assigned or active)."""
    contact = engine.contact(agent.tenant_id, contact_id)
    sender = channels.sender(str(contact.channel))
    if sender is not None:
        if contact.assigned_agent_id != agent.id:  # before the channel looks at the contact at all
            raise NotAssignedAgent(f"contact {contact_id!r} is not assigned to agent {agent.id!r}")
        sender(agent.tenant_id, contact_id, agent.id, body.text, client_message_id=body.client_message_id)
        m = engine.messages_since(agent.tenant_id, contact_id, 0)[-1]
    else:
        m = engine.agent_reply(
            agent.tenant_id, agent.id, contact_id, body.text, client_message_id=body.client_message_id
        )
    channels.changed(agent.tenant_id, contact_id)
    return MessageOut(id=m.id, author=m.author, agent_id=m.agent_id, text=redact(m.text), at=m.created_at)


@router.post("/contacts/{contact_id}/transfer", response_model=HandoffPacket)
def transfer(
    contact_id: str, body: TransferIn, agent: CurrentAgent, engine: EngineDep, channels: ChannelsDep
) -> HandoffPacket:
    """Transfer to another queue of my tenant with a note → the new packet version. Only the
    assigned agent (403); unknown queue 404; 409 from a state that cannot transfer."""
    packet = engine.transfer(agent.tenant_id, agent.id, contact_id, body.queue_id, body.note)
    channels.changed(agent.tenant_id, contact_id)
    return packet


@router.post("/contacts/{contact_id}/close", response_model=ContactOut)
def close(contact_id: str, body: CloseIn, agent: CurrentAgent, engine: EngineDep, channels: ChannelsDep) -> ContactOut:
    """Close with an outcome code; I go into after-contact work. Only the assigned agent (403);
    409 from a state that cannot close."""
    out = ContactOut.of(engine.close(agent.tenant_id, agent.id, contact_id, body.outcome), agent.id)
    channels.changed(agent.tenant_id, contact_id)
    return out



@router.get("/tasks", response_model=TasksOut)
def tasks(agent: CurrentAgent, db: DatabaseDep) -> TasksOut:
    """Open messages (beskeder) and callbacks (tilbagekald), due first. Agents: in their
    queues; supervisors and admins: the whole tenant."""
    queue_ids = None if _supervises(agent) else _my_queue_ids(db, agent)
    return TasksOut(tasks=[TaskOut.of(t) for t in tasks_in_queues(db, agent.tenant_id, queue_ids)])


@router.post("/tasks/{task_id}/done", response_model=TaskOut)
def task_done(task_id: TaskId, body: TaskDoneIn, agent: CurrentAgent, db: DatabaseDep, engine: EngineDep) -> TaskOut:
    """Mark a message/callback handled with an outcome; its contact is closed. Agents: tasks in
    their queues (404 otherwise); supervisors and admins: any task of the tenant. 409 if done."""
    if not _supervises(agent):
        mine = {t.id for t in tasks_in_queues(db, agent.tenant_id, _my_queue_ids(db, agent))}
        if task_id not in mine:
            raise UnknownTask(f"agent {agent.id!r} has no open task {task_id} in their queues")
    return TaskOut.of(engine.complete_task(agent.tenant_id, agent.id, task_id, body.outcome))
