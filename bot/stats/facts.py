"""One row of facts per contact, folded from the append-only event log, and agents' time per state.

The KPIs in `bot.stats.kpi` never read the database. A caller loads a contact's rows of the
`events` table (ordered by id) as `EventRow`s and folds them with `fold_contact` into one frozen
`ContactFacts`; agent-state rows fold with `agent_intervals` into time per state.

Event contract (what the engine records, `data` being the JSON column):

- `contact_opened` starts the contact (`opened_at`; else the first row's time).
- `bot_replied` {decision: {action, topic, confidence, article: {id}}}: what the bot did.
- `handoff_requested` {reason, topic, sla_due_at?}: left the bot; `sla_due_at` (ISO 8601) is the
  e-mail first-reply deadline (also read from `due_at` of `sla_warning` / `sla_breached`).
- `queued` {queue_id}: entered a queue (first handoff or transfer).
- `offer_accepted` (agent_id): an agent took it; `agent_replied` (agent_id): an agent wrote.
- `transferred` {acw_seconds?}, `closed` {outcome, topic, acw_seconds?}: an agent finished it.
- `abandoned` {from}, `message_left`, `callback_requested`: the citizen left or left word.
- `sla_breached`: the e-mail deadline passed without a reply.
- `feedback` {level: bot|agent, channel?, scale?: [low, high], scores: {question: score}}.
- The explicit ending: the first row of any kind whose data holds `ending` (an `Ending` value)
  ends the contact at that row's time; it may carry `outcome`, `topic`, `article_id`,
  `acw_seconds`, `waited_seconds`. Without one the ending is inferred from the first
  terminal row above (a contact still in the bot with no such row stays `OPEN`).

Waiting follows Puzzel: from entering the first queue to the first agent accepting (or, for an
unanswered contact, to when it left the queue). Handling runs from each acceptance to the
transfer or close that ends it (talk time); after-contact work is added only where recorded.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from bot.routing.handoff import PacketReason
from bot.routing.skills import AgentState, Channel
from bot.stats.errors import MalformedEvent, NoEvents
from bot.storage.models import EventKind, Outcome
from bot.types import Action

__all__ = [
    "DEFAULT_SCALES", "AgentTime", "ContactFacts", "ContactHeader", "Ending", "EventRow", "FeedbackAnswer",
    "FeedbackLevel", "agent_intervals", "fold_contact", "fold_contacts",
]  # fmt: skip

K = EventKind
_E = TypeVar("_E", bound=enum.Enum)


class Ending(enum.StrEnum):
    """How a contact ended: exactly one per contact."""

    BOT_ANSWERED = "bot_answered"  # the bot answered from an article
    BOT_SELFSERVICE = "bot_selfservice"  # the bot referred to / guided through self-service
    AGENT_CLOSED = "agent_closed"  # handed off and closed by an agent with an outcome code
    ABANDONED_IN_QUEUE = "abandoned_in_queue"  # left while waiting for an agent
    LEFT_IN_BOT = "left_in_bot"  # left the bot conversation before any answer
    MESSAGE_LEFT = "message_left"  # besked
    CALLBACK_BOOKED = "callback_booked"  # tilbagekald
    OPEN = "open"  # not ended yet


BOT_RESOLVED = frozenset({Ending.BOT_ANSWERED, Ending.BOT_SELFSERVICE})


class FeedbackLevel(enum.StrEnum):
    """Who served the citizen the survey is about: 1st level = the bot, 2nd level = an agent."""

    BOT = "bot"
    AGENT = "agent"


# Voice surveys use the phone keypad (1-9), chat and web surveys 1-10; the two are never averaged.
DEFAULT_SCALES: Mapping[Channel, tuple[int, int]] = MappingProxyType(
    {Channel.VOICE: (1, 9), Channel.CHAT: (1, 10), Channel.EMAIL: (1, 10)}
)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _EventLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def contact_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class EventRow:
    """One row of the `events` table. `kind` is the stored string, so kinds the engine adds later
    fold without a code change; `data` is the raw JSON column, read only here."""

    kind: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    agent_id: str | None = None
    contact_id: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise MalformedEvent(self.contact_id, self.kind, f"time {self.at.isoformat()} has no time zone")

    @classmethod
    def of(cls, row: _EventLike) -> EventRow:
        """From a stored `Event` or a `repository.EventView`."""
        return cls(kind=str(row.kind), at=row.at, data=MappingProxyType(dict(row.data or {})),
                   agent_id=row.agent_id, contact_id=row.contact_id)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContactHeader:
    """What the events do not say: the contact's identity. `citizen_key` is a pseudonym of the
    citizen (e.g. a keyed hash of phone, e-mail or CPR) used only to find repeat contacts; None
    when the citizen is unknown (an anonymous chat)."""

    tenant_id: str
    contact_id: str
    channel: Channel
    citizen_key: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackAnswer:
    level: FeedbackLevel
    channel: Channel
    question: str
    score: int
    scale: tuple[int, int]


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """Everything the KPIs need about one contact. Times are aware UTC; seconds are floats."""

    tenant_id: str
    contact_id: str
    channel: Channel
    citizen_key: str | None
    opened_at: datetime
    ending: Ending
    ended_at: datetime | None = None
    first_queue: str | None = None
    last_queue: str | None = None
    topic: str | None = None
    triage_action: Action | None = None
    handoff_reason: PacketReason | None = None
    first_queued_at: datetime | None = None
    first_answered_at: datetime | None = None  # the first agent accepted
    outcome: Outcome | None = None
    waited_seconds: float | None = None  # first queue -> first agent, or -> leaving the queue
    transfers: int = 0
    agent_ids: tuple[str, ...] = ()
    handled_seconds: float | None = None  # accept -> transfer/close, summed over agents
    acw_seconds: float | None = None  # after-contact work, only where recorded
    email_deadline: datetime | None = None
    first_reply_at: datetime | None = None  # the first agent reply (for e-mail: the answer)
    email_deadline_breached: bool = False
    feedback: tuple[FeedbackAnswer, ...] = ()
    bot_replies: int = 0
    bot_min_confidence: float | None = None  # the bot's least confident decision
    bot_unanswered: bool = False  # the bot replied but never with an answer or self-service
    article_id: str | None = None  # the article of the bot's last answer

    @property
    def queued(self) -> bool:
        return self.first_queued_at is not None

    @property
    def answered(self) -> bool:
        return self.first_answered_at is not None

    @property
    def resolved_by_bot(self) -> bool:
        return self.ending in BOT_RESOLVED


# --- folding one contact ---------------------------------------------------------------------


@dataclass
class _Fold:
    """The running state of one fold; never leaves this module."""

    header: ContactHeader
    opened_at: datetime
    inferred: tuple[Ending, datetime] | None = None
    explicit: tuple[Ending, EventRow] | None = None
    first_queue: str | None = None
    last_queue: str | None = None
    first_queued_at: datetime | None = None
    first_answered_at: datetime | None = None
    accepted_at: datetime | None = None
    agents: list[str] = field(default_factory=list)
    handled: float | None = None
    acw: float | None = None
    transfers: int = 0
    outcome: Outcome | None = None
    handoff_reason: PacketReason | None = None
    handoff_topic: str | None = None
    closed_topic: str | None = None
    answer_topic: str | None = None
    last_action: Action | None = None
    answer_action: Action | None = None
    article_id: str | None = None
    bot_replies: int = 0
    min_confidence: float | None = None
    deadline: datetime | None = None
    breached: bool = False
    first_reply_at: datetime | None = None
    feedback: dict[tuple[FeedbackLevel, str], FeedbackAnswer] = field(default_factory=dict)

    def fail(self, row: EventRow, problem: str) -> MalformedEvent:
        return MalformedEvent(self.header.contact_id, row.kind, problem)

    def end(self, ending: Ending, at: datetime) -> None:
        if self.inferred is None:
            self.inferred = (ending, at)

    def add_handled(self, until: datetime) -> None:
        if self.accepted_at is not None:
            self.handled = (self.handled or 0.0) + max(0.0, (until - self.accepted_at).total_seconds())
            self.accepted_at = None

    def add_acw(self, row: EventRow, data: Mapping[str, Any]) -> None:
        if data.get("acw_seconds") is not None:
            self.acw = (self.acw or 0.0) + _number(self, row, data["acw_seconds"], "acw_seconds")


def _enum(fold: _Fold, row: EventRow, cls: type[_E], value: Any, name: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise fold.fail(
            row, f"{name}={value!r} is not one of {', '.join(str(m.value) for m in cls)}"
        ) from None


def _number(fold: _Fold, row: EventRow, value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fold.fail(row, f"{name}={value!r} is not a number")
    return float(value)


def _time(fold: _Fold, row: EventRow, value: Any, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise fold.fail(row, f"{name}={value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise fold.fail(row, f"{name}={value!r} has no time zone")
    return at


def _bot_replied(fold: _Fold, row: EventRow) -> None:
    decision = row.data.get("decision")
    if not decision:
        return
    fold.bot_replies += 1
    action = _enum(fold, row, Action, decision.get("action"), "decision.action")
    fold.last_action = action
    if decision.get("confidence") is not None:
        confidence = _number(fold, row, decision["confidence"], "decision.confidence")
        fold.min_confidence = (
            confidence if fold.min_confidence is None else min(fold.min_confidence, confidence)
        )
    if action in (Action.ANSWER, Action.SELFSERVICE):
        fold.answer_action = action
        fold.answer_topic = decision.get("topic") or fold.answer_topic
        article = decision.get("article")
        fold.article_id = article.get("id") if article else fold.article_id


def _abandoned(fold: _Fold, row: EventRow) -> None:
    source = row.data.get("from")
    if source in ("queued", "offered") or (source is None and fold.first_queued_at is not None):
        fold.end(Ending.ABANDONED_IN_QUEUE, row.at)
    elif fold.answer_action is Action.ANSWER:
        fold.end(Ending.BOT_ANSWERED, row.at)
    elif fold.answer_action is Action.SELFSERVICE:
        fold.end(Ending.BOT_SELFSERVICE, row.at)
    else:
        fold.end(Ending.LEFT_IN_BOT, row.at)


def _feedback(fold: _Fold, row: EventRow) -> None:
    data = row.data
    channel = _enum(fold, row, Channel, data.get("channel") or fold.header.channel, "channel")
    if data.get("level") is None:
        level = FeedbackLevel.AGENT if fold.agents else FeedbackLevel.BOT
    else:
        level = _enum(fold, row, FeedbackLevel, data["level"], "level")
    scale = tuple(data["scale"]) if data.get("scale") is not None else DEFAULT_SCALES[channel]
    if len(scale) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale):
        raise fold.fail(row, f"scale={data.get('scale')!r} is not [low, high]")
    low, high = scale
    for question, score in dict(data.get("scores") or {}).items():
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise fold.fail(row, f"score {score!r} for question {question!r} is outside {low}..{high}")
        fold.feedback[(level, str(question))] = FeedbackAnswer(
            level, channel, str(question), score, (low, high)
        )


def _step(fold: _Fold, row: EventRow) -> None:
    data = row.data
    kind = row.kind
    if data.get("ending") is not None and fold.explicit is None:
        fold.explicit = (_enum(fold, row, Ending, data["ending"], "ending"), row)
    if kind == K.CONTACT_OPENED:
        fold.opened_at = row.at
    elif kind == K.BOT_REPLIED:
        _bot_replied(fold, row)
    elif kind == K.HANDOFF_REQUESTED:
        if fold.handoff_reason is None and data.get("reason") is not None:
            fold.handoff_reason = _enum(fold, row, PacketReason, data["reason"], "reason")
        fold.handoff_topic = data.get("topic") or fold.handoff_topic
        if data.get("sla_due_at") and fold.deadline is None:
            fold.deadline = _time(fold, row, data["sla_due_at"], "sla_due_at")
    elif kind == K.QUEUED:
        queue = data.get("queue_id")
        fold.first_queue = fold.first_queue or queue
        fold.last_queue = queue or fold.last_queue
        fold.first_queued_at = fold.first_queued_at or row.at
    elif kind == K.OFFER_ACCEPTED:
        fold.first_answered_at = fold.first_answered_at or row.at
        fold.accepted_at = row.at
        if row.agent_id and row.agent_id not in fold.agents:
            fold.agents.append(row.agent_id)
    elif kind == K.AGENT_REPLIED:
        fold.first_reply_at = fold.first_reply_at or row.at
    elif kind == K.TRANSFERRED:
        fold.transfers += 1
        fold.add_handled(row.at)
        fold.add_acw(row, data)
    elif kind == K.CLOSED:
        if data.get("outcome") is not None:
            fold.outcome = _enum(fold, row, Outcome, data["outcome"], "outcome")
        fold.closed_topic = data.get("topic") or fold.closed_topic
        if fold.accepted_at is not None:
            fold.end(Ending.AGENT_CLOSED, row.at)
        fold.add_handled(row.at)
        fold.add_acw(row, data)
    elif kind == K.ABANDONED:
        _abandoned(fold, row)
    elif kind == K.MESSAGE_LEFT:
        fold.end(Ending.MESSAGE_LEFT, row.at)
    elif kind == K.CALLBACK_REQUESTED:
        fold.end(Ending.CALLBACK_BOOKED, row.at)
    elif kind in (K.SLA_WARNING, K.SLA_BREACHED):
        fold.breached = fold.breached or kind == K.SLA_BREACHED
        if data.get("due_at") and fold.deadline is None:
            fold.deadline = _time(fold, row, data["due_at"], "due_at")
    elif kind == K.FEEDBACK:
        _feedback(fold, row)


def _waited(
    fold: _Fold, ending: Ending, ended_at: datetime | None, explicit: Mapping[str, Any]
) -> float | None:
    start = fold.first_queued_at
    if start is not None:
        if fold.first_answered_at is not None:
            return (fold.first_answered_at - start).total_seconds()
        if ended_at is not None and ending in (
            Ending.ABANDONED_IN_QUEUE,
            Ending.MESSAGE_LEFT,
            Ending.CALLBACK_BOOKED,
        ):
            return max(0.0, (ended_at - start).total_seconds())
        return None
    value = explicit.get("waited_seconds")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def fold_contact(header: ContactHeader, rows: Sequence[EventRow]) -> ContactFacts:
    """The facts of one contact from its event rows in log order. `MalformedEvent` names the row
    whose data breaks the contract; `NoEvents` if there are none."""
    if not rows:
        raise NoEvents(f"contact {header.contact_id!r} has no events; fold only contacts that were opened")
    fold = _Fold(header=header, opened_at=rows[0].at)
    for row in rows:
        _step(fold, row)
    explicit: Mapping[str, Any] = _EMPTY
    ended: datetime | None
    if fold.explicit is not None:
        ending, ending_row = fold.explicit
        explicit, ended = ending_row.data, ending_row.at
        if explicit.get("outcome") is not None and fold.outcome is None:
            fold.outcome = _enum(fold, ending_row, Outcome, explicit["outcome"], "outcome")
        if explicit.get("acw_seconds") is not None and fold.acw is None:
            fold.acw = _number(fold, ending_row, explicit["acw_seconds"], "acw_seconds")
    elif fold.inferred is not None:
        ending, ended = fold.inferred
    else:
        ending, ended = Ending.OPEN, None
    if fold.accepted_at is not None and ended is not None and ending is not Ending.OPEN:
        fold.add_handled(ended)  # an ending the engine wrote while an agent still had the contact
    topic = explicit.get("topic") or fold.closed_topic or fold.handoff_topic or fold.answer_topic
    action = fold.last_action or (Action.HANDOFF if fold.handoff_reason is not None else None)
    return ContactFacts(
        tenant_id=header.tenant_id, contact_id=header.contact_id, channel=header.channel,
        citizen_key=header.citizen_key, opened_at=fold.opened_at, ending=ending, ended_at=ended,
        first_queue=fold.first_queue, last_queue=fold.last_queue, topic=topic, triage_action=action,
        handoff_reason=fold.handoff_reason, first_queued_at=fold.first_queued_at,
        first_answered_at=fold.first_answered_at, outcome=fold.outcome,
        waited_seconds=_waited(fold, ending, ended, explicit), transfers=fold.transfers,
        agent_ids=tuple(fold.agents), handled_seconds=fold.handled, acw_seconds=fold.acw,
        email_deadline=fold.deadline, first_reply_at=fold.first_reply_at, email_deadline_breached=fold.breached,
        feedback=tuple(fold.feedback.values()), bot_replies=fold.bot_replies,
        bot_min_confidence=fold.min_confidence,
        bot_unanswered=fold.bot_replies > 0 and fold.answer_action is None,
        article_id=explicit.get("article_id") or fold.article_id,
    )  # fmt: skip


def fold_contacts(headers: Iterable[ContactHeader], rows: Iterable[EventRow]) -> tuple[ContactFacts, ...]:
    """Fold many contacts at once: rows are matched to headers by `contact_id` and kept in the
    order given (the log's). Headers without rows are skipped (nothing happened on them)."""
    by_contact: dict[str, list[EventRow]] = {}
    for row in rows:
        if row.contact_id is not None:
            by_contact.setdefault(row.contact_id, []).append(row)
    return tuple(fold_contact(h, by_contact[h.contact_id]) for h in headers if by_contact.get(h.contact_id))


# --- agents' time per state ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentTime:
    """Seconds an agent spent in each state within a window."""

    agent_id: str
    available: float = 0.0
    busy: float = 0.0
    after_contact_work: float = 0.0
    paused: float = 0.0
    offline: float = 0.0

    def seconds(self, state: AgentState) -> float:
        return float(getattr(self, AgentState(state).value))

    @property
    def logged_in(self) -> float:
        """available + busy + after-contact work (paused and offline are not staffed time)."""
        return self.available + self.busy + self.after_contact_work

    def __add__(self, other: AgentTime) -> AgentTime:
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "agent_id"
        }
        return AgentTime(agent_id=self.agent_id if self.agent_id == other.agent_id else "*", **sums)


