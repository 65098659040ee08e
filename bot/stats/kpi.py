"""Contact-centre KPIs as pure functions over `ContactFacts` and a `KpiPolicy`.

Every definition, its formula and how the options move its denominator are in docs/kpi.md; the
docstrings here give the formula only. Thresholds belong to a contact's first queue and channel
(the queue it waited in), so one call can mix queues with different targets: each contact is
classified with its own thresholds and the counts are added.

Rates are returned as `Rate(numerator, denominator)` and means as `Mean(total, count)`, so groups
can be added up and an empty denominator gives `None`, never 0 % or 100 %.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.routing.handoff import PacketReason
from bot.routing.skills import Channel
from bot.stats.errors import StatsError
from bot.stats.facts import AgentTime, ContactFacts, Ending, FeedbackLevel
from bot.stats.grouping import by_channel, by_period, by_queue, by_topic, group_by
from bot.storage.models import Outcome
from bot.types import Action

__all__ = [
    "FeedbackScore", "KpiPolicy", "Mean", "QueueResult", "QueueRule", "Rate", "SelfService", "Summary",
    "Thresholds", "abandoned", "abandonment_rate", "after_contact_work", "answered", "asa_seconds",
    "average_handle_seconds", "bot_contained", "by_action", "by_channel", "by_period", "by_queue", "by_topic",
    "email_deadline_met", "feedback_scores", "first_contact_resolution", "group_by", "handled",
    "handoffs_by_reason", "longest_wait_seconds", "occupancy", "offered", "queue_result", "self_service",
    "service_level", "short_abandons", "summary", "topics", "transferred_contacts", "transfers",
]  # fmt: skip


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """numerator / denominator; `value` is None when nothing was counted."""

    numerator: float
    denominator: float

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator)


@dataclass(frozen=True, slots=True)
class Mean:
    """total / count; `value` is None when nothing was counted."""

    total: float
    count: int

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None

    def __add__(self, other: Mean) -> Mean:
        return Mean(self.total + other.total, self.count + other.count)


# --- policy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Targets and counting choices for one queue and channel (defaults: the Copenhagen 80/20
    goal, Twilio Flex's 5 s short abandon, a 3-day repeat window)."""

    service_level_seconds: float = 20.0  # answered within this (<=) meets the goal
    short_abandon_seconds: float = 5.0  # abandoned before this (<) is a short abandon
    abandons_in_service_level: bool = True  # abandons count against the service level
    short_abandons_counted: bool = False  # short abandons count as offered and abandoned
    flow_outs_in_service_level: bool = False  # left a message / booked a callback from the queue
    fcr_window_days: float = 3.0  # a new contact on the same topic within this undoes a resolution

    def __post_init__(self) -> None:
        for name in ("service_level_seconds", "short_abandon_seconds", "fcr_window_days"):
            if getattr(self, name) < 0:
                raise StatsError(f"{name}={getattr(self, name)!r} is negative; use 0 or more")


@dataclass(frozen=True, slots=True)
class QueueRule:
    """Thresholds for a queue, a channel, or a queue on one channel (None = any)."""

    thresholds: Thresholds
    queue: str | None = None
    channel: Channel | None = None


DEFAULT_QUEUE_CHANNELS = frozenset({Channel.VOICE, Channel.CHAT})
# Agent outcome codes that resolve the citizen's matter in the contact itself.
DEFAULT_RESOLVING_OUTCOMES = frozenset(
    {Outcome.STRAKSAFKLARET, Outcome.HENVIST_TIL_SELVBETJENING, Outcome.VEJLEDT_I_SELVBETJENING}
)


@dataclass(frozen=True, slots=True)
class KpiPolicy:
    """`rules` override `default`, the most specific first: queue and channel, then queue, then
    channel. Queue-time KPIs (offered ... longest wait) count only `queue_channels`: an e-mail is
    measured against its first-reply deadline instead."""

    default: Thresholds = Thresholds()
    rules: tuple[QueueRule, ...] = ()
    queue_channels: frozenset[Channel] = DEFAULT_QUEUE_CHANNELS
    resolving_outcomes: frozenset[Outcome] = DEFAULT_RESOLVING_OUTCOMES
    fcr_counts_abandoned: bool = False  # abandoned / left-in-bot contacts join the FCR denominator

    def thresholds(self, queue: str | None, channel: Channel) -> Thresholds:
        best: tuple[int, Thresholds] | None = None
        for rule in self.rules:
            if (rule.queue is not None and rule.queue != queue) or (
                rule.channel is not None and rule.channel != channel
            ):
                continue
            rank = 2 * (rule.queue is not None) + (rule.channel is not None)
            if best is None or rank > best[0]:
                best = (rank, rule.thresholds)
        return best[1] if best is not None else self.default

    def of(self, f: ContactFacts) -> Thresholds:
        return self.thresholds(f.first_queue, f.channel)


