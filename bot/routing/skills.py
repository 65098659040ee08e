"""Skill-based routing as pure functions over a snapshot of queues and agents.

Nothing here reads a clock or a database: the caller builds a `RouterSnapshot`, passes
`now` and a `RoutingPolicy`, and gets back assignments (offers) to make.

The rules, in the order `assign` applies them:

* Contacts are served one at a time in this order: higher `priority` first (e.g. the
  special-needs queues), then by channel (`policy.channel_priority`, voice before chat before
  e-mail, so a waiting call beats an older chat), then contacts returned by an unanswered offer
  (`return_unanswered`), then the longest waiting (`enqueued_at`), then `contact_id`.
* Each contact goes to the best routable agent with room for its channel: the highest skill
  level for the contact's queue (level 0 or missing means "cannot take it"); ties go to the
  agent idle longest (`idle_since`, unknown last), then the lowest `agent_id`.
* Overflow: once a contact has waited at least the queue's overflow threshold, agents
  without a skill for its queue may take it too, but only after every skilled agent. Which
  agents: those with a skill > 0 in one of `policy.overflow_targets[queue_id]`, or, if the
  queue has no entry there, any agent with a skill > 0 in any queue.
  A sensitive contact (special needs, social, emergencies: `QueuedContact.sensitive`, or a queue
  in `policy.protected_queues`) never overflows: it waits for an agent with the skill.
  An e-mail that carries its promise (`overflow_at`, from `email_overflow_at`) overflows once
  that fraction of its reply deadline is used, not after a number of seconds.
* Routable agents: state AVAILABLE or BUSY (room is decided by `active` and
  `policy.concurrency`), or AFTER_CONTACT_WORK whose `acw_until` has passed. Anyone with
  `acw_until > now` gets nothing, whatever the state; PAUSED and OFFLINE get nothing.
* Concurrency: at most `policy.concurrency[channel]` contacts per channel per agent. With
  `exclusive_voice`, an agent with a call in progress gets nothing else, and a call is only
  offered to an agent with no contact in progress at all.

The matching is greedy in contact order (the way an ACD serves its queues), so a contact is
never skipped in favour of a later one; it is not a maximum matching. Every contact is
assigned at most once and no agent goes over capacity; when `assign` stops, no waiting
contact could still be given to any agent.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from bot.errors import (
    DuplicateRoutingId,
    InvalidRoutingPolicy,
    InvalidSkillLevel,
    NaiveDatetime,
    NoStaffedAgents,
    RoutingError,
    UnknownContact,
)
from bot.routing.calendar import OpeningHours, subtract_business_hours

MAX_SKILL = 9


class Channel(enum.StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"


class AgentState(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AFTER_CONTACT_WORK = "after_contact_work"
    PAUSED = "paused"
    OFFLINE = "offline"


ROUTABLE_STATES = frozenset({AgentState.AVAILABLE, AgentState.BUSY})
LOGGED_IN_STATES = frozenset({AgentState.AVAILABLE, AgentState.BUSY, AgentState.AFTER_CONTACT_WORK})


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{name}={value.isoformat()} has no time zone; pass an aware datetime (UTC)")


@dataclass(frozen=True, slots=True)
class QueuedContact:
    """A contact waiting in a competence queue.

    `returned_at` is set by `return_unanswered`: the contact then sorts at the front of its
    queue while keeping its original `enqueued_at`, so waiting time, overflow and callback
    thresholds still count from when the citizen first joined.
    """

    contact_id: str
    queue_id: str
    channel: Channel
    enqueued_at: datetime
    priority: int = 0
    returned_at: datetime | None = None
    offer_attempts: int = 0
    sensitive: bool = False  # never to an agent without the skill (no overflow)
    overflow_at: datetime | None = None  # overrides the seconds threshold (e-mail: its promise)

    def __post_init__(self) -> None:
        _require_aware(self.enqueued_at, f"contact {self.contact_id!r} enqueued_at")
        for name in ("returned_at", "overflow_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, f"contact {self.contact_id!r} {name}")
        if not isinstance(self.channel, Channel):
            raise RoutingError(f"contact {self.contact_id!r} has channel {self.channel!r}; use a Channel")


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """One agent as the router sees it at a moment.

    `skills` maps queue ids to levels 0..9 (0 = cannot take the queue). `active` counts the
    contacts in progress per channel (missing = 0). `idle_since` breaks ties between equally
    skilled agents (idle longest first); None means unknown and sorts last.
    """

    agent_id: str
    state: AgentState
    skills: Mapping[str, int] = field(default_factory=dict)
    active: Mapping[Channel, int] = field(default_factory=dict)
    acw_until: datetime | None = None
    idle_since: datetime | None = None

    def __post_init__(self) -> None:
        for queue_id, level in self.skills.items():
            if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_SKILL:
                raise InvalidSkillLevel(
                    f"agent {self.agent_id!r} has skill {level!r} for queue {queue_id!r};"
                    f" use a whole number from 0 (cannot) to {MAX_SKILL} (best)"
                )
        for channel, count in self.active.items():
            if not isinstance(channel, Channel):
                raise RoutingError(f"agent {self.agent_id!r}: active key {channel!r} is not a Channel")
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise RoutingError(
                    f"agent {self.agent_id!r} has {count!r} active {channel} contacts; use a count >= 0"
                )
        for name in ("acw_until", "idle_since"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(value, f"agent {self.agent_id!r} {name}")
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))
        object.__setattr__(self, "active", MappingProxyType({c: self.active.get(c, 0) for c in Channel}))


def _default_concurrency() -> Mapping[Channel, int]:
    return {Channel.VOICE: 1, Channel.CHAT: 3, Channel.EMAIL: 5}


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Tunable routing rules (per tenant). Thresholds are in seconds.

    `overflow_after_seconds` overrides `default_overflow_after_seconds` per queue; a value of
    None means the queue never overflows. `overflow_targets` limits which agents take a
    queue's overflow (see the module docstring).
    """

    acw_seconds: float = 30
    overflow_after_seconds: Mapping[str, float | None] = field(default_factory=dict)
    default_overflow_after_seconds: float | None = 120
    overflow_targets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    concurrency: Mapping[Channel, int] = field(default_factory=_default_concurrency)
    channel_priority: tuple[Channel, ...] = (Channel.VOICE, Channel.CHAT, Channel.EMAIL)
    callback_queue_length: int = 5
    callback_wait_seconds: float = 60
    exclusive_voice: bool = True
    # Queues whose contacts never overflow to agents without the skill (besides sensitive ones).
    protected_queues: frozenset[str] = frozenset()
    # An e-mail overflows once this fraction of its reply promise is used (None: seconds rule).
    email_overflow_fraction: float | None = 0.5

    def __post_init__(self) -> None:
        _non_negative("acw_seconds", self.acw_seconds)
        _non_negative("callback_wait_seconds", self.callback_wait_seconds)
        _non_negative("callback_queue_length", self.callback_queue_length)
        if self.email_overflow_fraction is not None and not (
            isinstance(self.email_overflow_fraction, int | float) and 0 <= self.email_overflow_fraction <= 1
        ):
            raise InvalidRoutingPolicy(
                f"email_overflow_fraction = {self.email_overflow_fraction!r}; use a fraction 0..1 of the promise"
            )
        if self.default_overflow_after_seconds is not None:
            _non_negative("default_overflow_after_seconds", self.default_overflow_after_seconds)
        for queue_id, seconds in self.overflow_after_seconds.items():
            if seconds is not None:
                _non_negative(f"overflow_after_seconds[{queue_id!r}]", seconds)
        if len(self.channel_priority) != len(Channel) or set(self.channel_priority) != set(Channel):
            raise InvalidRoutingPolicy(
                f"channel_priority {self.channel_priority!r} must list every channel exactly once"
            )
        if set(self.concurrency) != set(Channel):
            raise InvalidRoutingPolicy(
                f"concurrency must give a limit for every channel, got {dict(self.concurrency)!r}"
            )
        for channel, limit in self.concurrency.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InvalidRoutingPolicy(f"concurrency[{channel}] = {limit!r}; use a whole number >= 0")
        overflow_after = MappingProxyType(dict(self.overflow_after_seconds))
        targets = MappingProxyType({q: frozenset(t) for q, t in self.overflow_targets.items()})
        object.__setattr__(self, "overflow_after_seconds", overflow_after)
        object.__setattr__(self, "overflow_targets", targets)
        object.__setattr__(self, "concurrency", MappingProxyType(dict(self.concurrency)))
        object.__setattr__(self, "channel_priority", tuple(self.channel_priority))
        object.__setattr__(self, "protected_queues", frozenset(self.protected_queues))

    def overflow_threshold(self, queue_id: str) -> timedelta | None:
        seconds = self.overflow_after_seconds.get(queue_id, self.default_overflow_after_seconds)
        return None if seconds is None else timedelta(seconds=seconds)


