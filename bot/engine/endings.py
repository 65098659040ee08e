"""How a contact ends, as pure decisions: which ending (`bot.stats.facts.Ending`), which step of
the state machine, and when a quiet bot conversation counts as over.

Every contact ends exactly once, and the engine writes that ending into the data of the
terminal event (`closed`, `abandoned`, `message_left`, `callback_requested`) so the statistics
can tell containment, first-contact resolution and abandonment apart:

- the citizen leaves (or goes quiet in) the bot after the bot answered from an article: the
  bot resolved it (`bot_answered` or `bot_selfservice`, by the bot's last answer), and the
  contact is CLOSED;
- the citizen leaves the bot before any answer (a greeting or a clarifying question is not an
  answer): `left_in_bot`, ABANDONED;
- the citizen leaves while waiting for an agent (QUEUED, OFFERED): `abandoned_in_queue` with
  the time waited, ABANDONED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.engine.states import ContactEvent
from bot.errors import IllegalTransition, NaiveDatetime
from bot.routing.handoff import BotStep
from bot.stats.facts import Ending
from bot.storage.models import Channel, ContactState
from bot.types import Action

__all__ = ["EndingDecision", "IdlePolicy", "decide_ending", "ending_data", "idle_since_cutoff", "last_answer"]

_ANSWERS = (Action.ANSWER, Action.SELFSERVICE)
_WAITING = (ContactState.QUEUED, ContactState.OFFERED)


@dataclass(frozen=True, slots=True)
class EndingDecision:
    """The ending of a contact the citizen left, and the step that takes it to its final state."""

    ending: Ending
    step: ContactEvent  # RESOLVE (served by the bot) or ABANDON
    topic: str | None = None
    article_id: str | None = None
    waited_seconds: float | None = None


def last_answer(steps: Iterable[BotStep], dialog_topics: frozenset[str] = frozenset()) -> BotStep | None:
    """The bot's last answer from an article (answer or self-service). Small talk (a topic in
    `dialog_topics`, e.g. the greeting) and replies without an article do not count."""
    found = None
    for step in steps:
        if step.action in _ANSWERS and step.article is not None and step.topic not in dialog_topics:
            found = step
    return found


def decide_ending(
    state: ContactState,
    answer: BotStep | None,
    *,
    now: datetime,
    enqueued_at: datetime | None = None,
    contact_id: str | None = None,
) -> EndingDecision:
    """The ending when the citizen leaves (or goes quiet) in `state`, given the bot's last
    answer (`last_answer`). Raises `IllegalTransition` where leaving is not a step (an agent
    has the contact, or it has already ended)."""
    _aware(now, "now")
    if state is ContactState.BOT:
        if answer is None:
            return EndingDecision(Ending.LEFT_IN_BOT, ContactEvent.ABANDON)
        ending = Ending.BOT_ANSWERED if answer.action is Action.ANSWER else Ending.BOT_SELFSERVICE
        article = answer.article.id if answer.article is not None else None
        return EndingDecision(ending, ContactEvent.RESOLVE, topic=answer.topic, article_id=article)
    if state in _WAITING:
        waited = None if enqueued_at is None else max(0.0, (now - _aware(enqueued_at, "enqueued_at")).total_seconds())
        return EndingDecision(Ending.ABANDONED_IN_QUEUE, ContactEvent.ABANDON, waited_seconds=waited)
    raise IllegalTransition(state, ContactEvent.ABANDON, contact_id)


def ending_data(
    ending: Ending,
    *,
    topic: str | None = None,
    article_id: str | None = None,
    outcome: str | None = None,
    acw_seconds: float | None = None,
    waited_seconds: float | None = None,
) -> dict[str, Any]:
    """The `ending` part of a terminal event's data (the contract in bot.stats.facts): the
    ending and whichever of the optional facts are known; unknown ones are left out."""
    data: dict[str, Any] = {"ending": ending.value}
    for key, value in (("topic", topic), ("article_id", article_id), ("outcome", outcome),
                       ("acw_seconds", acw_seconds), ("waited_seconds", waited_seconds)):  # fmt: skip
        if value is not None:
            data[key] = value
    return data


# --- quiet bot conversations -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdlePolicy:
    """How long a conversation may sit in the bot without a word before it is over. Chat and
    voice are live conversations; an e-mail reply to the bot's answer may take days, and until
    then the thread is still the same errand."""

    live: timedelta = timedelta(minutes=30)  # chat and voice
    email: timedelta = timedelta(hours=72)

    def __post_init__(self) -> None:
        for name in ("live", "email"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"IdlePolicy.{name} must be longer than zero, got {getattr(self, name)}")

    def after(self, channel: Channel) -> timedelta:
        return self.email if Channel(channel) is Channel.EMAIL else self.live


DEFAULT_IDLE = IdlePolicy()


def idle_since_cutoff(now: datetime, policy: IdlePolicy = DEFAULT_IDLE) -> Mapping[Channel, datetime]:
    """Per channel: a bot conversation last touched at or before this instant is idle at `now`."""
    _aware(now, "now")
    return {channel: now - policy.after(channel) for channel in Channel}


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{name}={value.isoformat()} has no time zone; pass an aware datetime (UTC)")
    return value
