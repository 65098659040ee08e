"""bot.conversation: one citizen turn on the engine, on SQLite and PostgreSQL, with the real model
(issue 5: no channel keeps its own conversation state; once a human takes over, the bot is silent)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.conversation import (
    TurnResult,
    decision_from_event,
    flagged_decision,
    handle_citizen_message,
    handoff_reason,
)
from bot.errors import ConversationClosed
from bot.routing.handoff import PacketReason
from bot.storage.models import AgentState, Author, Channel, ContactState, EventKind, Outcome
from bot.storage.repository import EventView
from bot.tenants import load_tenants
from bot.types import Action, HandoffReason, TriageDecision

pytestmark = pytest.mark.integration

TENANT = "kobenhavn"
QUESTION = "Hvornår kommer skraldebilen?"
SATURDAY_NOON = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)


@pytest.fixture
def tenant(settings):
    return load_tenants(settings.tenants_file).get(TENANT)


@pytest.fixture
def say(engine, understanding, tenant):
    def send(text: str, ref: str = "web-1", cmid: str | None = None) -> TurnResult:
        return handle_citizen_message(engine, understanding, TENANT, Channel.CHAT, ref, text, cmid, tenant=tenant)

    return send


def _take_over(engine, contact_id: str, agent: str = "anne") -> None:
    engine.add_agent(TENANT, agent, "Anne Holm", skills={q.id: 5 for q in engine.contract.queues})
    engine.set_agent_state(TENANT, agent, AgentState.AVAILABLE)
    (offer,) = [o for o in engine.route(TENANT) if o.contact_id == contact_id]
    engine.accept_offer(TENANT, offer.id, agent)


def test_conversation_answers_and_stores_both_sides(engine, say):
    turn = say(QUESTION, cmid="c1")
    assert turn.bot_answered and not turn.handed_off and not turn.duplicate
    assert turn.decision.action is Action.ANSWER and turn.decision.topic == "affald_toemning"
    assert "Kilde:" in turn.replies[0].text
    transcript = engine.transcript(TENANT, turn.contact.id)
    assert [m.author for m in transcript] == [Author.CITIZEN, Author.BOT]
    assert transcript[0].client_message_id == "c1"
    replied = [e for e in engine.events(TENANT, turn.contact.id) if e.kind is EventKind.BOT_REPLIED]
    assert replied[0].data["decision"]["article"]["id"] == turn.decision.article.id
    assert turn.contact.topic == "affald_toemning"


def test_conversation_repeated_client_message_id_writes_nothing(engine, say):
    first = say(QUESTION, cmid="c1")
    again = say(QUESTION, cmid="c1")
    assert again.duplicate and again.inbound.id == first.inbound.id
    assert [m.id for m in again.replies] == [m.id for m in first.replies]
    assert len(engine.transcript(TENANT, first.contact.id)) == 2


def test_conversation_asked_for_human_is_queued_with_position(engine, say):
    say(QUESTION)
    turn = say("Tal med en medarbejder")
    assert turn.handed_off and turn.handoff.reason is PacketReason.ASKED_FOR_HUMAN
    assert turn.contact.state is ContactState.QUEUED
    assert turn.queue.position == 1 and turn.closed is None
    # the last topic travels with the handoff: the waste queue, not the generic one
    assert turn.handoff.topic.id == "affald_toemning"


def test_conversation_bot_is_silent_once_a_human_owns_the_contact(engine, say):
    say(QUESTION)
    queued = say("/dialog_menneske")
    assert queued.handed_off
    waiting = say("Hallo? Er der nogen?")
    assert not waiting.bot_answered and waiting.replies == () and waiting.queue.position == 1
    _take_over(engine, queued.contact.id)
    engine.agent_reply(TENANT, "anne", queued.contact.id, "Hej, det er Anne.")
    after = say(QUESTION)  # a FAQ question the bot could answer: it must not
    assert not after.bot_answered and after.decision is None
    authors = [m.author for m in engine.transcript(TENANT, queued.contact.id)]
    assert authors[-2:] == [Author.AGENT, Author.CITIZEN]
    assert authors.count(Author.BOT) == 2  # the answer and the handoff message, nothing since


@pytest.mark.parametrize(
    ("text", "reason", "queue"),
    [
        ("min mand slår mig", PacketReason.SENSITIVE, "social_saerlige_behov"),
        ("hvad er status på min sag", PacketReason.CASEWORK, None),
    ],
)
def test_conversation_handoff_reasons(say, text, reason, queue):
    turn = say(text)
    assert turn.handed_off and turn.handoff.reason is reason
    if queue:
        assert turn.handoff.queue.id == queue


def test_conversation_emergency_then_human_is_an_emergency_handoff(engine, say):
    first = say("der er brand i huset")
    assert first.decision.action is Action.EMERGENCY and not first.handed_off
    assert "112" in first.replies[0].text
    # the flag sticks across calls (read back from the engine, not from process memory)
    again = say(QUESTION)
    assert again.decision.action is Action.EMERGENCY
    human = say("/dialog_menneske")
    assert human.handoff.reason is PacketReason.EMERGENCY
    assert human.handoff.queue.id != "alarm_112"


def test_conversation_out_of_hours_offers_message_with_next_opening(engine, say, clock):
    clock.now = SATURDAY_NOON
    turn = say("Jeg vil gerne tale med en medarbejder")
    assert turn.handoff.reason is PacketReason.OUT_OF_HOURS
    assert turn.closed is not None
    # København opens Monday 08:00 (tenants.yaml), not the default schedule's hour
    assert turn.closed.opens_at == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    assert turn.closed.opens_at_text == "mandag den 9. marts kl. 08.00"
    task = engine.leave_message(TENANT, turn.contact.id, "12345678", "Ring om min affaldssag")
    assert "mandag" in task.expectation
    assert engine.contact(TENANT, turn.contact.id).state is ContactState.MESSAGE_LEFT


def test_conversation_sensitive_out_of_hours_keeps_its_reason(say, clock):
    clock.now = SATURDAY_NOON
    turn = say("min mand slår mig")
    assert turn.handoff.reason is PacketReason.SENSITIVE and turn.closed is not None


def test_conversation_history_comes_from_the_engine(engine, say, understanding, tenant):
    """Two 'workers' (two calls with nothing shared but the database) see the same topic."""
    say(QUESTION)
    turn = handle_citizen_message(engine, understanding, TENANT, "chat", "web-1", "Tal med en medarbejder",
                                  tenant=tenant)  # fmt: skip
    assert turn.handoff.topic.id == "affald_toemning"


def test_conversation_closed_contact_is_refused(engine, say):
    turn = say("/dialog_menneske")
    _take_over(engine, turn.contact.id)
    engine.close(TENANT, "anne", turn.contact.id, Outcome.STRAKSAFKLARET)
    with pytest.raises(ConversationClosed, match="closed"):
        say("Tak!")


def test_conversation_handoff_reason_rules():
    human = TriageDecision(Action.HANDOFF, "dialog_menneske", "borgerservice_basis", False, 0.9,
                           reason=HandoffReason.ASKED_FOR_HUMAN)  # fmt: skip
    emergency = TriageDecision(Action.EMERGENCY, "alarm_112", "alarm_112", True, 0.9, reason=HandoffReason.EMERGENCY)
    assert handoff_reason(human) is PacketReason.ASKED_FOR_HUMAN
    assert handoff_reason(human, emergency) is PacketReason.EMERGENCY
    assert handoff_reason(TriageDecision(Action.HANDOFF, None, None, False, 0.2)) is PacketReason.ASKED_FOR_HUMAN


def test_conversation_decision_round_trips_through_event_data():
    data = {"action": "handoff", "topic": "social_vold", "queue": "social_saerlige_behov", "confidence": 0.8,
            "reason": "sensitive", "article": None}  # fmt: skip
    d = decision_from_event(data)
    assert d.sensitive and d.reason is HandoffReason.SENSITIVE and d.action is Action.HANDOFF
    assert decision_from_event(None) is None


def _replied(n: int, action: str, topic: str, reason: str | None) -> EventView:
    data = {"decision": {"action": action, "topic": topic, "queue": topic, "confidence": 0.8, "reason": reason}}
    return EventView(id=n, tenant_id="t", kind=EventKind.BOT_REPLIED, at=datetime(2026, 1, 5, 9, n, tzinfo=UTC),
                     contact_id="c", agent_id=None, data=data)  # fmt: skip


def test_conversation_flagged_decision_prefers_the_first_emergency_over_an_earlier_sensitive_one():
    events = [
        _replied(1, "answer", "affald_toemning", None),
        _replied(2, "handoff", "social_vold", "sensitive"),
        _replied(3, "emergency", "dialog_noedsituation", "emergency"),
        _replied(4, "emergency", "dialog_noedsituation", "emergency"),
    ]
    flagged = flagged_decision(events)
    assert flagged is not None and flagged.action is Action.EMERGENCY
    only_sensitive = flagged_decision(events[:2])
    assert only_sensitive is not None and only_sensitive.topic == "social_vold"
    assert flagged_decision(events[:1]) is None


def _transactions(engine):
    """Counts the transactions the engine's database begins (reads and writes), from now on."""
    from sqlalchemy import event

    seen: list[bool] = []

    def begin(conn) -> None:  # type: ignore[no-untyped-def]
        seen.append(bool(conn.get_execution_options().get("kontakt_sqlite_immediate")))

    event.listen(engine.db.engine, "begin", begin)
    return seen


