"""Every contact ends with exactly one explicit ending (bot.engine.endings, the engine's terminal
events), and the statistics fold reads it back: the pure decisions as tables, then each ending
through the real engine on SQLite and PostgreSQL, folded with bot.stats.facts.fold_contact."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.channels import Channels
from bot.engine import ContactEvent, ConversationEngine
from bot.engine.endings import (
    EndingDecision,
    IdlePolicy,
    decide_ending,
    ending_data,
    idle_since_cutoff,
    last_answer,
)
from bot.engine.idle import close_idle_everywhere, idle_policy, run_idle_closer
from bot.errors import IllegalTransition, NaiveDatetime
from bot.routing.handoff import BotStep, PacketReason
from bot.routing.skills import AgentState, Channel
from bot.stats.facts import ContactFacts, ContactHeader, Ending, EventRow, fold_contact
from bot.storage import Database
from bot.storage.models import ContactState, EventKind, Outcome
from bot.types import Action, ArticleRef, HandoffReason, TriageDecision
from tests.bot.conftest import TENANT, FakeClock

S, E = ContactState, ContactEvent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 10:00 in Copenhagen: open
ARTICLE = ArticleRef(id="affald_storskrald", title="Storskrald", source="kk.dk: Storskrald",
                     source_url="https://www.kk.dk/storskrald", reviewed="2026-01-15", historical=False)  # fmt: skip
GUIDE = ArticleRef(id="selvbetjening_guide", title="Selvbetjening", source="borger.dk", source_url=None,
                   reviewed="2026-01-15", historical=False)


def step(action: Action, topic: str | None = "affald_storskrald", article: ArticleRef | None = ARTICLE) -> BotStep:
    return BotStep(action=action, topic=topic, article=article, at=T0)


def decision(action: Action, topic: str = "affald_storskrald", article: ArticleRef | None = ARTICLE) -> TriageDecision:
    return TriageDecision(action=action, topic=topic, queue=None, sensitive=False, confidence=0.9, article=article)


HUMAN = TriageDecision(action=Action.HANDOFF, topic="dialog_menneske", queue="borgerservice_basis", sensitive=False,
                       confidence=0.95, reason=HandoffReason.ASKED_FOR_HUMAN)  # fmt: skip


# --- the pure decisions ---------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("state", "answer", "enqueued", "expected"),
    [
        (S.BOT, None, None, EndingDecision(Ending.LEFT_IN_BOT, E.ABANDON)),
        (S.BOT, step(Action.ANSWER), None,
         EndingDecision(Ending.BOT_ANSWERED, E.RESOLVE, topic="affald_storskrald", article_id="affald_storskrald")),
        (S.BOT, step(Action.SELFSERVICE, "generelt_selvbetjening_hjaelp", GUIDE), None,
         EndingDecision(Ending.BOT_SELFSERVICE, E.RESOLVE, topic="generelt_selvbetjening_hjaelp",
                        article_id="selvbetjening_guide")),
        (S.QUEUED, None, T0 - timedelta(seconds=40), EndingDecision(Ending.ABANDONED_IN_QUEUE, E.ABANDON,
                                                                    waited_seconds=40.0)),
        (S.OFFERED, step(Action.ANSWER), T0 - timedelta(seconds=5),
         EndingDecision(Ending.ABANDONED_IN_QUEUE, E.ABANDON, waited_seconds=5.0)),  # a wait outranks an answer
        (S.QUEUED, None, None, EndingDecision(Ending.ABANDONED_IN_QUEUE, E.ABANDON)),
    ],
)  # fmt: skip
def test_decide_ending(state: ContactState, answer: BotStep | None, enqueued: datetime | None,
                       expected: EndingDecision) -> None:  # fmt: skip
    assert decide_ending(state, answer, now=T0, enqueued_at=enqueued) == expected


@pytest.mark.unit
@pytest.mark.parametrize("state", [S.HANDOFF_REQUESTED, S.ASSIGNED, S.AGENT_ACTIVE, S.MESSAGE_LEFT,
                                   S.CALLBACK_REQUESTED, S.CLOSED, S.ABANDONED])  # fmt: skip
def test_decide_ending_refuses_states_the_citizen_cannot_leave(state: ContactState) -> None:
    with pytest.raises(IllegalTransition, match="contact 'c1'"):
        decide_ending(state, None, now=T0, contact_id="c1")


@pytest.mark.unit
def test_decide_ending_refuses_a_naive_now() -> None:
    with pytest.raises(NaiveDatetime):
        decide_ending(S.BOT, None, now=T0.replace(tzinfo=None))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ((), None),
        ((step(Action.CLARIFY, article=None),), None),
        ((step(Action.ANSWER, "dialog_hilsen", None),), None),  # a greeting is not an answer
        ((step(Action.ANSWER, "dialog_tak"),), None),  # small talk with an article still is not
        ((step(Action.OUT_OF_SCOPE, "dialog_uden_for_omraade", None),), None),
        ((step(Action.EMERGENCY, "dialog_noedsituation", None),), None),
        ((step(Action.ANSWER), step(Action.CLARIFY, article=None)), 0),  # the last answer counts
        ((step(Action.ANSWER), step(Action.SELFSERVICE, "generelt_selvbetjening_hjaelp", GUIDE)), 1),
        ((step(Action.SELFSERVICE, "generelt_selvbetjening_hjaelp", GUIDE), step(Action.ANSWER)), 1),
    ],
)  # fmt: skip
def test_last_answer(steps: tuple[BotStep, ...], expected: int | None) -> None:
    found = last_answer(steps, frozenset({"dialog_hilsen", "dialog_tak", "dialog_uden_for_omraade"}))
    assert found is (None if expected is None else steps[expected])


@pytest.mark.unit
def test_ending_data_leaves_unknown_facts_out() -> None:
    assert ending_data(Ending.LEFT_IN_BOT) == {"ending": "left_in_bot"}
    assert ending_data(Ending.AGENT_CLOSED, outcome="straksafklaret", acw_seconds=30.0, topic=None) == {
        "ending": "agent_closed", "outcome": "straksafklaret", "acw_seconds": 30.0}  # fmt: skip


@pytest.mark.unit
def test_idle_policy_per_channel() -> None:
    policy = IdlePolicy(live=timedelta(minutes=30), email=timedelta(hours=72))
    cut = idle_since_cutoff(T0, policy)
    assert cut[Channel.CHAT] == cut[Channel.VOICE] == T0 - timedelta(minutes=30)
    assert cut[Channel.EMAIL] == T0 - timedelta(hours=72)
    with pytest.raises(ValueError, match="live"):
        IdlePolicy(live=timedelta(0))


@pytest.mark.unit
def test_idle_policy_from_settings() -> None:
    from bot.config import Settings

    settings = Settings(bot_idle_minutes=10, bot_idle_email_hours=24)
    assert idle_policy(settings) == IdlePolicy(live=timedelta(minutes=10), email=timedelta(hours=24))
    assert Settings().bot_idle_minutes == 30


# --- each ending through the engine ------------------------------------------------------------------


def facts(engine: ConversationEngine, contact_id: str) -> ContactFacts:
    c = engine.contact(TENANT, contact_id)
    return fold_contact(ContactHeader(TENANT, c.id, c.channel), [EventRow.of(e) for e in engine.events(TENANT, c.id)])


def endings(engine: ConversationEngine, contact_id: str) -> list[str]:
    """The `ending` of every event of the contact that carries one: exactly one when it ended."""
    return [e.data["ending"] for e in engine.events(TENANT, contact_id) if "ending" in e.data]


def chat(engine: ConversationEngine, ref: str, channel: Channel = Channel.CHAT, *replies: TriageDecision) -> str:
    c = engine.open_contact(TENANT, channel, ref)
    engine.record_inbound(TENANT, c.id, "Hvornår henter I storskrald?")
    for d in replies:
        engine.record_bot_reply(TENANT, c.id, "Svar", d)
    return c.id


def staff(engine: ConversationEngine, agent_id: str = "anna", **levels: int) -> None:
    engine.add_agent(TENANT, agent_id, agent_id.title(), skills=levels or {"borgerservice_basis": 5})
    engine.set_agent_state(TENANT, agent_id, AgentState.AVAILABLE)


@pytest.mark.integration
def test_chat_answered_then_left_ends_bot_answered_not_abandoned(engine: ConversationEngine, clock: FakeClock) -> None:
    cid = chat(engine, "answered", Channel.CHAT, decision(Action.ANSWER))
    clock.advance(60)
    view = engine.mark_abandoned(TENANT, cid)
    assert view.state is S.CLOSED and view.closed_at == clock.now and view.outcome is None
    f = facts(engine, cid)
    assert (f.ending, f.article_id, f.topic, f.ended_at) == (Ending.BOT_ANSWERED, "affald_storskrald",
                                                            "affald_storskrald", clock.now)  # fmt: skip
    assert f.resolved_by_bot and endings(engine, cid) == ["bot_answered"]
    (last,) = [e for e in engine.events(TENANT, cid)][-1:]
    assert last.kind is EventKind.CLOSED and last.agent_id is None and last.data["reason"] == "citizen_left"


@pytest.mark.integration
def test_selfservice_then_left_ends_bot_selfservice(engine: ConversationEngine) -> None:
    guide = decision(Action.SELFSERVICE, "generelt_selvbetjening_hjaelp", GUIDE)
    cid = chat(engine, "guided", Channel.VOICE, decision(Action.ANSWER), guide)
    engine.mark_abandoned(TENANT, cid)
    f = facts(engine, cid)
    assert (f.ending, f.article_id) == (Ending.BOT_SELFSERVICE, "selvbetjening_guide")


@pytest.mark.integration
@pytest.mark.parametrize(
    "replies",
    [(), (decision(Action.ANSWER, "dialog_hilsen", None),), (decision(Action.CLARIFY, article=None),)],
    ids=["no_reply", "greeting_only", "clarify_only"],
)
def test_left_before_any_answer_ends_left_in_bot(engine: ConversationEngine,
                                                 replies: tuple[TriageDecision, ...]) -> None:  # fmt: skip
    cid = chat(engine, "early", Channel.CHAT, *replies)
    assert engine.mark_abandoned(TENANT, cid).state is S.ABANDONED
    f = facts(engine, cid)
    assert f.ending is Ending.LEFT_IN_BOT and not f.resolved_by_bot
    assert endings(engine, cid) == ["left_in_bot"]


@pytest.mark.integration
@pytest.mark.parametrize("offered", [False, True], ids=["queued", "offered"])
def test_left_while_waiting_ends_abandoned_in_queue(engine: ConversationEngine, clock: FakeClock,
                                                    offered: bool) -> None:  # fmt: skip
    cid = chat(engine, "waiting", Channel.CHAT, decision(Action.ANSWER))
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    if offered:
        staff(engine)
        engine.route(TENANT)
    clock.advance(40)
    assert engine.mark_abandoned(TENANT, cid).state is S.ABANDONED
    (event,) = [e for e in engine.events(TENANT, cid) if "ending" in e.data]
    assert (event.kind, event.data["waited_seconds"], event.data["from"]) == (
        EventKind.ABANDONED, 40.0, "offered" if offered else "queued")  # fmt: skip
    f = facts(engine, cid)
    assert (f.ending, f.waited_seconds) == (Ending.ABANDONED_IN_QUEUE, 40.0)


@pytest.mark.integration
def test_agent_close_ends_agent_closed_with_outcome_and_acw(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine)
    cid = chat(engine, "agent", Channel.VOICE)
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    (offer,) = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anna")
    clock.advance(120)
    engine.close(TENANT, "anna", cid, Outcome.STRAKSAFKLARET)
    (event,) = [e for e in engine.events(TENANT, cid) if "ending" in e.data]
    assert event.kind is EventKind.CLOSED and event.data["acw_seconds"] == 30.0  # the policy's ACW
    f = facts(engine, cid)
    assert (f.ending, f.outcome, f.acw_seconds, f.handled_seconds) == (
        Ending.AGENT_CLOSED, Outcome.STRAKSAFKLARET, 30.0, 120.0)  # fmt: skip


@pytest.mark.integration
def test_transfer_records_acw(engine: ConversationEngine) -> None:
    staff(engine, "anna", borgerservice_basis=5)
    staff(engine, "erik", esb=5)
    cid = chat(engine, "transfer", Channel.CHAT)
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    (offer,) = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anna")
    engine.transfer(TENANT, "anna", cid, "esb", "MitID")
    (event,) = [e for e in engine.events(TENANT, cid) if e.kind is EventKind.TRANSFERRED]
    assert event.data["acw_seconds"] == 30.0 and endings(engine, cid) == []  # not ended yet


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["message", "callback"])
def test_message_and_callback_end_once_even_when_the_task_is_done(engine: ConversationEngine, clock: FakeClock,
                                                                   kind: str) -> None:  # fmt: skip
    staff(engine)
    cid = chat(engine, "task", Channel.CHAT)
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    clock.advance(90)
    if kind == "message":
        task = engine.leave_message(TENANT, cid, "+45 12 34 56 78", "Om storskrald")
    else:
        task = engine.request_callback(TENANT, cid, "+45 12 34 56 78", "Om storskrald")
    clock.advance(3600)
    engine.complete_task(TENANT, "anna", task.id, Outcome.STRAKSAFKLARET)
    expected = Ending.MESSAGE_LEFT if kind == "message" else Ending.CALLBACK_BOOKED
    assert endings(engine, cid) == [expected.value]
    f = facts(engine, cid)
    assert (f.ending, f.waited_seconds) == (expected, 90.0)


@pytest.mark.integration
def test_email_handoff_event_carries_the_deadline(engine: ConversationEngine) -> None:
    cid = chat(engine, "<mail@example.org>", Channel.EMAIL)
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    due = engine.contact(TENANT, cid).sla_due_at
    assert due == T0 + timedelta(hours=2)  # Monday 10:00 + 2 opening hours
    (event,) = [e for e in engine.events(TENANT, cid) if e.kind is EventKind.HANDOFF_REQUESTED]
    assert event.data["sla_due_at"] == due.isoformat()
    assert facts(engine, cid).email_deadline == due


# --- quiet conversations -------------------------------------------------------------------------------


@pytest.mark.integration
def test_close_idle_ends_quiet_bot_conversations_by_their_history(engine: ConversationEngine,
                                                                  clock: FakeClock) -> None:  # fmt: skip
    answered = chat(engine, "answered", Channel.CHAT, decision(Action.ANSWER))
    silent = chat(engine, "silent", Channel.VOICE)
    mail = chat(engine, "<m@example.org>", Channel.EMAIL, decision(Action.ANSWER))
    queued = chat(engine, "queued", Channel.CHAT)
    engine.request_handoff(TENANT, queued, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    clock.advance(29 * 60)
    busy = chat(engine, "busy", Channel.CHAT, decision(Action.ANSWER))  # written 1 minute before the check
    clock.advance(60 + 1)
    idle = IdlePolicy(live=timedelta(minutes=30), email=timedelta(hours=72))
    closed = engine.close_idle(TENANT, clock.now, idle=idle)
    assert {c.id for c in closed} == {answered, silent}
    assert facts(engine, answered).ending is Ending.BOT_ANSWERED
    assert facts(engine, answered).ended_at == T0  # when the citizen left, not when the timer noticed
    assert engine.contact(TENANT, answered).state is S.CLOSED
    assert facts(engine, silent).ending is Ending.LEFT_IN_BOT
    assert engine.contact(TENANT, silent).state is S.ABANDONED
    for cid in (mail, busy):
        assert engine.contact(TENANT, cid).state is S.BOT and facts(engine, cid).ending is Ending.OPEN
    assert engine.contact(TENANT, queued).state is S.QUEUED  # waiting for an agent is not idleness
    assert engine.close_idle(TENANT, clock.now, idle=idle) == []  # nothing ends twice
    clock.advance(72 * 3600)
    assert {c.id for c in engine.close_idle(TENANT, clock.now, idle=idle)} == {mail, busy}
    assert facts(engine, mail).ending is Ending.BOT_ANSWERED
    reasons = {e.data["reason"] for e in engine.events(TENANT) if "ending" in e.data}
    assert reasons == {"idle"}
    for cid in (answered, silent, mail, busy):
        assert len(endings(engine, cid)) == 1


@pytest.mark.integration
def test_close_idle_uses_the_engines_policy_by_default(make_engine, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(idle=IdlePolicy(live=timedelta(minutes=5)))
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    cid = chat(engine, "short", Channel.CHAT, decision(Action.ANSWER))
    clock.advance(5 * 60)
    assert [c.id for c in engine.close_idle(TENANT)] == [cid]


@pytest.mark.integration
def test_close_idle_from_two_workers_ends_each_contact_once(engine: ConversationEngine, db: Database,
                                                            make_engine, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    ids = [chat(engine, f"w{i}", Channel.CHAT, decision(Action.ANSWER)) for i in range(12)]
    clock.advance(31 * 60)
    other_db = Database(db.url)
    other = make_engine(other_db)
    results: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def work(i: int, eng: ConversationEngine) -> None:
        barrier.wait()
        while batch := eng.close_idle(TENANT, clock.now, limit=3):
            results[i].extend(c.id for c in batch)

    threads = [threading.Thread(target=work, args=(i, e)) for i, e in enumerate((engine, other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other_db.dispose()
    assert sorted(results[0] + results[1]) == sorted(ids)
    for cid in ids:
        assert endings(engine, cid) == ["bot_answered"]


@pytest.mark.integration
def test_idle_timer_closes_and_tells_the_channels(engine: ConversationEngine, clock: FakeClock) -> None:
    cid = chat(engine, "timer", Channel.CHAT, decision(Action.ANSWER))
    clock.advance(31 * 60)
    told: list[tuple[str, str]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def changed(tenant_id: str, contact_id: str) -> None:
            told.append((tenant_id, contact_id))
            loop.call_soon_threadsafe(stop.set)

        await run_idle_closer(engine, [TENANT], clock, IdlePolicy(), interval=3600, stop=stop, changed=changed)

    asyncio.run(main())
    assert told == [(TENANT, cid)] and facts(engine, cid).ending is Ending.BOT_ANSWERED
    assert close_idle_everywhere(engine, [TENANT], clock.now, IdlePolicy()) == 0


@pytest.mark.integration
def test_every_handoff_reason_keeps_its_ending(engine: ConversationEngine) -> None:
    """Handing off never writes an ending: the contact is not over until it leaves the queue."""
    cid = chat(engine, "handoff", Channel.CHAT, decision(Action.ANSWER))
    engine.request_handoff(TENANT, cid, HUMAN, PacketReason.OUT_OF_HOURS)
    assert endings(engine, cid) == [] and facts(engine, cid).ending is Ending.OPEN


# --- survey answers ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_voice_survey_answers_one_question_at_a_time_fold_as_agent_feedback(engine: ConversationEngine) -> None:
    staff(engine)
    cid = chat(engine, "survey", Channel.VOICE)
    engine.request_handoff(TENANT, cid, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    (offer,) = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anna")
    engine.close(TENANT, "anna", cid, Outcome.STRAKSAFKLARET)
    engine.record_feedback(TENANT, cid, {"1": 4})
    engine.record_feedback(TENANT, cid, {"1": 9, "2": 7})  # a retry or a change of mind replaces question 1
    answers = {(a.level.value, a.question, a.score, a.scale) for a in facts(engine, cid).feedback}
    assert answers == {("agent", "1", 9, (1, 9)), ("agent", "2", 7, (1, 9))}


@pytest.mark.integration
def test_bot_feedback_and_bad_answers(engine: ConversationEngine) -> None:
    from bot.errors import InvalidFeedback

    cid = chat(engine, "bot-survey", Channel.CHAT, decision(Action.ANSWER))
    engine.record_feedback(TENANT, cid, {"tilfreds": 10})
    (answer,) = facts(engine, cid).feedback
    assert (answer.level.value, answer.scale) == ("bot", (1, 10))
    for scores in ({"tilfreds": 11}, {"tilfreds": 0}, {}, {"tilfreds": True}):
        with pytest.raises(InvalidFeedback):
            engine.record_feedback(TENANT, cid, scores)


@pytest.mark.unit
def test_idle_background_hook_runs_with_the_settings_and_stops_with_the_app() -> None:
    from types import SimpleNamespace

    from bot.config import Settings
    from bot.engine.idle import idle_background

    calls: list[tuple[str, IdlePolicy | None]] = []

    async def main() -> None:
        called = asyncio.Event()
        loop = asyncio.get_running_loop()

        class FakeEngine:
            def close_idle(self, tenant_id: str, now: datetime | None = None, *, idle: IdlePolicy | None = None,
                           limit: int = 200) -> list[object]:  # fmt: skip
                calls.append((tenant_id, idle))
                loop.call_soon_threadsafe(called.set)
                return []

            def clock(self) -> datetime:
                return datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

        tenants = SimpleNamespace(tenants=[SimpleNamespace(id="kobenhavn"), SimpleNamespace(id="aarhus")])
        app = SimpleNamespace(state=SimpleNamespace(engine=FakeEngine(), tenants=tenants, channels=Channels(),
                                                    settings=Settings(bot_idle_minutes=15)))  # fmt: skip
        async with idle_background(app):
            await called.wait()

    asyncio.run(main())
    assert calls[:2] == [("kobenhavn", IdlePolicy(live=timedelta(minutes=15))),
                         ("aarhus", IdlePolicy(live=timedelta(minutes=15)))]  # fmt: skip
