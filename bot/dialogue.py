"""One turn of a bot conversation: remembers the recent messages of each sender (for the safety
window and "which topic were we talking about"), understands, triages and renders the reply.
Button payloads in Rasa's form "/<topic_id>" choose a topic directly (answers to a clarify).

The memory here is per process and bounded. `decide` is the same turn without any memory: the
caller passes the history, last topic and sticky safety decision in (bot/conversation.py reads
them from the conversation engine, so every channel and every worker sees the same state)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
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


def decide(
    understanding: Understanding,
    message: str,
    history: Sequence[str] = (),
    previous_topic: str | None = None,
    flagged: TriageDecision | None = None,
    tenant: str | None = None,
) -> Turn:
    """One bot turn from explicit state: `history` = the citizen's earlier messages (oldest
    first, button payloads left out), `flagged` = a safety decision seen earlier in the
    conversation (after danger or distress the bot does not go back to FAQ answers)."""
    m = _PAYLOAD.match(message.strip())
    if m and m.group(1) in understanding.contract.by_id:
        decision = topic_decision(m.group(1), 1.0, understanding.contract, (), understanding.article_refs,
                                  understanding.by_topic)
        parsed = None
    else:
        parsed = understanding.parse(message, tuple(history), tenant, previous_topic)
        decision = parsed.decision
    if flagged is not None and not (decision.action is Action.EMERGENCY or decision.sensitive):
        if decision.action in (Action.ANSWER, Action.SELFSERVICE, Action.CLARIFY):
            decision = flagged
    lang = parsed.nlu.language if parsed else "da"
    return Turn(parsed, decision, render(decision, understanding.contract, understanding.articles, lang))


def is_payload(message: str) -> bool:
    """A button payload ("/<topic_id>") rather than words the citizen wrote."""
    return _PAYLOAD.match(message.strip()) is not None


def respond(understanding: Understanding, memory: ConversationMemory, sender: str, message: str,
            tenant: str | None = None) -> Turn:
    state = memory.get(sender)
    turn = decide(understanding, message, tuple(state.messages), state.topic, state.flagged, tenant)
    if turn.parsed is not None:
        state.messages.append(message)
    decision = turn.decision
    if decision.action in (Action.EMERGENCY,) or decision.sensitive:
        state.flagged = decision
    if decision.topic and understanding.contract.by_id[decision.topic].domain != "dialog":
        state.topic = decision.topic
    return turn
