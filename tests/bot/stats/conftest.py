"""A hand-built event log of one Monday morning (2 March 2026; Copenhagen is UTC+1, so 09:00 UTC
is 10:00 local), one contact per story. The right answers are worked out in the tests.

| id | channel | story                                                                        |
|----|---------|------------------------------------------------------------------------------|
| A  | chat    | the bot answers from an article; the engine writes the ending                 |
| B  | chat    | handed off (casework), waits 12 s, agent a1 handles 240 s + 20 s ACW, resolved |
| C  | voice   | hangs up in the queue after 30 s                                              |
| D  | voice   | hangs up in the queue after 3 s (a short abandon)                             |
| E  | e-mail  | deadline 11:40, first answer 12:05: late                                      |
| F  | e-mail  | deadline 11:45, first answer 10:30: in time; referred to self-service         |
| G  | voice   | waits 25 s, a1 takes it 180 s, transfers to "pension", a3 takes it 120 s      |
| H  | chat    | B's citizen again the next day on the same topic; the bot guides to self-service |
| I  | chat    | the bot only asks to clarify; the citizen leaves                              |
| J  | voice   | waits 120 s, then leaves a message                                           |
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.routing.skills import Channel
from bot.stats.facts import ContactFacts, ContactHeader, EventRow, fold_contact
from bot.storage.models import EventKind as K

TENANT = "kobenhavn"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASIS = "borgerservice_basis"


def at(minutes: float = 0, seconds: float = 0, *, days: int = 0) -> datetime:
    return T0 + timedelta(days=days, minutes=minutes, seconds=seconds)


def ev(kind: K | str, when: datetime, agent: str | None = None, **data: Any) -> EventRow:
    return EventRow(kind=str(kind), at=when, data=data, agent_id=agent)


def decision(
    action: str, topic: str | None, confidence: float = 0.9, article: str | None = None
) -> dict[str, Any]:
    return {"action": action, "topic": topic, "confidence": confidence,
            "article": {"id": article} if article else None}  # fmt: skip


def queued_by_agent(start: datetime, queue: str, wait: float, agent: str) -> list[EventRow]:
    """handoff -> queued -> offered -> accepted after `wait` seconds."""
    accepted = start + timedelta(seconds=wait)
    return [
        ev(K.QUEUED, start, queue_id=queue),
        ev(K.OFFERED, accepted - timedelta(seconds=min(wait, 2)), agent, queue_id=queue),
        ev(K.OFFER_ACCEPTED, accepted, agent),
    ]


HEADERS: Mapping[str, ContactHeader] = {
    "A": ContactHeader(TENANT, "A", Channel.CHAT),
    "B": ContactHeader(TENANT, "B", Channel.CHAT, citizen_key="c-b"),
    "C": ContactHeader(TENANT, "C", Channel.VOICE, citizen_key="c-c"),
    "D": ContactHeader(TENANT, "D", Channel.VOICE),
    "E": ContactHeader(TENANT, "E", Channel.EMAIL, citizen_key="c-e"),
    "F": ContactHeader(TENANT, "F", Channel.EMAIL, citizen_key="c-f"),
    "G": ContactHeader(TENANT, "G", Channel.VOICE, citizen_key="c-g"),
    "H": ContactHeader(TENANT, "H", Channel.CHAT, citizen_key="c-b"),
    "I": ContactHeader(TENANT, "I", Channel.CHAT),
    "J": ContactHeader(TENANT, "J", Channel.VOICE, citizen_key="c-j"),
}

LOG: Mapping[str, list[EventRow]] = {
    "A": [
        ev(K.CONTACT_OPENED, at(0), channel="chat"),
        ev(K.MESSAGE_RECEIVED, at(0, 5)),
        ev(K.BOT_REPLIED, at(0, 6), decision=decision("answer", "affald_toemning", 0.97, "affald_toemning")),
        ev(K.FEEDBACK, at(1), level="bot", channel="chat", scores={"tilfredshed": 9, "afklaring": 10}),
        ev("contact_ended", at(1, 30), ending="bot_answered", topic="affald_toemning"),
    ],
    "B": [
        ev(K.CONTACT_OPENED, at(10), channel="chat"),
        ev(K.BOT_REPLIED, at(10, 20), decision=decision("handoff", "boligstoette", 0.8)),
        ev(K.HANDOFF_REQUESTED, at(10, 30), reason="casework", queue_id=BASIS, topic="boligstoette"),
        *queued_by_agent(at(10, 30), BASIS, 12, "a1"),  # accepted 09:10:42
        ev(K.AGENT_REPLIED, at(10, 50), "a1", first=True),
        ev(
            K.CLOSED,
            at(14, 42),
            "a1",
            outcome="straksafklaret",
            queue_id=BASIS,
            topic="boligstoette",
            acw_seconds=20,
        ),
        ev(K.FEEDBACK, at(15), level="agent", channel="chat", scores={"tilfredshed": 8}),
    ],
    "C": [
        ev(K.CONTACT_OPENED, at(20), channel="voice"),
        ev(K.HANDOFF_REQUESTED, at(20, 10), reason="asked_for_human", queue_id=BASIS),
        ev(K.QUEUED, at(20, 10), queue_id=BASIS),
        ev(K.ABANDONED, at(20, 40), **{"from": "queued"}, waited_seconds=30.0),
    ],
    "D": [
        ev(K.CONTACT_OPENED, at(30), channel="voice"),
        ev(K.HANDOFF_REQUESTED, at(30, 5), reason="asked_for_human", queue_id=BASIS),
        ev(K.QUEUED, at(30, 5), queue_id=BASIS),
        ev(K.ABANDONED, at(30, 8), **{"from": "queued"}, waited_seconds=3.0),
    ],
    "E": [
        ev(K.CONTACT_OPENED, at(40), channel="email"),
        ev(K.BOT_REPLIED, at(40), decision=decision("handoff", "parkering", 0.7)),
        ev(
            K.HANDOFF_REQUESTED,
            at(40),
            reason="topic_policy",
            queue_id=BASIS,
            topic="parkering",
            sla_due_at=at(160).isoformat(),
        ),
        *queued_by_agent(at(40), BASIS, 3 * 3600 - 40 * 60, "a2"),  # accepted 12:00
        ev(K.SLA_BREACHED, at(161), due_at=at(160).isoformat(), queue_id=BASIS),
        ev(K.AGENT_REPLIED, at(185), "a2", first=True),  # 12:05, 25 min late
        ev(K.CLOSED, at(186), "a2", outcome="straksafklaret", queue_id=BASIS, topic="parkering"),
    ],
    "F": [
        ev(K.CONTACT_OPENED, at(45), channel="email"),
        ev(
            K.HANDOFF_REQUESTED,
            at(45),
            reason="topic_policy",
            queue_id=BASIS,
            topic="parkering",
            sla_due_at=at(165).isoformat(),
        ),
        *queued_by_agent(at(45), BASIS, 40 * 60, "a2"),  # accepted 10:25
        ev(K.AGENT_REPLIED, at(90), "a2", first=True),  # 10:30
        ev(K.CLOSED, at(91), "a2", outcome="henvist_til_selvbetjening", queue_id=BASIS, topic="parkering"),
    ],
    "G": [
        ev(K.CONTACT_OPENED, at(60), channel="voice"),
        ev(K.HANDOFF_REQUESTED, at(60, 10), reason="asked_for_human", queue_id=BASIS),
        *queued_by_agent(at(60, 10), BASIS, 25, "a1"),  # accepted 10:00:35
        ev(K.TRANSFERRED, at(63, 35), "a1", from_queue=BASIS, to_queue="pension"),
        *queued_by_agent(at(63, 35), "pension", 25, "a3"),  # accepted 10:04:00
        ev(K.CLOSED, at(66), "a3", outcome="straksafklaret", queue_id="pension", topic="pension"),
        ev(K.FEEDBACK, at(67), level="agent", channel="voice", scores={"1": 7, "4": 5}),
    ],
    "H": [
        ev(K.CONTACT_OPENED, at(0, days=1), channel="chat"),
        ev(
            K.BOT_REPLIED,
            at(0, 10, days=1),
            decision=decision("selfservice", "boligstoette", 0.88, "boligstoette_ansoeg"),
        ),
        ev(K.FEEDBACK, at(1, days=1), level="bot", channel="chat", scores={"tilfredshed": 7}),
        ev(K.ABANDONED, at(2, days=1), **{"from": "bot"}, waited_seconds=None),
    ],
    "I": [
        ev(K.CONTACT_OPENED, at(70), channel="chat"),
        ev(K.BOT_REPLIED, at(70, 5), decision={**decision("clarify", None, 0.31), "candidates": ["a", "b"]}),
        ev(K.ABANDONED, at(71), **{"from": "bot"}, waited_seconds=None),
    ],
    "J": [
        ev(K.CONTACT_OPENED, at(90), channel="voice"),
        ev(K.HANDOFF_REQUESTED, at(90), reason="asked_for_human", queue_id=BASIS),
        ev(K.QUEUED, at(90), queue_id=BASIS),
        ev(K.MESSAGE_LEFT, at(92), task_id=1, queue_id=BASIS, due_at=at(600).isoformat()),
    ],
}


def fold(contact_id: str) -> ContactFacts:
    return fold_contact(HEADERS[contact_id], LOG[contact_id])


@pytest.fixture
def facts() -> dict[str, ContactFacts]:
    return {cid: fold(cid) for cid in LOG}