def test_conversation_turn_is_one_write_transaction(engine, say):
    say(QUESTION)  # the contact exists; this turn measures a follow-up message
    seen = _transactions(engine)
    turn = say("Tal med en medarbejder")
    assert turn.handed_off and turn.queue is not None
    # a read for the decision, then the message, replies, handoff and queue together
    assert seen[0] is False and seen.count(True) == 1
    texts = [m.text for m in engine.transcript(TENANT, turn.contact.id)]
    assert texts[-len(turn.replies) - 1] == "Tal med en medarbejder"
    assert turn.log is not None and [m.id for m in turn.log.messages][-1] == turn.replies[-1].id


def test_conversation_new_contact_stores_the_message_first(engine, say):
    seen = _transactions(engine)
    turn = say(QUESTION, ref="web-new")
    assert turn.bot_answered
    assert seen.count(True) == 2  # nothing to read yet: the message first, then the reply


class _TakenWhileDeciding:
    """The real understanding; an agent takes the contact while it decides."""

    def __init__(self, understanding, engine, contact_id: str) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._engine, self._contact_id = understanding, engine, contact_id
        self.contract = understanding.contract

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    def parse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed = self._inner.parse(*args, **kwargs)
        if self._engine.contact(TENANT, self._contact_id).state is ContactState.BOT:
            self._engine.request_handoff(TENANT, self._contact_id, None, "asked_for_human")
            _take_over(self._engine, self._contact_id)
        return parsed


