"""One turn of a bot conversation: remembers the recent messages of each sender (for the safety
window and "which topic were we talking about"), understands, triages and renders the reply.
Button payloads in Rasa's form "/<topic_id>" choose a topic directly (answers to a clarify).

The memory here is per process and bounded; the conversation engine (issue 4) persists state."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from bot.responses import BotMessage, render
from bot.triage import topic_decision
from bot.types import Action, TriageDecision
from bot.understanding import Parsed, Understanding

_PAYLOAD = re.compile(r"^/([a-z][a-z0-9_]*)$")


@dataclass
class ConversationState:
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    topic: str | None = None
    flagged: TriageDecision | None = None  # a safety decision sticks for the conversation


class ConversationMemory:
    def __init__(self, max_conversations: int = 10_000) -> None:
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        self._max = max_conversations
        self._lock = threading.Lock()

    def get(self, sender: str) -> ConversationState:
        with self._lock:
            state = self._states.pop(sender, None) or ConversationState()
            self._states[sender] = state
            while len(self._states) > self._max:
                self._states.popitem(last=False)
            return state


@dataclass(frozen=True)
class Turn:
    parsed: Parsed | None
    decision: TriageDecision
    messages: list[BotMessage]


def respond(understanding: Understanding, memory: ConversationMemory, sender: str, message: str,
            tenant: str | None = None) -> Turn:
    state = memory.get(sender)
    m = _PAYLOAD.match(message.strip())
    if m and m.group(1) in understanding.contract.by_id:
        topic = m.group(1)
        decision = topic_decision(topic, 1.0, understanding.contract, (), understanding.article_refs,
                                  understanding.by_topic)
        parsed = None
    else:
        parsed = understanding.parse(message, tuple(state.messages), tenant, state.topic)
        decision = parsed.decision
        state.messages.append(message)
    if decision.action in (Action.EMERGENCY,) or decision.sensitive:
        state.flagged = decision
    elif state.flagged is not None and decision.action in (Action.ANSWER, Action.SELFSERVICE, Action.CLARIFY):
        # After danger or distress was seen, the bot does not go back to FAQ answers: a human takes over.
        decision = state.flagged
    if decision.topic and understanding.contract.by_id[decision.topic].domain != "dialog":
        state.topic = decision.topic
    lang = parsed.nlu.language if parsed else "da"
    return Turn(parsed, decision, render(decision, understanding.contract, understanding.articles, lang))
