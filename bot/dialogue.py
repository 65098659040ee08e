"""One turn of a bot conversation: understands, triages and renders the reply. Button payloads
in Rasa's form "/<topic_id>" choose a topic directly (answers to a clarify).

`decide` holds no memory: the caller passes the history, last topic and sticky safety decision
in (bot/conversation.py reads them from the conversation engine, so every channel and every
worker sees the same state)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.responses import BotMessage, render
from bot.triage import topic_decision
from bot.types import Action, TriageDecision
from bot.understanding import Parsed, Understanding

_PAYLOAD = re.compile(r"^/([a-z][a-z0-9_]*)$")


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
        decision = topic_decision(m.group(1), 1.0, understanding.contract, (), understanding.refs_for(tenant),
                                  understanding.by_topic)
        parsed = None
    else:
        parsed = understanding.parse(message, tuple(history), tenant, previous_topic)
        decision = parsed.decision
    if flagged is not None and not (decision.action is Action.EMERGENCY or decision.sensitive):
        if decision.action in (Action.ANSWER, Action.SELFSERVICE, Action.CLARIFY):
            decision = flagged
    lang = parsed.nlu.language if parsed else "da"
    return Turn(parsed, decision, render(decision, understanding.contract, understanding.articles_for(tenant), lang))


def is_payload(message: str) -> bool:
    """A button payload ("/<topic_id>") rather than words the citizen wrote."""
    return _PAYLOAD.match(message.strip()) is not None