DEFAULT_POLICY = KpiPolicy()


# --- queue time ------------------------------------------------------------------------------


class QueueResult(enum.StrEnum):
    """What became of one contact's wait, judged with its own thresholds."""

    NOT_QUEUED = "not_queued"  # never waited for an agent, or not a queue channel
    ANSWERED_IN_TIME = "answered_in_time"
    ANSWERED_LATE = "answered_late"
    ABANDONED = "abandoned"
    SHORT_ABANDON = "short_abandon"
    FLOW_OUT = "flow_out"  # left the queue with a message or a callback
    WAITING = "waiting"  # still in the queue


def queue_result(f: ContactFacts, policy: KpiPolicy = DEFAULT_POLICY) -> QueueResult:
    if f.channel not in policy.queue_channels or not f.queued:
        return QueueResult.NOT_QUEUED
    t = policy.of(f)
    waited = f.waited_seconds
    if f.answered:
        in_time = waited is not None and waited <= t.service_level_seconds
        return QueueResult.ANSWERED_IN_TIME if in_time else QueueResult.ANSWERED_LATE
    if f.ending is Ending.ABANDONED_IN_QUEUE:
        short = waited is not None and waited < t.short_abandon_seconds
        return QueueResult.SHORT_ABANDON if short else QueueResult.ABANDONED
    if f.ending in (Ending.MESSAGE_LEFT, Ending.CALLBACK_BOOKED):
        return QueueResult.FLOW_OUT
    return QueueResult.WAITING


_ANSWERED = frozenset({QueueResult.ANSWERED_IN_TIME, QueueResult.ANSWERED_LATE})


def _counted(f: ContactFacts, policy: KpiPolicy) -> tuple[QueueResult, Thresholds]:
    return queue_result(f, policy), policy.of(f)


