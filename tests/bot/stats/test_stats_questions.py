"""Picking weak questions from the log and clustering them by meaning (hand-made vectors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from bot.routing.skills import Channel
from bot.stats.questions import Reason, clusters, weak_questions

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    kind: str
    at: datetime
    data: Any
    contact_id: str | None


@dataclass(frozen=True)
class Msg:
    id: int
    contact_id: str
    at: datetime
    text_redacted: str


def t(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def reply(contact: str, s: float, action: str, confidence: float, topic: str | None = None) -> Ev:
    return Ev("bot_replied", t(s), {"decision": {"action": action, "confidence": confidence, "topic": topic}}, contact)


def test_weak_questions_name_the_message_behind_each_weak_reply():
    messages = [
        Msg(1, "a", t(0), "hvornår tømmes skraldet"), Msg(2, "a", t(10), "og storskrald?"),
        Msg(3, "b", t(0), "pas fornyelse"), Msg(4, "c", t(0), "hej"), Msg(5, "d", t(0), "parkering licens"),
    ]  # fmt: skip
    events = [
        reply("a", 1, "answer", 0.9, "affald"), reply("a", 11, "clarify", 0.4),  # only the second is weak
        reply("b", 1, "answer", 0.42, "pas"),  # low confidence
        reply("c", 1, "answer", 0.95, "hilsen"),  # fine
        reply("d", 1, "selfservice", 0.8, "parkering"),
        Ev("feedback", t(30), {"level": "bot", "scores": {"tilfredshed": 2}}, "d"),  # 2 on 1..10: low
        Ev("feedback", t(31), {"level": "agent", "scores": {"tilfredshed": 1}}, "c"),  # about an agent
    ]
    found = weak_questions(events, messages, {"a": Channel.CHAT, "b": Channel.CHAT, "c": Channel.CHAT,
                                              "d": Channel.CHAT})  # fmt: skip
    assert [(w.message_id, w.reasons) for w in found] == [
        (2, (Reason.UNANSWERED,)), (3, (Reason.LOW_CONFIDENCE,)), (5, (Reason.LOW_FEEDBACK,))
    ]  # fmt: skip
    assert found[1].bot_topic == "pas"


def test_clusters_group_by_meaning_largest_first_with_nearest_examples():
    vectors = np.array([[1, 0, 0], [0.95, 0.05, 0], [0, 1, 0], [0.9, 0.1, 0.0], [0, 0.97, 0.1], [0, 0, 1]])
    texts = ["skrald 1", "skrald 2", "pas 1", "skrald 3", "pas 2", "andet"]
    found = clusters(vectors, texts, threshold=0.8, examples=2)
    assert [(c.size, c.members) for c in found] == [(3, (0, 1, 3)), (2, (2, 4)), (1, (5,))]
    assert set(found[0].examples) <= {"skrald 1", "skrald 2", "skrald 3"} and len(found[0].examples) == 2
    assert clusters(np.zeros((0, 3)), []) == []
    # A strict threshold keeps every message apart.
    assert len(clusters(vectors, texts, threshold=0.999)) == 6
