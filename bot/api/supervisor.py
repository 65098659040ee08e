"""The supervisor API: live overview of the tenant's queues and agents, skills and agent states;
admins also create agents. Same token and error rules as `bot.api.agents`; the tenant is the
caller's, so another tenant's agent answers 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field, RootModel, StringConstraints

from bot.agent_accounts import check_line, create_agent
from bot.api.agents import AgentOut, QueueOut, StateIn, _In, _Out, queue_out
from bot.api.auth import AdminAgent, AgentRoute, DatabaseDep, EngineDep, PepperDep, SupervisorAgent
from bot.errors import AgentBusy, UnknownQueue
from bot.routing.skills import MAX_SKILL
from bot.storage.agent_queries import agent_live, agents_live, queue_loads
from bot.storage.models import AgentRole, AgentState
from bot.storage.voice import set_agent_line

router = APIRouter(prefix="/agent/api/supervisor", tags=["supervisor"], route_class=AgentRoute)

Level = Annotated[int, Field(ge=0, le=MAX_SKILL, strict=True)]


class QueueOverview(QueueOut):
    agents: dict[AgentState, int] = Field(description="Agents with a skill > 0 for the queue, by state")


class Overview(_Out):
    at: datetime
    queues: list[QueueOverview]
    agents: list[AgentOut]
    agents_by_state: dict[AgentState, int]
    waiting: int


class SkillsIn(RootModel[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Level]]):
    """`{"borgerservice_basis": 7, "esb": 0}`: levels 0..9 (0 removes the queue from the agent)."""


class AgentCreateIn(_In):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="Unique across tenants, e.g. anne")
    name: str = Field(min_length=1, max_length=200)
    role: AgentRole = AgentRole.AGENT
    skills: dict[str, Level] = Field(default_factory=dict)


class LineIn(_In):
    phone: str | None = Field(default=None, max_length=40, description="E.164, e.g. +4533661234")
    client_identity: str | None = Field(default=None, max_length=120, description="Twilio Client identity")


class LineOut(_Out):
    agent_id: str
    phone: str | None
    client_identity: str | None


class AgentCreated(_Out):
    agent: AgentOut
    token: str = Field(description="The bearer token; shown this once, only its hash is stored")


def _overview(db, engine, tenant_id: str) -> Overview:
    now = engine.clock()
    agents = agents_live(db, tenant_id)
    out = []
    for q in queue_loads(db, tenant_id):
        staffed: dict[AgentState, int] = {}
        for a in agents:
            if a.skills.get(q.id, 0) > 0:
                staffed[a.state] = staffed.get(a.state, 0) + 1
        out.append(QueueOverview(**queue_out(q, 0, now).model_dump(), agents=staffed))
    by_state: dict[AgentState, int] = {}
    for a in agents:
        by_state[a.state] = by_state.get(a.state, 0) + 1
    return Overview(at=now, queues=out, agents=[AgentOut.of(a) for a in agents], agents_by_state=by_state,
                    waiting=sum(q.waiting for q in out))  # fmt: skip


@router.get("/overview", response_model=Overview)
def overview(agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> Overview:
    """Live: every queue (waiting, oldest wait, in progress, staffed agents by state) and every
    agent (state, skills, work in progress) of my tenant. Supervisor or admin."""
    return _overview(db, engine, agent.tenant_id)


@router.put("/agents/{agent_id}/skills", response_model=AgentOut)
def set_skills(agent_id: str, body: SkillsIn, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> AgentOut:
    """Set skill levels 0..9 per queue for an agent of my tenant (queues not named keep their
    level). 404 for an unknown agent or queue (nothing is written then). Supervisor or admin."""
    tenant = agent.tenant_id
    agent_live(db, tenant, agent_id)  # 404 before any write
    known = {q.id for q in queue_loads(db, tenant)}
    unknown = sorted(set(body.root) - known)
    if unknown:
        raise UnknownQueue(f"tenant {tenant!r} has no queue {', '.join(map(repr, unknown))}; nothing was changed")
    for queue_id, level in body.root.items():
        engine.set_skill(tenant, agent_id, queue_id, level)
    return AgentOut.of(agent_live(db, tenant, agent_id))


@router.post("/agents/{agent_id}/state", response_model=AgentOut)
def set_agent_state(
    agent_id: str, body: StateIn, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep
) -> AgentOut:
    """Set an agent's state (available, paused, offline), e.g. log out someone who left.
    Offline is refused (409) while the agent has contacts in progress. Supervisor or admin."""
    target = agent_live(db, agent.tenant_id, agent_id)
    if body.state == "offline" and target.active:
        raise AgentBusy(f"agent {agent_id!r} still has contacts in progress; they must close or transfer them")
    engine.set_agent_state(agent.tenant_id, agent_id, AgentState(body.state))
    return AgentOut.of(agent_live(db, agent.tenant_id, agent_id))


@router.post("/agents", response_model=AgentCreated, status_code=201)
def add_agent(body: AgentCreateIn, agent: AdminAgent, pepper: PepperDep, db: DatabaseDep, engine: EngineDep) -> AgentCreated:
    """Create an agent in my tenant and return its token once. 409 if the id is taken (in any
    tenant), 404 for an unknown queue in skills. Admin only."""
    token = create_agent(engine, pepper, tenant_id=agent.tenant_id, agent_id=body.id, name=body.name,
                         role=body.role, skills=dict(body.skills))  # fmt: skip
    return AgentCreated(agent=AgentOut.of(agent_live(db, agent.tenant_id, body.id)), token=token)



@router.put("/agents/{agent_id}/line", response_model=LineOut)
def set_line(agent_id: str, body: LineIn, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep) -> LineOut:
    """Where an agent of my tenant takes phone calls: a phone number and/or a Twilio Client
    identity (both null: none, so calls are not put through to them). 404 for an unknown
    agent, 422 for an invalid number. Supervisor or admin."""
    phone, client = check_line(body.phone, body.client_identity)
    with db.write() as s:
        line = set_agent_line(s, tenant_id=agent.tenant_id, agent_id=agent_id, phone=phone, client_identity=client,
                              at=engine.clock())  # fmt: skip
    return LineOut(agent_id=line.agent_id, phone=line.phone, client_identity=line.client_identity)
