"""Discrete-event simulation of the contact centre through the real router.

Every routing decision is made by `bot.routing.skills`: `assign` (priorities, skill levels,
longest wait first, overflow, concurrency, exclusive voice), `finish_contact` (after-contact
work) and `is_overflowing`. This module only generates the traffic and keeps the clock:

* arrivals per queue are Poisson (exponential gaps at `arrivals_per_hour`);
* each contact's work time W (talk or writing + after-contact work) is exponential or lognormal
  with mean `handle_seconds + wrap_seconds`; it is split in that proportion between time with
  the contact and after-contact work, so W keeps the chosen distribution (exponential W is what
  Erlang assumes) and ACW still runs through `finish_contact`, with the contact's share as
  `acw_seconds`;
* a contact with a mean patience abandons after an exponential patience unless assigned first;
* offers are accepted at once (no ringing time) and agents stay logged in.

The run starts empty at `start`, discards a warm-up, and measures contacts that arrive in the
window after it. It then goes on (arrivals continue, so the window's last contacts meet the
same load) until every measured contact is answered or abandoned, or `drain_hours` pass.

Reported per queue, beside what Erlang gives (service level, ASA, abandonment, occupancy):
overflow answers by agents without the skill, the most contacts one agent held at once (chat
concurrency), and for e-mail the share replied within the promise, the backlog at the end of
the window and its peak. The promise is counted in clock hours: a window lies inside opening
hours.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from statistics import NormalDist
from types import MappingProxyType
from typing import cast

from bot.capacity.errors import InvalidScenario
from bot.config import EMAIL_PROMISE_HOURS
from bot.routing.skills import (
    AgentSnapshot,
    AgentState,
    Channel,
    QueuedContact,
    RouterSnapshot,
    RoutingPolicy,
    assign,
    finish_contact,
    has_room,
    is_routable,
)


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """One stream of contacts into one queue."""

    queue_id: str
    channel: Channel
    arrivals_per_hour: float
    handle_seconds: float  # mean time with the contact (talk, chat, writing the reply)
    wrap_seconds: float = 0.0  # mean after-contact work
    patience_seconds: float | None = None  # mean patience; None: nobody abandons
    handle_cv: float | None = None  # None: exponential work time; else lognormal with this CV
    priority: int = 0

    def __post_init__(self) -> None:
        for name in ("arrivals_per_hour", "handle_seconds", "wrap_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InvalidScenario(
                    f"queue {self.queue_id!r}: {name} = {value!r}; use a finite number >= 0"
                )
        if self.handle_seconds + self.wrap_seconds <= 0:
            raise InvalidScenario(f"queue {self.queue_id!r}: handle_seconds + wrap_seconds must be > 0")
        if self.patience_seconds is not None and not self.patience_seconds > 0:
            raise InvalidScenario(f"queue {self.queue_id!r}: patience_seconds must be > 0 or None")
        if self.handle_cv is not None and not self.handle_cv > 0:
            raise InvalidScenario(f"queue {self.queue_id!r}: handle_cv must be > 0 or None (exponential)")

    @property
    def work_seconds(self) -> float:
        return self.handle_seconds + self.wrap_seconds


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """`count` agents with the same skills, named `<prefix>-001`, `<prefix>-002`, ..."""

    prefix: str
    count: int
    skills: Mapping[str, int]

    def __post_init__(self) -> None:
        if self.count < 0:
            raise InvalidScenario(f"agent group {self.prefix!r}: count = {self.count}; use >= 0")
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))


@dataclass(frozen=True, slots=True)
class Scenario:
    loads: tuple[QueueLoad, ...]
    agents: tuple[AgentGroup, ...]
    start: datetime  # aware; the run begins empty here
    measure_hours: float
    warmup_hours: float = 0.5
    drain_hours: float = 2.0
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    target_seconds: float = 20.0
    email_promise_hours: float = EMAIL_PROMISE_HOURS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise InvalidScenario("scenario start has no time zone; pass an aware datetime")
        if not self.loads:
            raise InvalidScenario("a scenario needs at least one queue load")
        if not self.measure_hours > 0 or self.warmup_hours < 0 or self.drain_hours < 0:
            raise InvalidScenario("measure_hours must be > 0; warmup_hours and drain_hours >= 0")
        ids = [load.queue_id for load in self.loads]
        if len(set(ids)) != len(ids):
            raise InvalidScenario(f"queue ids must be unique, got {ids}")
        object.__setattr__(self, "loads", tuple(self.loads))
        object.__setattr__(self, "agents", tuple(self.agents))


@dataclass(frozen=True, slots=True)
class QueueResult:
    queue_id: str
    channel: Channel
    offered: int
    answered: int
    answered_within_target: int
    abandoned: int
    unresolved: int  # still waiting when the run stopped
    overflow_answered: int  # answered by an agent without a skill for the queue
    asa_seconds: float  # mean wait of the answered
    longest_wait_seconds: float
    replied_within_promise: int = 0  # e-mail: reply sent within the promise
    backlog_at_end: int = 0  # e-mail waiting when the window closed
    peak_backlog: int = 0  # most e-mails waiting at once during the window

    @property
    def service_level(self) -> float:
        """Answered within the target over all offered (abandoned count against)."""
        return self.answered_within_target / self.offered if self.offered else 1.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    @property
    def promise_kept(self) -> float:
        return self.replied_within_promise / self.offered if self.offered else 1.0


@dataclass(frozen=True, slots=True)
class SimulationResult:
    queues: tuple[QueueResult, ...]
    agents: int
    measured_hours: float
    occupancy: float  # share of agent time with a contact in progress or in after-contact work
    max_concurrent: Mapping[Channel, int]  # most contacts of a channel one agent held at once

    def queue(self, queue_id: str) -> QueueResult:
        return next(q for q in self.queues if q.queue_id == queue_id)

    @property
    def service_level(self) -> float:
        offered = sum(q.offered for q in self.queues)
        return sum(q.answered_within_target for q in self.queues) / offered if offered else 1.0


@dataclass(slots=True)
class _Tally:
    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    overflow: int = 0
    wait_total: float = 0.0
    longest: float = 0.0
    promise_kept: int = 0
    backlog_at_end: int = 0
    peak_backlog: int = 0


_ARRIVAL, _FINISH, _WAKE, _ABANDON = range(4)


class _Stream:
    """Uniforms from one seeded generator; the antithetic twin of a stream draws 1 − U
    wherever it draws U, so paired runs err in opposite directions (Law & Kelton, §11.3)."""

    def __init__(self, seed: int, name: str, antithetic: bool) -> None:
        self._rng = random.Random(f"{seed}:{name}")
        self._antithetic = antithetic

    def uniform(self) -> float:
        """U in (0, 1)."""
        u = self._rng.random() or 0.5  # 0.0 comes once in 2^53 draws; keep logs finite
        return 1.0 - u if self._antithetic else u

    def exponential(self, mean: float) -> float:
        return -mean * math.log(self.uniform())

    def work_time(self, load: QueueLoad) -> float:
        mean = load.work_seconds
        if load.handle_cv is None:
            return self.exponential(mean)
        sigma2 = math.log1p(load.handle_cv**2)  # lognormal with mean m and CV c: σ² = ln(1 + c²)
        z = _STANDARD_NORMAL.inv_cdf(self.uniform())
        return math.exp(math.log(mean) - sigma2 / 2 + math.sqrt(sigma2) * z)


_STANDARD_NORMAL = NormalDist()


def simulate(scenario: Scenario, *, antithetic: bool = False) -> SimulationResult:
    """Run the scenario once (deterministic for a given seed) and measure its window.
    `antithetic` runs the mirror image of the same seed (see `simulate_pair`)."""
    known = {load.queue_id for load in scenario.loads}
    for group in scenario.agents:
        unknown = set(group.skills) - known
        if unknown:
            raise InvalidScenario(
                f"agent group {group.prefix!r} has skills for unknown queues {sorted(unknown)}"
            )
    arrivals, work_stream, patience = (
        _Stream(scenario.seed, name, antithetic) for name in ("arrivals", "work", "patience")
    )
    policy = scenario.policy
    t0 = scenario.start
    measure_from = t0 + timedelta(hours=scenario.warmup_hours)
    measure_to = measure_from + timedelta(hours=scenario.measure_hours)
    stop_at = measure_to + timedelta(hours=scenario.drain_hours)
    target = timedelta(seconds=scenario.target_seconds)
    promise = timedelta(hours=scenario.email_promise_hours)

    agents: dict[str, AgentSnapshot] = {}
    for group in scenario.agents:
        for i in range(1, group.count + 1):
            agent_id = f"{group.prefix}-{i:03d}"
            agents[agent_id] = AgentSnapshot(agent_id, AgentState.AVAILABLE, group.skills, idle_since=t0)
    if not agents:
        raise InvalidScenario("a scenario needs at least one agent")
    # Agents who are routable with room for some channel. Routability changes only when an
    # agent takes or finishes a contact or their after-contact work ends, so this is kept
    # up to date at exactly those events (a dict, for a deterministic order).
    candidates: dict[str, None] = dict.fromkeys(agents)

    def refresh(agent_id: str, now: datetime) -> None:
        agent = agents[agent_id]
        if is_routable(agent, now) and any(has_room(agent.active, ch, policy) for ch in Channel):
            candidates[agent_id] = None
        else:
            candidates.pop(agent_id, None)

    loads = {load.queue_id: load for load in scenario.loads}
    tallies = {load.queue_id: _Tally() for load in scenario.loads}
    waiting: dict[str, QueuedContact] = {}
    measured: set[str] = set()  # measured contacts not yet answered or abandoned
    busy_since: dict[str, datetime] = {}
    busy_total = timedelta(0)
    max_concurrent = dict.fromkeys(Channel, 0)
    events: list[tuple[datetime, int, int, object]] = []
    seq = 0

    def push(at: datetime, kind: int, payload: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, payload))

    def clipped(a: datetime, b: datetime) -> timedelta:
        return max(timedelta(0), min(b, measure_to) - max(a, measure_from))

    for load in scenario.loads:
        if load.arrivals_per_hour > 0:
            push(
                t0 + timedelta(hours=arrivals.exponential(1 / load.arrivals_per_hour)),
                _ARRIVAL,
                load.queue_id,
            )

    counter = 0
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if now >= stop_at or (now >= measure_to and not measured):
            break
        if kind == _ARRIVAL:
            load = loads[str(payload)]
            push(
                now + timedelta(hours=arrivals.exponential(1 / load.arrivals_per_hour)),
                _ARRIVAL,
                load.queue_id,
            )
            counter += 1
            contact = QueuedContact(f"c{counter}", load.queue_id, load.channel, now, priority=load.priority)
            waiting[contact.contact_id] = contact
            if measure_from <= now < measure_to:
                measured.add(contact.contact_id)
                tallies[load.queue_id].offered += 1
            if load.patience_seconds is not None:
                push(now + timedelta(seconds=patience.exponential(load.patience_seconds)), _ABANDON, contact)
            overflow_after = policy.overflow_threshold(load.queue_id)
            if overflow_after is not None and overflow_after > timedelta(0):
                push(now + overflow_after, _WAKE, None)  # the router looks again when it may overflow
        elif kind == _ABANDON:
            contact = payload  # type: ignore[assignment]
            assert isinstance(contact, QueuedContact)
            if waiting.pop(contact.contact_id, None) is not None and contact.contact_id in measured:
                measured.discard(contact.contact_id)
                tallies[contact.queue_id].abandoned += 1
            continue  # nobody became free: no routing needed
        elif kind == _FINISH:
            agent_id, channel, acw = cast(tuple[str, Channel, float], payload)
            agent = finish_contact(agents[agent_id], channel, now, replace(policy, acw_seconds=acw))
            agents[agent_id] = agent
            if not any(agent.active.values()):
                end = agent.acw_until or now
                busy_total += clipped(busy_since.pop(agent_id), end)
            refresh(agent_id, now)
            if agent.acw_until is not None:
                push(agent.acw_until, _WAKE, agent_id)
        elif kind == _WAKE and payload is not None:
            refresh(str(payload), now)
        if not waiting:
            continue
        # Only agents the router could give something now: the others would be passed over
        # by `assign` itself (same predicates), so the offers are the same, found faster.
        channels = {c.channel for c in waiting.values()}
        free = tuple(
            a
            for a in (agents[agent_id] for agent_id in candidates)
            if is_routable(a, now) and any(has_room(a.active, ch, policy) for ch in channels)
        )
        if not free:
            continue
        offers = assign(RouterSnapshot(tuple(waiting.values()), free), now, policy)
        for offer in offers:
            contact = waiting.pop(offer.contact_id)
            load = loads[contact.queue_id]
            agent = agents[offer.agent_id]
            active = dict(agent.active)
            active[contact.channel] += 1
            max_concurrent[contact.channel] = max(max_concurrent[contact.channel], active[contact.channel])
            agents[offer.agent_id] = replace(agent, state=AgentState.BUSY, active=active, acw_until=None)
            refresh(offer.agent_id, now)
            busy_since.setdefault(offer.agent_id, now)
            work = work_stream.work_time(load)
            wrap = work * load.wrap_seconds / load.work_seconds
            push(now + timedelta(seconds=work - wrap), _FINISH, (offer.agent_id, contact.channel, wrap))
            if contact.contact_id in measured:
                measured.discard(contact.contact_id)
                tally = tallies[contact.queue_id]
                waited = now - contact.enqueued_at
                tally.answered += 1
                tally.within += waited <= target
                tally.overflow += offer.overflow
                tally.wait_total += waited.total_seconds()
                tally.longest = max(tally.longest, waited.total_seconds())
                reply_at = now + timedelta(seconds=work - wrap)
                tally.promise_kept += reply_at - contact.enqueued_at <= promise
        if measure_from <= now < measure_to:
            for queue_id, tally in tallies.items():
                if loads[queue_id].channel is Channel.EMAIL:
                    backlog = sum(1 for c in waiting.values() if c.queue_id == queue_id)
                    tally.peak_backlog = max(tally.peak_backlog, backlog)
                    tally.backlog_at_end = backlog

    for since in busy_since.values():
        busy_total += clipped(since, measure_to)
    window = timedelta(hours=scenario.measure_hours) * len(agents)
    results = []
    for queue_id, t in tallies.items():
        results.append(
            QueueResult(
                queue_id=queue_id,
                channel=loads[queue_id].channel,
                offered=t.offered,
                answered=t.answered,
                answered_within_target=t.within,
                abandoned=t.abandoned,
                unresolved=t.offered - t.answered - t.abandoned,
                overflow_answered=t.overflow,
                asa_seconds=t.wait_total / t.answered if t.answered else math.inf,
                longest_wait_seconds=t.longest,
                replied_within_promise=t.promise_kept,
                backlog_at_end=t.backlog_at_end,
                peak_backlog=t.peak_backlog,
            )
        )
    return SimulationResult(
        queues=tuple(results),
        agents=len(agents),
        measured_hours=scenario.measure_hours,
        occupancy=busy_total / window,
        max_concurrent=MappingProxyType(max_concurrent),
    )


def simulate_pair(scenario: Scenario) -> SimulationResult:
    """The scenario and its antithetic mirror, pooled: the same seed run with every uniform U
    replaced by 1 − U. A stream of long gaps and short calls is met by one of short gaps and
    long calls, so the realised load of the pair stays near the nominal one and the pooled
    service level varies far less than two independent runs would (the reason to pair)."""
    return pool(simulate(scenario), simulate(scenario, antithetic=True))


def pool(*runs: SimulationResult) -> SimulationResult:
    """Several runs of the same scenario as one measurement: counts are summed, waits averaged
    over the answered, backlog figures are the worst run's."""
    if not runs:
        raise InvalidScenario("pool needs at least one run")
    queues = []
    for parts in zip(*(r.queues for r in runs), strict=True):
        answered = sum(q.answered for q in parts)
        waited = sum(q.asa_seconds * q.answered for q in parts if q.answered)
        queues.append(
            QueueResult(
                queue_id=parts[0].queue_id,
                channel=parts[0].channel,
                offered=sum(q.offered for q in parts),
                answered=answered,
                answered_within_target=sum(q.answered_within_target for q in parts),
                abandoned=sum(q.abandoned for q in parts),
                unresolved=sum(q.unresolved for q in parts),
                overflow_answered=sum(q.overflow_answered for q in parts),
                asa_seconds=waited / answered if answered else math.inf,
                longest_wait_seconds=max(q.longest_wait_seconds for q in parts),
                replied_within_promise=sum(q.replied_within_promise for q in parts),
                backlog_at_end=max(q.backlog_at_end for q in parts),
                peak_backlog=max(q.peak_backlog for q in parts),
            )
        )
    hours = sum(r.measured_hours for r in runs)
    return SimulationResult(
        queues=tuple(queues),
        agents=runs[0].agents,
        measured_hours=hours,
        occupancy=sum(r.occupancy * r.measured_hours for r in runs) / hours,
        max_concurrent=MappingProxyType({c: max(r.max_concurrent[c] for r in runs) for c in Channel}),
    )
