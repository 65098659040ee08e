"""Folding event rows into per-contact facts and agents' time per state (scenario in conftest)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine import ConversationEngine
from bot.routing.handoff import PacketReason
from bot.routing.skills import AgentState, Channel, RoutingPolicy
from bot.stats.errors import MalformedEvent, NoEvents
from bot.stats.facts import (
    AgentTime,
    ContactFacts,
    ContactHeader,
    Ending,
    EventRow,
    FeedbackAnswer,
    FeedbackLevel,
    agent_intervals,
    fold_contact,
    fold_contacts,
)
from bot.storage import Database
from bot.storage.models import EventKind as K
from bot.storage.models import Outcome
from bot.storage.repository import EventView
from bot.topics import TopicContract
from bot.types import Action
from tests.bot.stats.conftest import BASIS, HEADERS, LOG, TENANT, at, ev


def test_bot_answer_with_an_explicit_ending(facts: dict[str, ContactFacts]) -> None:
    a = facts["A"]
    assert (a.ending, a.ended_at) == (Ending.BOT_ANSWERED, at(1, 30))
    assert a.resolved_by_bot and not a.queued and not a.answered
    assert (a.topic, a.triage_action, a.article_id) == ("affald_toemning", Action.ANSWER, "affald_toemning")
    assert (a.bot_replies, a.bot_min_confidence, a.bot_unanswered) == (1, 0.97, False)
    assert a.waited_seconds is None and a.handled_seconds is None


def test_chat_handed_off_and_closed_by_an_agent(facts: dict[str, ContactFacts]) -> None:
    b = facts["B"]
    assert (b.ending, b.outcome, b.handoff_reason) == (
        Ending.AGENT_CLOSED,
        Outcome.STRAKSAFKLARET,
        PacketReason.CASEWORK,
    )
    assert (b.first_queue, b.last_queue, b.agent_ids, b.transfers) == (BASIS, BASIS, ("a1",), 0)
    assert b.waited_seconds == 12.0  # queued 09:10:30, accepted 09:10:42
    assert b.handled_seconds == 240.0  # accepted 09:10:42, closed 09:14:42
    assert b.acw_seconds == 20.0
    assert b.first_reply_at == at(10, 50)
    assert b.feedback == (FeedbackAnswer(FeedbackLevel.AGENT, Channel.CHAT, "tilfredshed", 8, (1, 10)),)


def test_abandons_keep_the_time_waited(facts: dict[str, ContactFacts]) -> None:
    assert (facts["C"].ending, facts["C"].waited_seconds) == (
        Ending.ABANDONED_IN_QUEUE,
        30.0,
    )  # 09:20:10 -> :40
    assert (facts["D"].ending, facts["D"].waited_seconds) == (
        Ending.ABANDONED_IN_QUEUE,
        3.0,
    )  # 09:30:05 -> :08
    assert facts["C"].triage_action is Action.HANDOFF  # no bot reply: it handed off silently


def test_email_deadline_and_first_reply(facts: dict[str, ContactFacts]) -> None:
    e, f = facts["E"], facts["F"]
    assert (e.email_deadline, e.first_reply_at, e.email_deadline_breached) == (at(160), at(185), True)
    assert (f.email_deadline, f.first_reply_at, f.email_deadline_breached) == (at(165), at(90), False)
    assert e.handled_seconds == f.handled_seconds == 360.0  # 12:00 -> 12:06, 10:25 -> 10:31


def test_transfer_adds_both_agents_handling(facts: dict[str, ContactFacts]) -> None:
    g = facts["G"]
    assert (g.transfers, g.agent_ids, g.first_queue, g.last_queue) == (1, ("a1", "a3"), BASIS, "pension")
    assert g.waited_seconds == 25.0  # first queue to first agent; the second queue's wait is not ASA
    assert g.handled_seconds == 180.0 + 120.0  # a1 10:00:35-10:03:35, a3 10:04:00-10:06:00
    assert g.topic == "pension"  # the close names the topic
    assert {(a.question, a.score, a.scale) for a in g.feedback} == {("1", 7, (1, 9)), ("4", 5, (1, 9))}


def test_endings_inferred_when_the_engine_wrote_none(facts: dict[str, ContactFacts]) -> None:
    assert (facts["H"].ending, facts["H"].article_id) == (Ending.BOT_SELFSERVICE, "boligstoette_ansoeg")
    assert (facts["I"].ending, facts["I"].bot_unanswered) == (Ending.LEFT_IN_BOT, True)
    j = facts["J"]
    assert (j.ending, j.waited_seconds, j.answered) == (Ending.MESSAGE_LEFT, 120.0, False)  # 10:30 -> 10:32


def test_a_contact_still_in_the_bot_is_open() -> None:
    f = fold_contact(HEADERS["A"], LOG["A"][:3])
    assert (f.ending, f.ended_at) == (Ending.OPEN, None)


def test_the_first_explicit_ending_wins_over_inference() -> None:
    rows = [
        ev(K.CONTACT_OPENED, at(0)),
        ev(K.ABANDONED, at(1), ending="left_in_bot", **{"from": "bot"}),
        ev("contact_ended", at(2), ending="bot_answered"),
    ]
    f = fold_contact(HEADERS["A"], rows)
    assert (f.ending, f.ended_at) == (Ending.LEFT_IN_BOT, at(1))


def test_an_explicit_agent_ending_carries_outcome_and_after_contact_work() -> None:
    rows = [
        *LOG["B"][:6],  # up to the acceptance at 09:10:42
        ev(
            "contact_ended",
            at(13),
            "a1",
            ending="agent_closed",
            outcome="vejledt_i_selvbetjening",
            acw_seconds=45,
        ),
    ]
    f = fold_contact(HEADERS["B"], rows)
    assert (f.ending, f.outcome, f.acw_seconds) == (
        Ending.AGENT_CLOSED,
        Outcome.VEJLEDT_I_SELVBETJENING,
        45.0,
    )
    assert f.handled_seconds == 138.0  # accepted 09:10:42, ended 09:13:00


def test_message_left_then_task_done_keeps_the_message_ending_and_takes_the_outcome() -> None:
    rows = [*LOG["J"], ev(K.TASK_DONE, at(200), "a2"), ev(K.CLOSED, at(200), "a2", outcome="besked_taget")]
    f = fold_contact(HEADERS["J"], rows)
    assert (f.ending, f.ended_at, f.outcome, f.handled_seconds) == (
        Ending.MESSAGE_LEFT, at(92), Outcome.BESKED_TAGET, None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (ev("contact_ended", at(1), ending="gone"), "ending='gone'"),
        (ev(K.FEEDBACK, at(1), level="bot", channel="voice", scores={"1": 10}), "outside 1..9"),
        (ev(K.CLOSED, at(1), outcome="fixed"), "outcome='fixed'"),
        (
            ev(K.HANDOFF_REQUESTED, at(1), reason="asked_for_human", sla_due_at="2026-03-02T11:00"),
            "no time zone",
        ),
    ],
)
def test_rows_that_break_the_contract_are_refused_by_name(row: EventRow, words: str) -> None:
    with pytest.raises(MalformedEvent, match="contact 'A'") as info:
        fold_contact(HEADERS["A"], [ev(K.CONTACT_OPENED, at(0)), row])
    assert words in str(info.value)


def test_no_events_no_facts() -> None:
    with pytest.raises(NoEvents):
        fold_contact(HEADERS["A"], [])


def test_fold_contacts_matches_rows_by_contact_id() -> None:
    rows = [EventRow(r.kind, r.at, r.data, r.agent_id, cid) for cid in ("C", "A") for r in LOG[cid]]
    folded = fold_contacts([HEADERS["A"], HEADERS["B"], HEADERS["C"]], rows)
    assert [f.contact_id for f in folded] == ["A", "C"]  # B has no rows


def test_event_row_from_a_stored_event_view() -> None:
    view = EventView(id=1, tenant_id=TENANT, kind=K.QUEUED, at=at(0), contact_id="B", agent_id=None,
                     data={"queue_id": BASIS})  # fmt: skip
    assert EventRow.of(view) == EventRow("queued", at(0), {"queue_id": BASIS}, None, "B")


# --- agents' time per state -----------------------------------------------------------------


def _state(agent: str, when: datetime, old: str, new: str) -> EventRow:
    return ev(K.AGENT_STATE_CHANGED, when, agent, **{"from": old, "to": new})


AGENT_ROWS = [
    _state("a1", at(-5), "offline", "available"),  # before the window: sets the state at 09:00
    _state("a1", at(10, 40), "available", "busy"),
    _state("a1", at(14, 42), "busy", "after_contact_work"),
    _state("a1", at(15, 2), "after_contact_work", "available"),
    _state("a2", at(30), "paused", "available"),  # first change inside: 'from' gives 09:00-09:30
    _state("a1", at(60, 35), "available", "busy"),  # after the window
    ev(K.QUEUED, at(20), queue_id=BASIS),  # not an agent event: ignored
]


def test_agent_intervals_clip_to_the_window() -> None:
    times = agent_intervals(AGENT_ROWS, start=at(0), end=at(60), initial={"a3": AgentState.OFFLINE})
    # a1: available 09:00-09:10:40 = 640 s, busy to 09:14:42 = 242 s, ACW to 09:15:02 = 20 s,
    # available to 10:00 = 2698 s; 640 + 242 + 20 + 2698 = 3600.
    assert times["a1"] == AgentTime("a1", available=640 + 2698, busy=242, after_contact_work=20)
    assert times["a2"] == AgentTime("a2", available=1800, paused=1800)
    assert times["a3"] == AgentTime("a3", offline=3600)
    assert sum(times["a1"].seconds(s) for s in AgentState) == 3600
    assert (times["a1"] + times["a2"]).logged_in == 3600 + 1800


def test_after_contact_work_ends_at_acw_until_without_a_change() -> None:
    rows = [
        _state("a1", at(0), "available", "busy"),
        ev(
            K.AGENT_STATE_CHANGED,
            at(4),
            "a1",
            acw_until=at(4, 30).isoformat(),
            **{"from": "busy", "to": "after_contact_work"},
        ),
        _state("a1", at(9), "after_contact_work", "paused"),
    ]
    times = agent_intervals(rows, start=at(0), end=at(10))
    # busy 0-4 min = 240 s, ACW 4:00-4:30 = 30 s, then routable (available) to 9:00 = 270 s, paused 60 s
    assert times["a1"] == AgentTime("a1", busy=240, after_contact_work=30, available=270, paused=60)


def test_agent_intervals_refuse_a_backwards_window() -> None:
    with pytest.raises(ValueError, match="before its start"):
        agent_intervals(AGENT_ROWS, start=at(60), end=at(0))


# --- the contract with the real engine ------------------------------------------------------


def test_engine_events_fold_into_the_facts_we_count(
    migrated_sqlite: Path, tmp_path: Path, contract: TopicContract
) -> None:
    """A chat through the real engine on SQLite: handed off, 12 s in the queue, closed by the agent."""
    target = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, target)
    db = Database(f"sqlite:///{target}")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    moment = [start]
    engine = ConversationEngine(db, contract, lambda: moment[0], RoutingPolicy(acw_seconds=30))
    try:
        engine.ensure_tenant(TENANT, "Københavns Kommune")
        engine.add_agent(TENANT, "a1", "Agent", skills={BASIS: 5})
        engine.set_agent_state(TENANT, "a1", AgentState.AVAILABLE)
        c = engine.open_contact(TENANT, Channel.CHAT, "chat-1")
        engine.record_inbound(TENANT, c.id, "Jeg vil tale med en medarbejder")
        moment[0] = start + timedelta(seconds=10)
        engine.request_handoff(TENANT, c.id, None, PacketReason.ASKED_FOR_HUMAN)
        moment[0] = start + timedelta(seconds=22)
        (offer,) = engine.route(TENANT)
        engine.accept_offer(TENANT, offer.id, "a1")
        moment[0] = start + timedelta(seconds=142)
        engine.close(TENANT, "a1", c.id, Outcome.STRAKSAFKLARET)
        rows = [EventRow.of(e) for e in engine.events(TENANT, c.id)]
        agent_rows = [EventRow.of(e) for e in engine.events(TENANT) if e.agent_id == "a1"]
    finally:
        db.dispose()
    f = fold_contact(ContactHeader(TENANT, c.id, Channel.CHAT), rows)
    assert (f.ending, f.outcome, f.handoff_reason) == (Ending.AGENT_CLOSED, Outcome.STRAKSAFKLARET,
                                                       PacketReason.ASKED_FOR_HUMAN)  # fmt: skip
    assert (f.waited_seconds, f.handled_seconds, f.first_queue) == (
        12.0,
        120.0,
        BASIS,
    )  # 09:00:10 -> :22 -> 09:02:22
    times = agent_intervals(agent_rows, start=start, end=start + timedelta(minutes=10))
    # available 0-22 s, busy 22-142 s, then after-contact work to the end of the window (600 s):
    # the engine records entering ACW; leaving it is an explicit state change that never came.
    assert times["a1"] == AgentTime("a1", available=22, busy=120, after_contact_work=458)