def _non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidRoutingPolicy(f"{name} = {value!r}; use a finite number >= 0")


DEFAULT_POLICY = RoutingPolicy()


@dataclass(frozen=True, slots=True)
class RouterSnapshot:
    """Everything waiting and everyone logged in, at one moment."""

    contacts: tuple[QueuedContact, ...] = ()
    agents: tuple[AgentSnapshot, ...] = ()

    def __post_init__(self) -> None:
        contacts, agents = tuple(self.contacts), tuple(self.agents)
        _refuse_duplicates("contact", (c.contact_id for c in contacts))
        _refuse_duplicates("agent", (a.agent_id for a in agents))
        object.__setattr__(self, "contacts", contacts)
        object.__setattr__(self, "agents", agents)


def _refuse_duplicates(kind: str, ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise DuplicateRoutingId(f"{kind} id {item!r} appears twice in the snapshot; ids must be unique")
        seen.add(item)


@dataclass(frozen=True, slots=True)
class Assignment:
    """Offer `contact_id` to `agent_id`. `overflow` is True when the agent lacks the skill."""

    contact_id: str
    agent_id: str
    queue_id: str
    channel: Channel
    skill: int
    overflow: bool = False


# --- small rules -------------------------------------------------------------------------------


def is_routable(agent: AgentSnapshot, now: datetime) -> bool:
    """Whether the agent may receive anything now (capacity aside)."""
    _require_aware(now, "now")
    if agent.acw_until is not None and agent.acw_until > now:
        return False
    if agent.state is AgentState.AFTER_CONTACT_WORK:
        return agent.acw_until is not None  # ACW of unknown length blocks until the state changes
    return agent.state in ROUTABLE_STATES


def has_room(active: Mapping[Channel, int], channel: Channel, policy: RoutingPolicy = DEFAULT_POLICY) -> bool:
    """Whether an agent with `active` contacts in progress can take one more on `channel`."""
    if policy.exclusive_voice:
        if active.get(Channel.VOICE, 0) > 0:
            return False
        if channel is Channel.VOICE and any(active.get(c, 0) > 0 for c in Channel):
            return False
    return active.get(channel, 0) < policy.concurrency[channel]


def may_overflow(contact: QueuedContact, policy: RoutingPolicy = DEFAULT_POLICY) -> bool:
    """Whether the contact may ever go to an agent without the skill: never when it is
    sensitive or waits in a protected queue (special needs, social, emergencies)."""
    return not contact.sensitive and contact.queue_id not in policy.protected_queues


def is_overflowing(contact: QueuedContact, now: datetime, policy: RoutingPolicy = DEFAULT_POLICY) -> bool:
    """Whether the contact may now go to agents without the skill: it may overflow at all, and
    has reached its `overflow_at` (an e-mail's promise) or else waited its queue's threshold."""
    if not may_overflow(contact, policy):
        return False
    if contact.overflow_at is not None:
        return now >= contact.overflow_at
    threshold = policy.overflow_threshold(contact.queue_id)
    return threshold is not None and now - contact.enqueued_at >= threshold


def email_overflow_at(
    sla_due_at: datetime, promise_hours: float, schedule: OpeningHours, policy: RoutingPolicy = DEFAULT_POLICY
) -> datetime | None:
    """When an e-mail due at `sla_due_at` (a promise of `promise_hours` opening hours) has used
    `policy.email_overflow_fraction` of it: the remaining opening time is then the rest of the
    promise. None when the policy counts e-mail in seconds like the other channels."""
    _require_aware(sla_due_at, "sla_due_at")
    fraction = policy.email_overflow_fraction
    if fraction is None:
        return None
    return subtract_business_hours(sla_due_at, (1 - fraction) * promise_hours, schedule).astimezone(UTC)


def may_take_overflow(agent: AgentSnapshot, queue_id: str, policy: RoutingPolicy = DEFAULT_POLICY) -> bool:
    """Whether an agent without a skill for `queue_id` may take its overflowing contacts."""
    targets = policy.overflow_targets.get(queue_id)
    if targets is None:
        return any(level > 0 for level in agent.skills.values())
    return any(agent.skills.get(q, 0) > 0 for q in targets)


def contact_order_key(contact: QueuedContact, policy: RoutingPolicy = DEFAULT_POLICY) -> tuple[object, ...]:
    """Sort key: priority, channel, returned-first, longest waiting, id (see module docstring)."""
    return (
        -contact.priority,
        policy.channel_priority.index(contact.channel),
        contact.returned_at is None,
        contact.enqueued_at.astimezone(UTC),
        contact.contact_id,
    )


def _agent_rank(agent: AgentSnapshot, skill: int) -> tuple[object, ...]:
    idle = (0, agent.idle_since.astimezone(UTC)) if agent.idle_since is not None else (1,)
    return (skill == 0, -skill, idle, agent.agent_id)


# --- decisions ---------------------------------------------------------------------------------


def assign(
    snapshot: RouterSnapshot, now: datetime, policy: RoutingPolicy = DEFAULT_POLICY
) -> list[Assignment]:
    """Offers to make now, in the order they were decided (see the module docstring)."""
    _require_aware(now, "now")
    routable = [a for a in snapshot.agents if is_routable(a, now)]
    load = {a.agent_id: dict(a.active) for a in routable}
    offers: list[Assignment] = []
    for contact in sorted(snapshot.contacts, key=lambda c: contact_order_key(c, policy)):
        overflowing = is_overflowing(contact, now, policy)
        best: tuple[tuple[object, ...], AgentSnapshot, int] | None = None
        for agent in routable:
            if not has_room(load[agent.agent_id], contact.channel, policy):
                continue
            skill = agent.skills.get(contact.queue_id, 0)
            if skill == 0 and not (overflowing and may_take_overflow(agent, contact.queue_id, policy)):
                continue
            rank = _agent_rank(agent, skill)
            if best is None or rank < best[0]:
                best = (rank, agent, skill)
        if best is None:
            continue
        _, agent, skill = best
        load[agent.agent_id][contact.channel] += 1
        offers.append(
            Assignment(
                contact_id=contact.contact_id,
                agent_id=agent.agent_id,
                queue_id=contact.queue_id,
                channel=contact.channel,
                skill=skill,
                overflow=skill == 0,
            )
        )
    return offers


def return_unanswered(contact: QueuedContact, now: datetime) -> QueuedContact:
    """The contact after an offer was not accepted: back at the FRONT of its queue.

    It keeps its original `enqueued_at` (waiting time, overflow and callback thresholds go on
    counting from when the citizen joined); `returned_at` marks it for the front and
    `offer_attempts` counts the failed offers. Put the agent who did not answer in PAUSED in
    the next snapshot, or the same offer will be made again.
    """
    _require_aware(now, "now")
    return replace(contact, returned_at=now, offer_attempts=contact.offer_attempts + 1)


def finish_contact(
    agent: AgentSnapshot, channel: Channel, now: datetime, policy: RoutingPolicy = DEFAULT_POLICY
) -> AgentSnapshot:
    """The agent after finishing one contact on `channel`: in after-contact work until
    `now + policy.acw_seconds` (nothing is routed to them meanwhile), or, with no ACW,
    AVAILABLE (BUSY if other contacts remain in progress)."""
    _require_aware(now, "now")
    active = dict(agent.active)
    if active[channel] == 0:
        raise RoutingError(f"agent {agent.agent_id!r} has no {channel} contact in progress to finish")
    active[channel] -= 1
    busy = any(active.values())
    idle_since = agent.idle_since if busy else now
    if policy.acw_seconds > 0:
        until = now + timedelta(seconds=policy.acw_seconds)
        return replace(
            agent, state=AgentState.AFTER_CONTACT_WORK, active=active, acw_until=until, idle_since=idle_since
        )
    state = AgentState.BUSY if busy else AgentState.AVAILABLE
    return replace(agent, state=state, active=active, acw_until=None, idle_since=idle_since)


def waiting_in_queue(
    queue_id: str, snapshot: RouterSnapshot, policy: RoutingPolicy = DEFAULT_POLICY
) -> list[QueuedContact]:
    """The contacts of one queue, front first."""
    waiting = [c for c in snapshot.contacts if c.queue_id == queue_id]
    return sorted(waiting, key=lambda c: contact_order_key(c, policy))


def queue_position(contact_id: str, snapshot: RouterSnapshot, policy: RoutingPolicy = DEFAULT_POLICY) -> int:
    """1-based position of the contact in its own queue (1 = next). Raises `UnknownContact`."""
    contact = next((c for c in snapshot.contacts if c.contact_id == contact_id), None)
    if contact is None:
        raise UnknownContact(
            f"contact {contact_id!r} is not waiting in the snapshot; it may already be assigned"
        )
    queue = waiting_in_queue(contact.queue_id, snapshot, policy)
    return [c.contact_id for c in queue].index(contact_id) + 1


def staffed_agents(queue_id: str, snapshot: RouterSnapshot) -> list[AgentSnapshot]:
    """Logged-in agents (not PAUSED/OFFLINE) with a skill > 0 for the queue."""
    return [a for a in snapshot.agents if a.state in LOGGED_IN_STATES and a.skills.get(queue_id, 0) > 0]


def expected_wait(
    queue_id: str,
    snapshot: RouterSnapshot,
    avg_handle_seconds: float,
    *,
    position: int | None = None,
) -> timedelta:
    """Estimated wait for announcements: position x average handle time / staffed agents.

    `position` defaults to a new contact joining at the back (waiting + 1); pass
    `queue_position(...)` for a contact already waiting. Rounded to whole seconds. A rough,
    deterministic estimate, not an Erlang C forecast. Raises `NoStaffedAgents` when nobody
    logged in has the skill.
    """
    _non_negative("avg_handle_seconds", avg_handle_seconds)
    staffed = len(staffed_agents(queue_id, snapshot))
    if staffed == 0:
        raise NoStaffedAgents(
            f"no logged-in agent has a skill for queue {queue_id!r}; offer a callback or another channel"
        )
    if position is None:
        position = sum(1 for c in snapshot.contacts if c.queue_id == queue_id) + 1
    if position < 1:
        raise RoutingError(f"position must be >= 1, got {position}")
    return timedelta(seconds=round(position * avg_handle_seconds / staffed))


def should_offer_callback(
    queue_id: str, snapshot: RouterSnapshot, now: datetime, policy: RoutingPolicy = DEFAULT_POLICY
) -> bool:
    """Offer a callback when more than `callback_queue_length` contacts wait in the queue or
    the oldest has waited at least `callback_wait_seconds` (counting every contact in the
    snapshot, including the one asking)."""
    _require_aware(now, "now")
    waiting = [c for c in snapshot.contacts if c.queue_id == queue_id]
    return callback_due(len(waiting), min((c.enqueued_at for c in waiting), default=None), now, policy)


def callback_due(waiting: int, oldest: datetime | None, now: datetime, policy: RoutingPolicy = DEFAULT_POLICY) -> bool:
    """`should_offer_callback` on what it counts: how many wait in the queue and when the longest
    waiting of them joined (a waiting citizen's turn counts these in the database)."""
    if not waiting or oldest is None:
        return False
    if waiting > policy.callback_queue_length:
        return True
    return now - oldest >= timedelta(seconds=policy.callback_wait_seconds)
