"""Tests for bot.engine: the state machine (pure) and ConversationEngine on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import TRANSITIONS, ContactEvent, ConversationEngine, TaskTexts, transition
from bot.errors import (
    AgentExists,
    IllegalTransition,
    InvalidSkillLevel,
    InvalidTaskInput,
    KontaktError,
    NotAssignedAgent,
    StaleOffer,
    UnknownAgent,
    UnknownContact,
    UnknownOutcome,
    UnknownQueue,
    UnknownTenant,
)
from bot.routing.handoff import Author, PacketReason
from bot.routing.skills import AgentState, Channel
from bot.storage.models import ContactState, EventKind, Outcome, TaskKind, TaskStatus
from bot.types import Action, ArticleRef, Entity, HandoffReason, IntentScore, NLUResult, TriageDecision
from tests.bot.conftest import TENANT, FakeClock

S, E = ContactState, ContactEvent

ARTICLE = ArticleRef(
    id="affald_storskrald",
    title="Storskrald",
    source="kk.dk: Storskrald",
    source_url="https://www.kk.dk/storskrald",
    reviewed="2026-01-15",
    historical=False,
)


def answer(topic: str = "affald_storskrald") -> TriageDecision:
    return TriageDecision(
        action=Action.ANSWER, topic=topic, queue=None, sensitive=False, confidence=0.91, article=ARTICLE
    )


def handoff_decision(queue: str = "borgerservice_basis") -> TriageDecision:
    return TriageDecision(
        action=Action.HANDOFF, topic="dialog_menneske", queue=queue, sensitive=False, confidence=0.95,
        reason=HandoffReason.ASKED_FOR_HUMAN,
    )  # fmt: skip


def staff(engine: ConversationEngine, *agents: tuple[str, dict[str, int]]) -> None:
    for agent_id, levels in agents:
        engine.add_agent(TENANT, agent_id, agent_id.title(), skills=levels)
        engine.set_agent_state(TENANT, agent_id, AgentState.AVAILABLE)


def queued_chat(
    engine: ConversationEngine, ref: str, queue: str = "borgerservice_basis", channel: Channel = Channel.CHAT
) -> str:
    c = engine.open_contact(TENANT, channel, ref)
    engine.record_inbound(TENANT, c.id, "Jeg vil gerne tale med et menneske")
    engine.request_handoff(TENANT, c.id, handoff_decision(queue), HandoffReason.ASKED_FOR_HUMAN)
    return c.id


# --- pure transition table ----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        (S.BOT, E.REQUEST_HANDOFF, S.HANDOFF_REQUESTED),
        (S.HANDOFF_REQUESTED, E.ENQUEUE, S.QUEUED),
        (S.QUEUED, E.OFFER, S.OFFERED),
        (S.OFFERED, E.ACCEPT, S.ASSIGNED),
        (S.OFFERED, E.UNANSWERED, S.QUEUED),
        (S.ASSIGNED, E.AGENT_REPLY, S.AGENT_ACTIVE),
        (S.AGENT_ACTIVE, E.CLOSE, S.CLOSED),
        (S.AGENT_ACTIVE, E.TRANSFER, S.QUEUED),
        (S.QUEUED, E.REQUEST_CALLBACK, S.CALLBACK_REQUESTED),
        (S.BOT, E.LEAVE_MESSAGE, S.MESSAGE_LEFT),
        (S.BOT, E.ABANDON, S.ABANDONED),
        (S.QUEUED, E.ABANDON, S.ABANDONED),
        (S.OFFERED, E.ABANDON, S.ABANDONED),
        (S.MESSAGE_LEFT, E.COMPLETE_TASK, S.CLOSED),
    ],
)
def test_transition_allowed(state: ContactState, event: ContactEvent, expected: ContactState) -> None:
    assert transition(state, event) is expected


@pytest.mark.unit
@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.BOT, E.CLOSE),
        (S.QUEUED, E.BOT_REPLY),
        (S.HANDOFF_REQUESTED, E.BOT_REPLY),
        (S.ASSIGNED, E.ABANDON),
        (S.CLOSED, E.CITIZEN_MESSAGE),
        (S.ABANDONED, E.REQUEST_HANDOFF),
        (S.AGENT_ACTIVE, E.OFFER),
    ],
)
def test_transition_illegal_names_contact_state_and_event(state: ContactState, event: ContactEvent) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, event, contact_id="c-1")
    message = str(info.value)
    assert "'c-1'" in message and state.value in message and event.value in message
    assert isinstance(info.value, KontaktError)


@pytest.mark.unit
def test_transition_table_terminal_states_have_no_exit() -> None:
    assert not [k for k in TRANSITIONS if k[0] in (S.CLOSED, S.ABANDONED)]
    assert {s for s, _ in TRANSITIONS} | {S.CLOSED, S.ABANDONED} == set(ContactState)


@pytest.mark.unit
def test_transition_is_total_over_states_and_events() -> None:
    for state in ContactState:
        for event in ContactEvent:
            if (state, event) in TRANSITIONS:
                assert transition(state, event) is TRANSITIONS[(state, event)]
            else:
                with pytest.raises(IllegalTransition):
                    transition(state, event)
    with pytest.raises(IllegalTransition):
        transition("nonsense", E.CLOSE)  # type: ignore[arg-type]


@pytest.mark.unit
def test_only_bot_state_allows_bot_reply() -> None:
    allowed = {s for (s, e) in TRANSITIONS if e is E.BOT_REPLY}
    assert allowed == {S.BOT}


# --- the end-to-end scenario ----------------------------------------------------------------------


@pytest.mark.integration
def test_chat_handoff_scenario(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}), ("bo", {"borgerservice_basis": 8}),
          ("carl", {"esb": 9}))  # fmt: skip
    clock.advance(5)
    c = engine.open_contact(TENANT, "chat", "sess-1", name="Mette Hansen", phone="+4512345678",
                            email="mette@example.dk")  # fmt: skip
    assert engine.bot_may_answer(TENANT, c.id)
    engine.record_inbound(TENANT, c.id, "Hvornår henter I storskrald?", client_message_id="m1")
    engine.record_bot_reply(TENANT, c.id, "Storskrald hentes hver anden uge.", answer())
    clock.advance(10)
    engine.record_inbound(
        TENANT, c.id, "Tak. Min sofa blev ikke hentet i går på Amagerbrogade 10. Jeg vil tale med et menneske.",
        client_message_id="m2",
    )
    packet = engine.request_handoff(TENANT, c.id, handoff_decision(), HandoffReason.ASKED_FOR_HUMAN)
    assert packet.summary == "Min sofa blev ikke hentet i går på Amagerbrogade 10."
    assert packet.queue.id == "borgerservice_basis" and packet.reason is PacketReason.ASKED_FOR_HUMAN
    assert packet.topic is not None and packet.topic.id == "affald_storskrald"
    assert [t.author for t in packet.transcript] == [Author.CITIZEN, Author.BOT, Author.CITIZEN]
    assert packet.bot_actions[0].article is not None and packet.bot_actions[0].article.id == ARTICLE.id
    assert packet.identity.phone == "+4512345678" and packet.deadline is None  # chat has no e-mail SLA
    assert (packet.tenant, packet.channel, packet.contact_id, packet.schema_version) == (
        TENANT, Channel.CHAT, c.id, "1.0",
    )  # fmt: skip
    assert packet.queue.name == "Basis – generel borgerservice" and packet.topic.title
    assert packet.identity.name == "Mette Hansen" and packet.identity.email == "mette@example.dk"
    assert packet.identity.authenticated is False
    assert packet.entities == () and packet.history == () and packet.note is None
    assert packet.created_at == clock.now and packet.transcript[-1].at == clock.now
    assert packet.bot_actions[0].action is Action.ANSWER and packet.bot_actions[0].topic == "affald_storskrald"
    assert engine.handoff_packets(TENANT, c.id) == [packet]  # stored, every field survives the round trip
    assert not engine.bot_may_answer(TENANT, c.id)

    offers = engine.route(TENANT)
    assert [(o.contact_id, o.agent_id, o.skill) for o in offers] == [(c.id, "bo", 8)]  # highest skill
    assert engine.contact(TENANT, c.id).state is S.OFFERED
    clock.advance(3)
    assert engine.accept_offer(TENANT, offers[0].id, "bo").state is S.ASSIGNED

    reply = engine.agent_reply(TENANT, "bo", c.id, "Hej Mette, jeg bestiller en ny afhentning.")
    visible = engine.messages_since(TENANT, c.id, 0)
    assert visible[-1].id == reply.id and visible[-1].author is Author.AGENT
    assert engine.messages_since(TENANT, c.id, reply.id) == []

    engine.record_inbound(TENANT, c.id, "Tusind tak!", client_message_id="m3")
    assert not engine.bot_may_answer(TENANT, c.id)
    with pytest.raises(IllegalTransition):
        engine.record_bot_reply(TENANT, c.id, "Bot must not answer now")

    clock.advance(60)
    closed = engine.close(TENANT, "bo", c.id, "straksafklaret")
    assert closed.state is S.CLOSED and closed.outcome is Outcome.STRAKSAFKLARET
    bo = engine.agent_state(TENANT, "bo")
    assert bo.state is AgentState.AFTER_CONTACT_WORK and bo.acw_until == clock.now + timedelta(seconds=30)

    kinds = [e.kind for e in engine.events(TENANT, c.id)]
    assert kinds == [
        EventKind.CONTACT_OPENED, EventKind.MESSAGE_RECEIVED, EventKind.BOT_REPLIED, EventKind.MESSAGE_RECEIVED,
        EventKind.HANDOFF_REQUESTED, EventKind.QUEUED, EventKind.OFFERED, EventKind.OFFER_ACCEPTED,
        EventKind.AGENT_REPLIED, EventKind.MESSAGE_RECEIVED, EventKind.CLOSED,
    ]  # fmt: skip
    ids = [e.id for e in engine.events(TENANT)]
    assert ids == sorted(ids)


# --- opening contacts and messages ----------------------------------------------------------------


@pytest.mark.integration
def test_open_contact_is_idempotent_and_fills_identity(engine: ConversationEngine) -> None:
    a = engine.open_contact(TENANT, Channel.EMAIL, "<thread-1@example.dk>")
    b = engine.open_contact(TENANT, Channel.EMAIL, "<thread-1@example.dk>", email="x@example.dk",
                            authenticated=True)  # fmt: skip
    assert a.id == b.id and b.citizen_email == "x@example.dk" and b.authenticated
    other = engine.open_contact(TENANT, Channel.CHAT, "<thread-1@example.dk>")
    assert other.id != a.id  # unique per (tenant, channel, external_ref)
    assert [e.kind for e in engine.events(TENANT, a.id)] == [EventKind.CONTACT_OPENED]


@pytest.mark.integration
def test_duplicate_client_message_id_is_idempotent(engine: ConversationEngine) -> None:
    c = engine.open_contact(TENANT, Channel.CHAT, "dup")
    first = engine.record_inbound(TENANT, c.id, "Mit CPR er 010190-1234", client_message_id="abc")
    again = engine.record_inbound(TENANT, c.id, "Mit CPR er 010190-1234", client_message_id="abc")
    assert first == again
    assert first.text_redacted == "Mit CPR er [CPR]" and first.text == "Mit CPR er 010190-1234"
    assert len(engine.transcript(TENANT, c.id)) == 1
    assert sum(e.kind is EventKind.MESSAGE_RECEIVED for e in engine.events(TENANT, c.id)) == 1


@pytest.mark.integration
def test_email_handoff_sets_sla_two_business_hours(engine: ConversationEngine, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 17:00 in Copenhagen, one hour before closing
    c = engine.open_contact(TENANT, Channel.EMAIL, "<t@x>")
    engine.record_inbound(TENANT, c.id, "Jeg har ikke fået svar på min ansøgning om boligstøtte.")
    packet = engine.request_handoff(TENANT, c.id, None, HandoffReason.CASEWORK)
    due = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 1 h Monday + 1 h from 08:00 Tuesday = 09:00 CET
    assert engine.contact(TENANT, c.id).sla_due_at == due and packet.deadline == due
    assert packet.queue.id == "borgerservice_basis"  # no decision, no topic: the default queue


@pytest.mark.integration
def test_packet_history_lists_earlier_contacts_of_the_citizen(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}))
    old = engine.open_contact(TENANT, Channel.VOICE, "CA-old", phone="+4512345678")
    engine.record_bot_reply(TENANT, old.id, "Hej", answer())
    engine.request_handoff(TENANT, old.id, None, HandoffReason.ASKED_FOR_HUMAN)
    [offer] = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anna")
    engine.close(TENANT, "anna", old.id, Outcome.VEJLEDT_I_SELVBETJENING)
    engine.open_contact(TENANT, Channel.CHAT, "other-citizen", phone="+4599999999")
    clock.advance(3600)
    new = engine.open_contact(TENANT, Channel.EMAIL, "<new@x>", phone="+4512345678")
    engine.record_inbound(TENANT, new.id, "Jeg ringede i går om storskrald.")
    packet = engine.request_handoff(TENANT, new.id, None, HandoffReason.CASEWORK)
    assert [(h.contact_id, h.channel, h.topic, h.outcome) for h in packet.history] == [
        (old.id, Channel.VOICE, "affald_storskrald", "vejledt_i_selvbetjening")
    ]
    assert packet.history[0].date == clock.now - timedelta(seconds=3600)


@pytest.mark.integration
def test_queue_schedule_from_tenant_config_drives_sla(make_engine, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    short = {d: ["09:00-15:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    engine.ensure_tenant(TENANT, "Kbh", schedules={"borgerservice_basis": short})
    clock.now = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 14:00 local, one hour before closing
    c = engine.open_contact(TENANT, Channel.EMAIL, "<s@x>")
    packet = engine.request_handoff(TENANT, c.id, None, HandoffReason.CASEWORK)
    assert packet.deadline == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # 1 h Monday + 1 h from 09:00 Tuesday


# --- routing --------------------------------------------------------------------------------------


@pytest.mark.integration
def test_unanswered_offer_returns_to_front_and_pauses_agent(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}), ("bo", {"borgerservice_basis": 3}))
    first = queued_chat(engine, "a", channel=Channel.VOICE)  # one call per agent
    clock.advance(10)
    second = queued_chat(engine, "b", channel=Channel.VOICE)
    offers = {o.contact_id: o for o in engine.route(TENANT)}
    assert offers[first].agent_id == "anna" and offers[second].agent_id == "bo"
    clock.advance(31)  # past the 30 s offer timeout
    with pytest.raises(StaleOffer):
        engine.accept_offer(TENANT, offers[first].id, "anna")
    c = engine.contact(TENANT, first)
    assert c.state is S.QUEUED and c.offer_attempts == 1 and c.assigned_agent_id is None
    assert engine.agent_state(TENANT, "anna").state is AgentState.PAUSED
    with pytest.raises(StaleOffer):
        engine.accept_offer(TENANT, offers[first].id, "anna")  # already expired
    engine.decline_or_expire_offer(TENANT, offers[second].id, agent_id="bo")
    engine.set_agent_state(TENANT, "bo", AgentState.AVAILABLE)
    again = engine.route(TENANT)
    assert [(o.contact_id, o.agent_id) for o in again] == [(first, "bo")]  # returned-first, oldest


@pytest.mark.integration
def test_agent_capacity_and_acw(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}))
    ids = []
    for i in range(5):
        ids.append(queued_chat(engine, f"c{i}"))
        clock.advance(1)
    offers = engine.route(TENANT)
    assert len(offers) == 3  # chat concurrency 3
    assert engine.route(TENANT) == []
    for o in offers:
        engine.accept_offer(TENANT, o.id, "anna")
    engine.close(TENANT, "anna", offers[0].contact_id, Outcome.HENVIST_TIL_SELVBETJENING)
    assert engine.route(TENANT) == []  # after-contact work
    clock.advance(31)
    more = engine.route(TENANT)
    assert len(more) == 1 and more[0].contact_id == ids[3]


@pytest.mark.integration
def test_transfer_requeues_with_new_packet_version(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}), ("erik", {"esb": 7}))
    cid = queued_chat(engine, "t")
    [offer] = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anna")
    packet = engine.transfer(TENANT, "anna", cid, "esb", "Borgeren kan ikke logge på MitID")
    assert packet.reason is PacketReason.TRANSFER and packet.note == "Borgeren kan ikke logge på MitID"
    assert packet.queue.id == "esb"
    assert [p.reason for p in engine.handoff_packets(TENANT, cid)] == [PacketReason.ASKED_FOR_HUMAN,
                                                                      PacketReason.TRANSFER]  # fmt: skip
    [offer2] = engine.route(TENANT)
    assert offer2.agent_id == "erik" and offer2.queue_id == "esb"
    with pytest.raises(UnknownQueue):
        engine.transfer(TENANT, "erik", cid, "no_such_queue", "x")


@pytest.mark.integration
def test_abandon_while_offered_withdraws_offer(engine: ConversationEngine) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}))
    cid = queued_chat(engine, "x")
    [offer] = engine.route(TENANT)
    assert engine.mark_abandoned(TENANT, cid).state is S.ABANDONED
    with pytest.raises(StaleOffer):
        engine.accept_offer(TENANT, offer.id, "anna")
    assert engine.offers(TENANT) == []
    assert engine.agent_state(TENANT, "anna").state is AgentState.AVAILABLE
    kinds = [e.kind for e in engine.events(TENANT, cid)][-2:]
    assert kinds == [EventKind.OFFER_WITHDRAWN, EventKind.ABANDONED]


@pytest.mark.integration
def test_queue_status_position_wait_and_callback(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}))  # logged in; route() is not called here
    ids = []
    for i in range(3):
        ids.append(queued_chat(engine, f"q{i}"))
        clock.advance(1)
    status = engine.queue_status(TENANT, ids[2])
    assert (status.position, status.waiting, status.is_open) == (3, 3, True)
    assert status.expected_wait == timedelta(seconds=900)  # position 3 x 300 s / 1 staffed agent
    assert status.offer_callback is False
    clock.advance(60)
    assert engine.queue_status(TENANT, ids[2]).offer_callback is True  # oldest waited >= 60 s
    engine.set_agent_state(TENANT, "anna", AgentState.OFFLINE)
    nobody = engine.queue_status(TENANT, ids[0])
    assert nobody.position == 1 and nobody.expected_wait is None and nobody.offer_callback


@pytest.mark.integration
def test_callback_when_closed_gives_expectation(engine: ConversationEngine, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 6, 19, 0, tzinfo=UTC)  # Friday 20:00 Copenhagen: closed
    cid = queued_chat(engine, "cb")
    status = engine.queue_status(TENANT, cid)
    assert not status.is_open and status.offer_callback
    assert status.opens_at == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    task = engine.request_callback(TENANT, cid, "12 34 56 78", "Spørgsmål om betaling af daginstitution")
    assert task.kind is TaskKind.CALLBACK and task.status is TaskStatus.OPEN
    assert task.due_at == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # Monday 08:00 + 2 h
    assert task.expectation == (
        "Vi ringer dig op på 12 34 56 78 senest mandag den 9. marts kl. 10.00."
        " Vi har lukket nu og åbner igen mandag den 9. marts kl. 08.00."
    )
    assert engine.contact(TENANT, cid).state is S.CALLBACK_REQUESTED
    engine.add_agent(TENANT, "anna", "Anna")
    engine.complete_task(TENANT, "anna", task.id, Outcome.TILBAGEKALD_AFTALT)
    assert engine.contact(TENANT, cid).state is S.CLOSED and engine.tasks(TENANT) == []


@pytest.mark.integration
def test_leave_message_requires_fields(engine: ConversationEngine) -> None:
    c = engine.open_contact(TENANT, Channel.VOICE, "CA123")
    with pytest.raises(InvalidTaskInput):
        engine.leave_message(TENANT, c.id, "", "note")
    with pytest.raises(InvalidTaskInput):
        engine.leave_message(TENANT, c.id, "12345678", "   ")
    task = engine.leave_message(TENANT, c.id, "12345678", "Ring om min sag", name="Ole")
    assert task.kind is TaskKind.MESSAGE and task.name == "Ole"
    assert task.expectation.startswith("Din besked er givet videre. Du hører fra os på 12345678 senest ")
    assert engine.contact(TENANT, c.id).state is S.MESSAGE_LEFT


@pytest.mark.integration
def test_custom_texts(make_engine, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(texts=TaskTexts(callback="Opkald til {phone} før {deadline}.", callback_hours=1))
    engine.ensure_tenant(TENANT, "Kbh")
    c = engine.open_contact(TENANT, Channel.VOICE, "CA1")
    task = engine.request_callback(TENANT, c.id, "12345678", "x")
    assert task.expectation == "Opkald til 12345678 før mandag den 2. marts kl. 11.00."


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_unknown_ids_raise_typed_errors(engine: ConversationEngine) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}))
    c = engine.open_contact(TENANT, Channel.CHAT, "u")
    with pytest.raises(UnknownTenant, match="'aarhus'"):
        engine.open_contact("aarhus", Channel.CHAT, "u")
    with pytest.raises(UnknownTenant):
        engine.route("aarhus")
    with pytest.raises(UnknownContact, match="'nope'"):
        engine.record_inbound(TENANT, "nope", "hej")
    with pytest.raises(UnknownContact):
        engine.bot_may_answer(TENANT, "nope")
    with pytest.raises(UnknownAgent, match="'ghost'"):
        engine.set_agent_state(TENANT, "ghost", AgentState.AVAILABLE)
    with pytest.raises(UnknownAgent):
        engine.agent_reply(TENANT, "ghost", c.id, "hej")
    with pytest.raises(InvalidSkillLevel):
        engine.set_skill(TENANT, "anna", "esb", 10)
    with pytest.raises(AgentExists):
        engine.add_agent(TENANT, "anna", "Anna igen")
    with pytest.raises(UnknownQueue):
        engine.set_skill(TENANT, "anna", "nope", 3)
    engine.ensure_tenant("aarhus", "Aarhus Kommune")
    with pytest.raises(UnknownContact):  # another tenant's contact is unknown
        engine.record_inbound("aarhus", c.id, "hej")


@pytest.mark.integration
def test_illegal_steps_and_wrong_agent(engine: ConversationEngine) -> None:
    staff(engine, ("anna", {"borgerservice_basis": 5}), ("bo", {}))
    c = engine.open_contact(TENANT, Channel.CHAT, "ill")
    with pytest.raises(IllegalTransition, match=c.id):
        engine.close(TENANT, "anna", c.id, Outcome.STRAKSAFKLARET)
    cid = queued_chat(engine, "ill2")
    [offer] = engine.route(TENANT)
    with pytest.raises(NotAssignedAgent):
        engine.accept_offer(TENANT, offer.id, "bo")
    engine.accept_offer(TENANT, offer.id, "anna")
    with pytest.raises(StaleOffer):
        engine.accept_offer(TENANT, offer.id, "anna")
    with pytest.raises(NotAssignedAgent):
        engine.agent_reply(TENANT, "bo", cid, "hej")
    with pytest.raises(UnknownOutcome):
        engine.close(TENANT, "anna", cid, "solved")
    with pytest.raises(IllegalTransition):
        engine.request_handoff(TENANT, cid, None, HandoffReason.ASKED_FOR_HUMAN)
    assert engine.contact(TENANT, cid).state is S.ASSIGNED  # nothing changed


@pytest.mark.integration
def test_packet_entities_from_nlu_redacted(engine: ConversationEngine) -> None:
    c = engine.open_contact(TENANT, Channel.CHAT, "nlu")
    engine.record_inbound(TENANT, c.id, "Mit cpr er 0101901234")
    nlu = NLUResult(
        text="Mit cpr er 0101901234",
        ranking=(IntentScore("dialog_menneske", 0.9),),
        entities=(Entity("cpr", 11, 21, "0101901234", "0101901234"),),
    )
    packet = engine.request_handoff(TENANT, c.id, None, None, nlu=nlu)
    assert packet.reason is PacketReason.ASKED_FOR_HUMAN
    assert packet.entities[0].value == "[CPR]" and packet.transcript[0].text == "Mit cpr er [CPR]"
    stored = engine.handoff_packets(TENANT, c.id)[0]
    assert "0101901234" not in stored.model_dump_json()


# --- personal data at rest ----------------------------------------------------------------------

CPR, PHONE, EMAIL = "010190-1234", "22 71 93 58", "mette.hansen@example.dk"


def _stored_rows(engine: ConversationEngine) -> dict[str, str]:
    """The raw stored text of every task note, event and handoff packet, as the database has it."""
    from sqlalchemy import select

    from bot.storage.models import Event, Handoff, Task

    with engine.db.read() as s:
        return {
            "tasks.note": "\n".join(s.scalars(select(Task.note))),
            "events.data": "\n".join(repr(d) for d in s.scalars(select(Event.data))),
            "handoffs.packet": "\n".join(repr(p) for p in s.scalars(select(Handoff.packet))),
        }


@pytest.mark.integration
def test_no_personal_data_in_clear_in_notes_events_or_packets(engine: ConversationEngine, clock: FakeClock) -> None:
    from bot.privacy import find_cprs

    staff(engine, ("anna", {"borgerservice_basis": 3}))
    c = engine.open_contact(TENANT, Channel.CHAT, "pii", name="Mette", phone="+4522719358")
    said = f"Mit cpr er {CPR}, ring på {PHONE} eller skriv til {EMAIL}"
    engine.record_inbound(TENANT, c.id, said)
    nlu = NLUResult(text=said, ranking=(IntentScore("dialog_menneske", 0.9),), entities=(
        Entity("cpr", 11, 22, "0101901234", CPR), Entity("telefon", 32, 43, "22719358", PHONE),
        Entity("email", 61, 84, EMAIL, EMAIL),
    ))  # fmt: skip
    engine.request_handoff(TENANT, c.id, handoff_decision(), HandoffReason.ASKED_FOR_HUMAN,
                           summary=f"Borgeren {CPR} vil tale med nogen", nlu=nlu)  # fmt: skip
    engine.route(TENANT)
    offer = engine.offers(TENANT, "anna")[0]
    engine.accept_offer(TENANT, offer.id, "anna")
    engine.transfer(TENANT, "anna", c.id, "sygesikring_folkeregister", f"Cpr {CPR}, mail {EMAIL}, tlf {PHONE}")
    other = engine.open_contact(TENANT, Channel.CHAT, "pii-task")
    engine.leave_message(TENANT, other.id, PHONE, f"Mit cpr er {CPR}; svar på {EMAIL} eller {PHONE}")

    rows = _stored_rows(engine)
    for where, text in rows.items():
        assert not find_cprs(text) and "0101901234" not in text, f"CPR in clear in {where}"
        assert EMAIL not in text, f"e-mail in clear in {where}"
    assert PHONE not in rows["tasks.note"] and PHONE not in rows["events.data"]
    assert "[CPR]" in rows["tasks.note"] and "[CPR]" in rows["handoffs.packet"]
    # Only the identity (the contact's own address, to answer on) keeps a phone number.
    assert "22719358" not in rows["handoffs.packet"].replace("'phone': '+4522719358'", "")
    assert PHONE not in rows["handoffs.packet"]
    # What is not personal data stays as it was: ISO times in events are not taken for phones.
    due = [e.data["due_at"] for e in engine.events(TENANT) if e.kind is EventKind.MESSAGE_LEFT]
    assert due and datetime.fromisoformat(due[0]) > clock.now
    # The raw words stay only in messages.text: the assigned agent of an authenticated citizen.
    assert engine.transcript(TENANT, c.id)[0].text == said


@pytest.mark.integration
def test_task_notes_stored_raw_before_are_redacted_when_read(engine: ConversationEngine) -> None:
    from sqlalchemy import update

    from bot.storage.models import Task

    c = engine.open_contact(TENANT, Channel.CHAT, "old-task")
    task = engine.leave_message(TENANT, c.id, PHONE, "ring mig")
    with engine.db.write() as s:  # as a row written before notes were redacted
        s.execute(update(Task).where(Task.id == task.id).values(note=f"cpr {CPR}"))
    assert [t.note for t in engine.tasks(TENANT)] == ["cpr [CPR]"]