def test_conversation_contact_taken_while_the_bot_decides_keeps_the_message_and_the_bot_silent(
    engine, understanding, tenant, say
):
    first = say(QUESTION, ref="web-7")
    taken = _TakenWhileDeciding(understanding, engine, first.contact.id)
    turn = handle_citizen_message(engine, taken, TENANT, Channel.CHAT, "web-7", "Hvad koster det?", "c7",
                                  tenant=tenant)  # fmt: skip
    assert not turn.bot_answered and turn.replies == ()
    assert turn.contact.state is ContactState.AGENT_ACTIVE or turn.contact.state is ContactState.ASSIGNED
    transcript = engine.transcript(TENANT, first.contact.id)
    assert [m.text for m in transcript].count("Hvad koster det?") == 1
    assert transcript[-1].text == "Hvad koster det?"  # no bot reply after it


class _FailingUnderstanding:
    """The real topic contract with a model that fails on every message."""

    def __init__(self, understanding) -> None:  # type: ignore[no-untyped-def]
        self.contract = understanding.contract

    def parse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the model failed")


def test_conversation_message_is_kept_when_the_bot_fails(engine, understanding, tenant):
    failing = _FailingUnderstanding(understanding)
    with pytest.raises(RuntimeError):
        handle_citizen_message(engine, failing, TENANT, Channel.CHAT, "web-9", QUESTION, "c9", tenant=tenant)
    contact = engine.open_contact(TENANT, Channel.CHAT, "web-9")
    (stored,) = engine.transcript(TENANT, contact.id)
    assert stored.text == QUESTION and stored.client_message_id == "c9"
    assert contact.state is ContactState.BOT  # the next message is answered as usual


def test_conversation_follow_up_is_kept_when_the_bot_fails(engine, understanding, tenant, say):
    first = say(QUESTION, ref="web-10")
    failing = _FailingUnderstanding(understanding)
    with pytest.raises(RuntimeError):
        handle_citizen_message(engine, failing, TENANT, Channel.CHAT, "web-10", "Og storskrald?", "c10", tenant=tenant)
    transcript = engine.transcript(TENANT, first.contact.id)
    assert transcript[-1].text == "Og storskrald?" and transcript[-1].client_message_id == "c10"
    assert engine.contact(TENANT, first.contact.id).state is ContactState.BOT


class _RetriedWhileDeciding:
    """The real understanding; the same message (same client_message_id) arrives again and is
    stored while it decides, as a retry racing the first request does."""

    def __init__(self, understanding, engine, ref: str, text: str, cmid: str, tenant) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._engine, self._args, self._tenant = understanding, engine, (ref, text, cmid), tenant
        self.contract = understanding.contract
        self.retried = None

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    def parse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.retried is None:
            ref, text, cmid = self._args
            self.retried = handle_citizen_message(self._engine, self._inner, TENANT, Channel.CHAT, ref, text, cmid,
                                                  tenant=self._tenant)  # fmt: skip
        return self._inner.parse(*args, **kwargs)


def test_conversation_retry_stored_while_the_bot_decides_is_answered_once(engine, understanding, tenant, say):
    first = say(QUESTION, ref="web-11")
    racing = _RetriedWhileDeciding(understanding, engine, "web-11", "Og storskrald?", "c11", tenant)
    turn = handle_citizen_message(engine, racing, TENANT, Channel.CHAT, "web-11", "Og storskrald?", "c11",
                                  tenant=tenant)  # fmt: skip
    assert racing.retried is not None and racing.retried.bot_answered
    assert turn.duplicate and turn.inbound.id == racing.retried.inbound.id
    assert [r.id for r in turn.replies] == [r.id for r in racing.retried.replies]
    texts = [m.text for m in engine.transcript(TENANT, first.contact.id)]
    assert texts.count("Og storskrald?") == 1