def agent_intervals(
    rows: Iterable[EventRow],
    *,
    start: datetime,
    end: datetime,
    initial: Mapping[str, AgentState] | None = None,
) -> dict[str, AgentTime]:
    """Time per state of every agent in [start, end), from `agent_state_changed` rows
    {from, to, acw_until?} (other kinds are ignored). The state at `start` is the last `to`
    before it, else the `from` of the agent's first change in the window, else `initial`
    (agents with no change at all spend the whole window in their `initial` state).

    The router treats after-contact work as over at `acw_until` without writing a change, so a
    change into ACW that carries `acw_until` (ISO 8601) counts as ACW until then and as
    available after it, until the next change."""
    if end < start:
        raise ValueError(f"window end {end.isoformat()} is before its start {start.isoformat()}")
    changes = sorted((r for r in rows if r.kind == K.AGENT_STATE_CHANGED and r.agent_id), key=lambda r: r.at)
    known = {a: AgentState(s) for a, s in (initial or {}).items()}
    state: dict[str, AgentState | None] = {}
    acw_end: dict[str, datetime | None] = {}
    cursor: dict[str, datetime] = {}
    totals: dict[str, dict[AgentState, float]] = {}

    def add(agent: str, current: AgentState, begin: datetime, until: datetime) -> None:
        if until > begin:
            totals[agent][current] = totals[agent].get(current, 0.0) + (until - begin).total_seconds()

    def spend(agent: str, until: datetime) -> None:
        current, begin, over = state[agent], cursor[agent], acw_end.get(agent)
        if current is AgentState.AFTER_CONTACT_WORK and over is not None and over < until:
            add(agent, current, begin, max(begin, over))
            add(agent, AgentState.AVAILABLE, max(begin, over), until)
        elif current is not None:
            add(agent, current, begin, until)
        cursor[agent] = max(begin, until)

    for row in changes:
        agent = str(row.agent_id)
        if agent not in state:
            before = row.data.get("from") if row.at >= start else None
            state[agent] = AgentState(before) if before else known.get(agent)
            cursor[agent] = start
            totals[agent] = {}
        if row.at >= start:
            spend(agent, min(row.at, end))
        state[agent] = AgentState(row.data["to"])
        until = row.data.get("acw_until") if state[agent] is AgentState.AFTER_CONTACT_WORK else None
        acw_end[agent] = _agent_time(row, until) if until else None
    for agent, current in known.items():
        if agent not in state:
            state[agent], cursor[agent], totals[agent] = current, start, {}
    for agent in state:
        spend(agent, end)
    return {
        agent: AgentTime(agent_id=agent, **{s.value: secs for s, secs in per_state.items()})
        for agent, per_state in sorted(totals.items())
    }


def _agent_time(row: EventRow, value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedEvent(
            None, row.kind, f"agent {row.agent_id!r}: acw_until={value!r} is not ISO 8601"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise MalformedEvent(None, row.kind, f"agent {row.agent_id!r}: acw_until={value!r} has no time zone")
    return at
