"""Small pure decisions of the call flow: menu keys, safety stickiness, what to say when closed,
handing off or on hold, the agent's summary. The routes do the I/O; twiml.py renders. (Whether to
offer a callback is the engine's rule: `ConversationEngine.queue_status`.)"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.retrieval.articles import Article
from bot.routing.calendar import ClosingReason, ClosingStatus
from bot.routing.handoff import summarise
from bot.topics import Queue
from bot.types import Action, HandoffReason, TriageDecision
from connectors.voice.prompts import Lang, Prompts

HUMAN_KEY = "0"
EXTENSION_KEY = "*"


class ChoiceKind(enum.StrEnum):
    QUEUE = "queue"
    ENGLISH = "english"
    HUMAN = "human"
    EXTENSION = "extension"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class MenuChoice:
    kind: ChoiceKind
    queue: str | None = None
    label: str | None = None


def menu_choice(digits: str, prompts: Prompts, tenant_id: str | None = None) -> MenuChoice:
    """What a key pressed at the level-1 menu (the called tenant's) means."""
    digits = digits.strip()
    if digits.startswith(EXTENSION_KEY):
        return MenuChoice(ChoiceKind.EXTENSION)
    if digits == HUMAN_KEY:
        return MenuChoice(ChoiceKind.HUMAN)
    option = prompts.menu_option(digits, tenant_id)
    if option is None:
        return MenuChoice(ChoiceKind.INVALID)
    if option.english:
        return MenuChoice(ChoiceKind.ENGLISH)
    return MenuChoice(ChoiceKind.QUEUE, option.queue, option.da)


def is_unclear(transcript: str, confidence: float | None, min_confidence: float) -> bool:
    """Empty after normalisation, or the recogniser itself is unsure."""
    if not transcript.strip():
        return True
    return confidence is not None and confidence < min_confidence


def apply_safety(
    decision: TriageDecision, flagged: TriageDecision | None
) -> tuple[TriageDecision, TriageDecision | None]:
    """As in bot.dialogue: after danger or distress was heard, the bot gives no more FAQ answers;
    a person takes over. Returns (decision to act on, flag to keep)."""
    if decision.action is Action.EMERGENCY or decision.sensitive:
        return decision, decision
    if flagged is not None and decision.action in (Action.ANSWER, Action.SELFSERVICE, Action.CLARIFY):
        return flagged, flagged
    return decision, flagged


def closed_lines(
    status: ClosingStatus, opens: datetime, now: datetime, prompts: Prompts, lang: Lang = Lang.DA
) -> list[str]:
    """'Vi har lukket. Vi åbner igen mandag den 4. januar klokken otte.' (holiday named)."""
    if status.reason is ClosingReason.HOLIDAY and status.holiday_name:
        first = prompts.text("closed_holiday", lang, holiday=status.holiday_name)
    elif status.reason is ClosingReason.EXTRA_CLOSED:
        first = prompts.text("closed_extra", lang)
    else:
        first = prompts.text("closed", lang)
    return [
        first,
        prompts.text("opens_at", lang, when=prompts.spoken_when(opens, now.astimezone(opens.tzinfo), lang)),
    ]


def handoff_lines(
    decision: TriageDecision, queue: Queue | None, prompts: Prompts, lang: Lang = Lang.DA
) -> list[str]:
    """Why the caller is put through, in the words of the decision (sensitive first)."""
    name = queue.name if queue else ""
    if decision.reason is HandoffReason.SENSITIVE or decision.sensitive:
        lines = [prompts.text("sensitive", lang)]
        extra = {"social_selvmordstanker": "sensitive_suicide", "social_vold": "sensitive_violence"}.get(
            decision.topic or ""
        )
        if extra:
            lines.append(prompts.text(extra, lang))
        return lines
    if decision.reason is HandoffReason.ASKED_FOR_HUMAN:
        return [prompts.text("handoff_human", lang)]
    if queue is not None and queue.kind == "external":  # another authority: say who, promise nothing
        return [prompts.text("handoff_external", lang, queue=name)]
    if decision.reason is HandoffReason.CASEWORK:
        return [prompts.text("handoff_casework", lang, queue=name)]
    return [prompts.text("handoff", lang, queue=name)]


def hold_tip(
    topic: str | None,
    sensitive: bool,
    by_topic: Mapping[str, Sequence[str]],
    articles: Mapping[str, Article],
    prompts: Prompts,
    lang: Lang = Lang.DA,
) -> str | None:
    """A self-service tip while waiting: the topic's spoken answer when a self-service solution
    exists, else the generic tip. None for sensitive calls and English callers get the generic one."""
    if sensitive:
        return None
    if lang is Lang.DA and topic:
        for article_id in by_topic.get(topic, ()):
            article = articles.get(article_id)
            if article is not None and article.selfservice is not None:
                return prompts.text("queue_tip_topic", lang, tip=article.voice)
    return prompts.text("queue_tip_generic", lang)


def handoff_summary(transcript: Sequence[str], choice: str, language: Lang, prompts: Prompts) -> str:
    """The packet's summary for the agent (in Danish): the caller's language and their most
    informative sentence, or the menu choice when they only pressed keys."""
    name = prompts.text(f"language_{language.value}", Lang.DA)
    request = summarise(transcript)
    if request:
        return prompts.text("summary_spoken", Lang.DA, language=name, request=request)
    return prompts.text("summary_keys", Lang.DA, language=name, choice=choice)


def spoken_wait(expected: timedelta | None, prompts: Prompts, lang: Lang = Lang.DA) -> str | None:
    """'Den forventede ventetid er cirka 4 minutter.' (None when nobody staffed can take it)."""
    if expected is None:
        return None
    minutes = math.ceil(expected.total_seconds() / 60)
    if minutes <= 1:
        return prompts.text("queue_wait_short", lang)
    return prompts.text("queue_wait_minutes", lang, minutes=minutes)
