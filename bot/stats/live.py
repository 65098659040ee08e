"""The wallboard as a pure function: per queue the contacts waiting now, the longest current
wait, today's service level against the target, and the agents with a skill for the queue by
state; tiles whose figure is past its limit are marked as alarms.

An agent in after-contact work whose `acw_until` has passed counts as available: the router
ends after-contact work then without writing a change (`bot.routing.skills`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.routing.skills import AgentState
from bot.stats.config import TenantKpi
from bot.stats.facts import ContactFacts, Ending
from bot.stats.kpi import KpiPolicy, abandoned, answered, offered, service_level

__all__ = ["AgentNow", "Alarm", "Board", "QueueNow", "QueueTile", "agent_state_now", "board"]

SHOWN_STATES = (AgentState.AVAILABLE, AgentState.BUSY, AgentState.AFTER_CONTACT_WORK, AgentState.PAUSED)


class Alarm(enum.StrEnum):
    WAITING = "waiting"  # more contacts waiting than the limit
    LONGEST_WAIT = "longest_wait"  # the longest current wait is past the limit
    SERVICE_LEVEL = "service_level"  # today's service level is below the limit


@dataclass(frozen=True, slots=True)
class QueueNow:
    id: str
    name: str
    waiting: int
    oldest_enqueued_at: datetime | None


@dataclass(frozen=True, slots=True)
class AgentNow:
    id: str
    state: AgentState
    acw_until: datetime | None
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueTile:
    id: str
    name: str
    waiting: int
    longest_wait_seconds: float | None
    service_level: float | None  # today, None before anything counted
    service_level_target: float
    offered: int
    answered: int
    abandoned: int
    agents: Mapping[AgentState, int]
    alarms: tuple[Alarm, ...]


@dataclass(frozen=True, slots=True)
class Board:
    at: datetime
    queues: tuple[QueueTile, ...]
    agents: Mapping[AgentState, int]  # every agent of the tenant, by state
    waiting: int
    longest_wait_seconds: float | None
    service_level: float | None
    service_level_target: float
    contacts_by_ending: Mapping[Ending, int]
    alarms: tuple[Alarm, ...]


def agent_state_now(agent: AgentNow, now: datetime) -> AgentState:
    if agent.state is AgentState.AFTER_CONTACT_WORK and agent.acw_until is not None and agent.acw_until <= now:
        return AgentState.AVAILABLE
    return agent.state


def _alarms(waiting: int, longest: float | None, sl: float | None, kpi: TenantKpi) -> tuple[Alarm, ...]:
    limits = kpi.wallboard
    out = []
    if waiting > limits.waiting:
        out.append(Alarm.WAITING)
    if longest is not None and longest > limits.longest_wait_seconds:
        out.append(Alarm.LONGEST_WAIT)
    if sl is not None and sl < limits.service_level_below:
        out.append(Alarm.SERVICE_LEVEL)
    return tuple(out)


def board(
    queues: Sequence[QueueNow],
    agents: Sequence[AgentNow],
    today: Sequence[ContactFacts],
    kpi: TenantKpi,
    now: datetime,
    policy: KpiPolicy | None = None,
) -> Board:
    """The wallboard of one tenant at `now`; `today` are the contacts opened today."""
    policy = policy or kpi.policy()
    states = {a.id: agent_state_now(a, now) for a in agents}
    tiles = []
    for q in queues:
        rows = [f for f in today if f.first_queue == q.id]
        longest = None if q.oldest_enqueued_at is None else max(0.0, (now - q.oldest_enqueued_at).total_seconds())
        sl = service_level(rows, policy).value
        staffed = {s: 0 for s in SHOWN_STATES}
        for a in agents:
            state = states[a.id]
            if a.skills.get(q.id, 0) > 0 and state in staffed:
                staffed[state] += 1
        tiles.append(QueueTile(
            id=q.id, name=q.name, waiting=q.waiting, longest_wait_seconds=longest, service_level=sl,
            service_level_target=kpi.service_level_target, offered=offered(rows, policy),
            answered=answered(rows, policy), abandoned=abandoned(rows, policy), agents=staffed,
            alarms=_alarms(q.waiting, longest, sl, kpi),
        ))  # fmt: skip
    by_state = {s: 0 for s in AgentState}
    for state in states.values():
        by_state[state] += 1
    endings = {e: 0 for e in Ending}
    for f in today:
        endings[f.ending] += 1
    waits = [t.longest_wait_seconds for t in tiles if t.longest_wait_seconds is not None]
    waiting = sum(t.waiting for t in tiles)
    longest_all = max(waits) if waits else None
    sl_all = service_level(today, policy).value
    return Board(
        at=now, queues=tuple(tiles), agents=by_state, waiting=waiting, longest_wait_seconds=longest_all,
        service_level=sl_all, service_level_target=kpi.service_level_target, contacts_by_ending=endings,
        alarms=_alarms(waiting, longest_all, sl_all, kpi),
    )  # fmt: skip
