"""A hand-built event log of one Monday (7 December 2026; Copenhagen is UTC+1, so 09:00 UTC is
10:00 local), written straight into the tables as the engine writes them, one contact per story.
The right answers are worked out beside each test.

| id | channel | story                                                                          |
|----|---------|--------------------------------------------------------------------------------|
| A  | chat    | the bot answers (passport); the ending is written explicitly, as the contract says |
| B  | chat    | handed off (casework) to boligstoette_orlov, waits 12 s, anne 240 s + 20 s ACW, straksafklaret |
| C  | voice   | borgerservice_basis, hangs up in the queue after 30 s                           |
| D  | voice   | borgerservice_basis, hangs up after 3 s (short abandon)                        |
| E  | voice   | borgerservice_basis, waits 25 s (late for 20 s), anne 180 s, omstillet          |
| F  | e-mail  | deadline 12:45 (on the handoff), first answer 13:45: late; straksafklaret       |
| G  | e-mail  | deadline only on the contact row (12:50), answered 11:30: in time; henvist      |
| H  | chat    | 11:10, the bot only asks to clarify (confidence 0.3); the citizen leaves         |
| I  | chat    | 19:30, outside opening hours; the bot answers, the citizen leaves               |
| X  | chat    | another municipality (rodovre): never in kobenhavn's figures                     |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.routing.handoff import Author
from bot.storage import Database
from bot.storage.models import Contact, ContactState, Direction, Event, EventKind, Message

TENANT, OTHER = "kobenhavn", "rodovre"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
BASIS, BOLIG = "borgerservice_basis", "boligstoette_orlov"
DAY_FROM, DAY_TO = "2026-12-07T00:00:00+01:00", "2026-12-08T00:00:00+01:00"


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def decision(action: str, topic: str | None, confidence: float, article: str | None = None) -> dict[str, Any]:
    return {"action": action, "topic": topic, "confidence": confidence,
            "article": {"id": article} if article else None}  # fmt: skip


def _answered(queued: datetime, queue: str, wait: float, agent: str, handle: float, outcome: str, **close: Any):
    accepted = queued + timedelta(seconds=wait)
    closed = accepted + timedelta(seconds=handle)
    return [
        (EventKind.QUEUED, queued, None, {"queue_id": queue}),
        (EventKind.OFFERED, accepted - timedelta(seconds=1), agent, {"queue_id": queue}),
        (EventKind.OFFER_ACCEPTED, accepted, agent, {"waited_seconds": wait}),
        (EventKind.CLOSED, closed, agent, {"outcome": outcome, "queue_id": queue, **close}),
    ]


def stories() -> dict[str, tuple[str, str, list[tuple[EventKind, datetime, str | None, dict[str, Any]]]]]:
    """id -> (tenant, channel, events)."""
    f_queued, g_queued = at(45), at(50)
    return {
        "A": (TENANT, "chat", [
            (EventKind.CONTACT_OPENED, at(0), None, {"channel": "chat"}),
            (EventKind.MESSAGE_RECEIVED, at(0, 5), None, {}),
            (EventKind.BOT_REPLIED, at(0, 6), None, {"decision": decision("answer", "borgerservice_pas", 0.92, "pas")}),
            (EventKind.ABANDONED, at(1, 30), None, {"from": "bot", "ending": "bot_answered"}),
        ]),
        "B": (TENANT, "chat", [
            (EventKind.CONTACT_OPENED, at(10), None, {"channel": "chat"}),
            (EventKind.BOT_REPLIED, at(10, 20), None, {"decision": decision("handoff", "boligstoette_boligstoette", 0.8)}),
            (EventKind.HANDOFF_REQUESTED, at(10, 30), None, {"reason": "casework", "queue_id": BOLIG,
                                                              "topic": "boligstoette_boligstoette"}),
            *_answered(at(10, 30), BOLIG, 12, "anne", 240, "straksafklaret", acw_seconds=20),
        ]),
        "C": (TENANT, "voice", [
            (EventKind.CONTACT_OPENED, at(20), None, {"channel": "voice"}),
            (EventKind.HANDOFF_REQUESTED, at(20, 10), None, {"reason": "asked_for_human", "queue_id": BASIS}),
            (EventKind.QUEUED, at(20, 10), None, {"queue_id": BASIS}),
            (EventKind.ABANDONED, at(20, 40), None, {"from": "queued", "waited_seconds": 30.0}),
        ]),
        "D": (TENANT, "voice", [
            (EventKind.CONTACT_OPENED, at(30), None, {"channel": "voice"}),
            (EventKind.HANDOFF_REQUESTED, at(30, 5), None, {"reason": "asked_for_human", "queue_id": BASIS}),
            (EventKind.QUEUED, at(30, 5), None, {"queue_id": BASIS}),
            (EventKind.ABANDONED, at(30, 8), None, {"from": "queued", "waited_seconds": 3.0}),
        ]),
        "E": (TENANT, "voice", [
            (EventKind.CONTACT_OPENED, at(40), None, {"channel": "voice"}),
            (EventKind.HANDOFF_REQUESTED, at(40), None, {"reason": "asked_for_human", "queue_id": BASIS}),
            *_answered(at(40), BASIS, 25, "anne", 180, "omstillet"),
        ]),
        "F": (TENANT, "email", [
            (EventKind.CONTACT_OPENED, f_queued, None, {"channel": "email"}),
            (EventKind.HANDOFF_REQUESTED, f_queued, None, {"reason": "topic_policy", "queue_id": BASIS,
                                                            "sla_due_at": at(165).isoformat()}),
            (EventKind.QUEUED, f_queued, None, {"queue_id": BASIS}),
            (EventKind.SLA_BREACHED, at(166), None, {"due_at": at(165).isoformat()}),
            (EventKind.OFFER_ACCEPTED, at(220), "bo", {}),
            (EventKind.AGENT_REPLIED, at(225), "bo", {"first": True}),  # 13:45, an hour late
            (EventKind.CLOSED, at(226), "bo", {"outcome": "straksafklaret", "queue_id": BASIS}),
        ]),
        "G": (TENANT, "email", [
            (EventKind.CONTACT_OPENED, g_queued, None, {"channel": "email"}),
            (EventKind.HANDOFF_REQUESTED, g_queued, None, {"reason": "topic_policy", "queue_id": BASIS}),
            (EventKind.QUEUED, g_queued, None, {"queue_id": BASIS}),
            (EventKind.OFFER_ACCEPTED, at(85), "bo", {}),
            (EventKind.AGENT_REPLIED, at(90), "bo", {"first": True}),  # 11:30, deadline 12:50
            (EventKind.CLOSED, at(91), "bo", {"outcome": "henvist_til_selvbetjening", "queue_id": BASIS}),
        ]),
        "H": (TENANT, "chat", [
            (EventKind.CONTACT_OPENED, at(70), None, {"channel": "chat"}),
            (EventKind.MESSAGE_RECEIVED, at(70, 2), None, {}),
            (EventKind.BOT_REPLIED, at(70, 5), None, {"decision": decision("clarify", None, 0.3)}),
            (EventKind.ABANDONED, at(71), None, {"from": "bot"}),
        ]),
        "I": (TENANT, "chat", [
            (EventKind.CONTACT_OPENED, at(570), None, {"channel": "chat"}),
            (EventKind.BOT_REPLIED, at(570, 5), None, {"decision": decision("answer", "borgerservice_pas", 0.95, "pas")}),
            (EventKind.ABANDONED, at(572), None, {"from": "bot"}),
        ]),
        "X": (OTHER, "chat", [
            (EventKind.CONTACT_OPENED, at(5), None, {"channel": "chat"}),
            (EventKind.BOT_REPLIED, at(5, 5), None, {"decision": decision("clarify", None, 0.2)}),
            (EventKind.ABANDONED, at(6), None, {"from": "bot"}),
        ]),
    }  # fmt: skip


QUEUES = {"B": BOLIG, "C": BASIS, "D": BASIS, "E": BASIS, "F": BASIS, "G": BASIS}
SLA = {"F": at(165), "G": at(170)}
TEXTS = {"H": "hvornår tømmes min skraldespand på 0101901234", "X": "noget helt andet"}


def write_log(db: Database) -> None:
    """Contacts and events of `stories()` (tenants and queues must exist: start the app first)."""
    with db.write() as s:
        for cid, (tenant, channel, events) in stories().items():
            opened = events[0][1]
            s.add(Contact(id=cid, tenant_id=tenant, channel=channel, external_ref=f"ref-{cid}", state=ContactState.CLOSED,
                          queue_id=QUEUES.get(cid), created_at=opened, updated_at=opened, offer_attempts=0,
                          sla_due_at=SLA.get(cid), authenticated=False))  # fmt: skip
        s.flush()
        for cid, (tenant, _, events) in stories().items():
            if cid in TEXTS:
                text = TEXTS[cid]
                s.add(Message(tenant_id=tenant, contact_id=cid, direction=Direction.IN, author=Author.CITIZEN,
                              text=text, text_redacted=text.replace("0101901234", "[CPR]"),
                              created_at=events[0][1] + timedelta(seconds=2)))  # fmt: skip
            for kind, when, agent, data in events:
                s.add(Event(tenant_id=tenant, contact_id=cid, agent_id=agent, kind=kind, at=when, data=data))