def offered(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> int:
    """Contacts that entered a queue, short abandons only when `short_abandons_counted`."""
    n = 0
    for f in facts:
        r, t = _counted(f, policy)
        if r is not QueueResult.NOT_QUEUED and (
            r is not QueueResult.SHORT_ABANDON or t.short_abandons_counted
        ):
            n += 1
    return n


def answered(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> int:
    """Queued contacts an agent accepted (however late)."""
    return sum(queue_result(f, policy) in _ANSWERED for f in facts)


def abandoned(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> int:
    """Queued contacts that left before an agent took them; short abandons only when counted."""
    n = 0
    for f in facts:
        r, t = _counted(f, policy)
        n += r is QueueResult.ABANDONED or (r is QueueResult.SHORT_ABANDON and t.short_abandons_counted)
    return n


def short_abandons(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> int:
    """Abandoned within the short-abandon threshold: always reported, whatever is counted."""
    return sum(queue_result(f, policy) is QueueResult.SHORT_ABANDON for f in facts)


def service_level(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> Rate:
    """answered within T / (answered + abandoned [if abandons_in_service_level]
    + short abandons [if also short_abandons_counted] + flow-outs [if flow_outs_in_service_level])."""
    num = den = 0
    for f in facts:
        r, t = _counted(f, policy)
        num += r is QueueResult.ANSWERED_IN_TIME
        den += (
            r in _ANSWERED
            or (r is QueueResult.ABANDONED and t.abandons_in_service_level)
            or (r is QueueResult.SHORT_ABANDON and t.abandons_in_service_level and t.short_abandons_counted)
            or (r is QueueResult.FLOW_OUT and t.flow_outs_in_service_level)
        )
    return Rate(num, den)


def asa_seconds(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> Mean:
    """Average speed of answer: mean wait (first queue -> first agent) of answered contacts."""
    waits = [f.waited_seconds or 0.0 for f in facts if queue_result(f, policy) in _ANSWERED]
    return Mean(sum(waits), len(waits))


def longest_wait_seconds(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> float | None:
    """The longest finished wait of a queued contact (answered, abandoned or flowed out)."""
    waits = [f.waited_seconds for f in facts if queue_result(f, policy) is not QueueResult.NOT_QUEUED]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def abandonment_rate(facts: Iterable[ContactFacts], policy: KpiPolicy = DEFAULT_POLICY) -> Rate:
    """abandoned / offered (short abandons in both or neither)."""
    rows = list(facts)
    return Rate(abandoned(rows, policy), offered(rows, policy))


# --- handling --------------------------------------------------------------------------------


def handled(facts: Iterable[ContactFacts]) -> int:
    """Contacts with agent handling time (accepted and then closed or transferred)."""
    return sum(f.handled_seconds is not None for f in facts)


def average_handle_seconds(facts: Iterable[ContactFacts]) -> Mean:
    """AHT = (handling + recorded after-contact work) / handled contacts."""
    rows = [f for f in facts if f.handled_seconds is not None]
    return Mean(sum((f.handled_seconds or 0.0) + (f.acw_seconds or 0.0) for f in rows), len(rows))


def after_contact_work(facts: Iterable[ContactFacts]) -> Mean:
    """Mean recorded after-contact work, over the contacts that have it recorded."""
    rows = [f.acw_seconds for f in facts if f.acw_seconds is not None]
    return Mean(sum(rows), len(rows))


def occupancy(times: Iterable[AgentTime]) -> Rate:
    """(busy + after-contact work) / (available + busy + after-contact work), in seconds."""
    work = staffed = 0.0
    for t in times:
        work += t.busy + t.after_contact_work
        staffed += t.logged_in
    return Rate(work, staffed)


def transfers(facts: Iterable[ContactFacts]) -> int:
    """Transfers made (a contact moved twice counts twice)."""
    return sum(f.transfers for f in facts)


def transferred_contacts(facts: Iterable[ContactFacts]) -> Rate:
    """answered contacts transferred at least once / answered contacts."""
    rows = [f for f in facts if f.answered]
    return Rate(sum(f.transfers > 0 for f in rows), len(rows))


# --- the bot and first-contact resolution ----------------------------------------------------


def bot_contained(facts: Iterable[ContactFacts]) -> Rate:
    """ended in the bot with an answer or self-service / ended contacts the bot replied to."""
    rows = [f for f in facts if f.bot_replies > 0 and f.ending is not Ending.OPEN]
    return Rate(sum(f.resolved_by_bot for f in rows), len(rows))


@dataclass(frozen=True, slots=True)
class SelfService:
    """Contacts sent on to self-service: by the bot, or by an agent's outcome code."""

    bot: int
    agent_referred: int  # henvist til selvbetjening
    agent_guided: int  # vejledt i selvbetjening

    @property
    def total(self) -> int:
        return self.bot + self.agent_referred + self.agent_guided


def self_service(facts: Iterable[ContactFacts]) -> SelfService:
    bot = referred = guided = 0
    for f in facts:
        bot += f.ending is Ending.BOT_SELFSERVICE
        if f.ending is Ending.AGENT_CLOSED:
            referred += f.outcome is Outcome.HENVIST_TIL_SELVBETJENING
            guided += f.outcome is Outcome.VEJLEDT_I_SELVBETJENING
    return SelfService(bot, referred, guided)


_FCR_BASE = frozenset(
    {
        Ending.BOT_ANSWERED,
        Ending.BOT_SELFSERVICE,
        Ending.AGENT_CLOSED,
        Ending.MESSAGE_LEFT,
        Ending.CALLBACK_BOOKED,
    }
)
_FCR_ABANDONED = frozenset({Ending.ABANDONED_IN_QUEUE, Ending.LEFT_IN_BOT})


def _resolved_in_contact(f: ContactFacts, policy: KpiPolicy) -> bool:
    if f.resolved_by_bot:
        return True
    return (
        f.ending is Ending.AGENT_CLOSED
        and f.outcome in policy.resolving_outcomes
        and f.transfers == 0
        and len(f.agent_ids) <= 1
    )


def _repeated(f: ContactFacts, later: Iterable[ContactFacts], window: timedelta) -> bool:
    """A later contact of the same citizen on the same topic opened within `window` of the end."""
    until = (f.ended_at or f.opened_at) + window
    return any(g.contact_id != f.contact_id and f.opened_at < g.opened_at <= until for g in later)


def first_contact_resolution(
    facts: Iterable[ContactFacts],
    policy: KpiPolicy = DEFAULT_POLICY,
    *,
    history: Iterable[ContactFacts] | None = None,
) -> Rate:
    """Straksafklaring: resolved in the contact (by the bot, or closed by the first and only
    agent with a resolving outcome, no transfer) and no new contact from the same citizen on the
    same topic within the window / ended contacts (abandons only with `fcr_counts_abandoned`).
    Repeats are looked for in `history` (default: `facts`); pass every contact up to the window
    after the period, or a group's or the period's last days look better than they are."""
    rows = list(facts)
    same: dict[tuple[str, str, str], list[ContactFacts]] = {}
    for g in rows if history is None else history:
        if g.citizen_key is not None and g.topic is not None:
            same.setdefault((g.tenant_id, g.citizen_key, g.topic), []).append(g)
    base = _FCR_BASE | (_FCR_ABANDONED if policy.fcr_counts_abandoned else frozenset())
    num = den = 0
    for f in rows:
        if f.ending not in base:
            continue
        den += 1
        if not _resolved_in_contact(f, policy):
            continue
        window = timedelta(days=policy.of(f).fcr_window_days)
        key = (f.tenant_id, f.citizen_key or "", f.topic or "")
        num += not (f.citizen_key and f.topic and _repeated(f, same.get(key, ()), window))
    return Rate(num, den)


def handoffs_by_reason(facts: Iterable[ContactFacts]) -> Mapping[PacketReason, int]:
    return dict(Counter(f.handoff_reason for f in facts if f.handoff_reason is not None))


def topics(facts: Iterable[ContactFacts]) -> Mapping[str | None, int]:
    """Contacts per topic (None: the topic never became known)."""
    return dict(Counter(f.topic for f in facts))


def by_action(facts: Iterable[ContactFacts]) -> Mapping[Action | None, int]:
    """Contacts per triage action (the bot's last decision; handoff when it handed off silently)."""
    return dict(Counter(f.triage_action for f in facts))


# --- e-mail and feedback ---------------------------------------------------------------------


def email_deadline_met(facts: Iterable[ContactFacts], *, now: datetime | None = None) -> Rate:
    """E-mails answered by an agent by their deadline / e-mails whose answer is due: answered
    ones, plus open unanswered ones past the deadline (`sla_breached` seen, or `now` later)."""
    num = den = 0
    for f in facts:
        if f.channel is not Channel.EMAIL or f.email_deadline is None:
            continue
        if f.first_reply_at is not None:
            den += 1
            num += f.first_reply_at <= f.email_deadline
        elif f.ending is Ending.OPEN and (
            f.email_deadline_breached or (now is not None and now > f.email_deadline)
        ):
            den += 1
    return Rate(num, den)


@dataclass(frozen=True, slots=True)
class FeedbackScore:
    level: FeedbackLevel
    scale: tuple[int, int]
    question: str
    mean: Mean


def feedback_scores(facts: Iterable[ContactFacts]) -> tuple[FeedbackScore, ...]:
    """Mean score per level (1st = bot, 2nd = agent), scale and question; scales are never
    mixed, so a voice 1-9 and a chat 1-10 answer land in different rows."""
    sums: dict[tuple[FeedbackLevel, tuple[int, int], str], Mean] = {}
    for f in facts:
        for a in f.feedback:
            key = (a.level, a.scale, a.question)
            sums[key] = sums.get(key, Mean(0.0, 0)) + Mean(float(a.score), 1)
    return tuple(FeedbackScore(*key, mean) for key, mean in sorted(sums.items()))


# --- summary ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    offered: int
    answered: int
    abandoned: int
    short_abandons: int
    service_level: Rate
    asa_seconds: Mean
    longest_wait_seconds: float | None
    abandonment_rate: Rate
    handled: int
    average_handle_seconds: Mean
    bot_contained: Rate
    first_contact_resolution: Rate
    handoffs: int
    transfers: int
    email_deadline_met: Rate


def summary(
    facts: Iterable[ContactFacts],
    policy: KpiPolicy = DEFAULT_POLICY,
    *,
    now: datetime | None = None,
    history: Iterable[ContactFacts] | None = None,
) -> Summary:
    """The headline figures of `facts`; `now` and `history` as for `email_deadline_met` and
    `first_contact_resolution`."""
    rows = list(facts)
    return Summary(
        offered=offered(rows, policy),
        answered=answered(rows, policy),
        abandoned=abandoned(rows, policy),
        short_abandons=short_abandons(rows, policy),
        service_level=service_level(rows, policy),
        asa_seconds=asa_seconds(rows, policy),
        longest_wait_seconds=longest_wait_seconds(rows, policy),
        abandonment_rate=abandonment_rate(rows, policy),
        handled=handled(rows),
        average_handle_seconds=average_handle_seconds(rows),
        bot_contained=bot_contained(rows),
        first_contact_resolution=first_contact_resolution(rows, policy, history=history),
        handoffs=sum(f.handoff_reason is not None for f in rows),
        transfers=transfers(rows),
        email_deadline_met=email_deadline_met(rows, now=now),
    )
