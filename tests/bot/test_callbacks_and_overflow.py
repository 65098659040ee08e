"""Through the engine (SQLite and PostgreSQL): bookable callback times when the queue is closed,
and overflow that never moves a sensitive contact and counts e-mail against its promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import ConversationEngine
from bot.errors import InvalidCallbackSlot
from bot.routing.calendar import CallbackSlot
from bot.routing.handoff import PacketReason
from bot.routing.skills import AgentState, Channel
from bot.stats.facts import ContactHeader, Ending, EventRow, fold_contact
from bot.storage.models import ContactState, EventKind
from bot.types import Action, HandoffReason, TriageDecision
from tests.bot.conftest import TENANT, FakeClock

SATURDAY_NOON = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)
PHONE = "+45 12 34 56 78"


def handed_off(engine: ConversationEngine, ref: str, topic: str, queue: str, channel: Channel = Channel.CHAT) -> str:
    c = engine.open_contact(TENANT, channel, ref)
    engine.record_inbound(TENANT, c.id, "Jeg har brug for hjælp")
    decision = TriageDecision(action=Action.HANDOFF, topic=topic, queue=queue, sensitive=False, confidence=0.9,
                              reason=HandoffReason.TOPIC_POLICY)  # fmt: skip
    engine.request_handoff(TENANT, c.id, decision, None)
    return c.id


def staff(engine: ConversationEngine, agent_id: str, **levels: int) -> None:
    engine.add_agent(TENANT, agent_id, agent_id.title(), skills=levels)
    engine.set_agent_state(TENANT, agent_id, AgentState.AVAILABLE)


# --- callbacks ------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_closed_queue_offers_slots_and_a_booked_callback_is_due_in_its_slot(engine: ConversationEngine,
                                                                            clock: FakeClock) -> None:  # fmt: skip
    clock.now = SATURDAY_NOON
    cid = handed_off(engine, "weekend", "dialog_menneske", "borgerservice_basis")
    slots = engine.callback_slots(TENANT, cid, count=4)
    assert [s.start.strftime("%a %H:%M") for s in slots] == ["Mon 08:00", "Mon 08:30", "Mon 09:00", "Tue 08:00"]
    task = engine.request_callback(TENANT, cid, PHONE, "Om boligstøtte", slot=slots[1])
    assert (task.preferred_at, task.due_at) == (slots[1].start, slots[1].end)
    assert task.expectation == "Vi ringer dig op på +45 12 34 56 78 mandag den 9. marts mellem kl. 08.30 og 09.00."
    assert engine.contact(TENANT, cid).state is ContactState.CALLBACK_REQUESTED
    rows = [EventRow.of(e) for e in engine.events(TENANT, cid)]
    facts = fold_contact(ContactHeader(TENANT, cid, Channel.CHAT), rows)
    assert facts.ending is Ending.CALLBACK_BOOKED
    (booked,) = [e for e in engine.events(TENANT, cid) if e.kind is EventKind.CALLBACK_REQUESTED]
    assert booked.data["ending"] == "callback_booked" and booked.data["slot_start"] == slots[1].start.isoformat()
    # With one call per slot, the next citizen is not offered the booked time.
    other = handed_off(engine, "weekend-2", "dialog_menneske", "borgerservice_basis")
    again = engine.callback_slots(TENANT, other, count=2, capacity=1)
    assert [s.start.strftime("%a %H:%M") for s in again] == ["Mon 08:00", "Mon 09:00"]


@pytest.mark.integration
@pytest.mark.parametrize(
    "slot",
    [
        CallbackSlot(datetime(2026, 3, 8, 9, 0, tzinfo=UTC), datetime(2026, 3, 8, 9, 30, tzinfo=UTC)),  # Sunday
        CallbackSlot(datetime(2026, 3, 6, 9, 0, tzinfo=UTC), datetime(2026, 3, 6, 9, 30, tzinfo=UTC)),  # passed
        CallbackSlot(datetime(2026, 3, 9, 16, 45, tzinfo=UTC), datetime(2026, 3, 9, 17, 15, tzinfo=UTC)),  # past 18:00
    ],
    ids=["closed_day", "passed", "past_closing"],
)  # fmt: skip
def test_a_slot_outside_opening_hours_is_refused(engine: ConversationEngine, clock: FakeClock,
                                                 slot: CallbackSlot) -> None:  # fmt: skip
    clock.now = SATURDAY_NOON
    cid = handed_off(engine, "bad-slot", "dialog_menneske", "borgerservice_basis")
    with pytest.raises(InvalidCallbackSlot, match="borgerservice_basis"):
        engine.request_callback(TENANT, cid, PHONE, "Om boligstøtte", slot=slot)
    assert engine.contact(TENANT, cid).state is ContactState.QUEUED  # nothing was written


@pytest.mark.integration
def test_callback_slots_from_the_bot_use_the_topics_queue(engine: ConversationEngine, clock: FakeClock) -> None:
    clock.now = SATURDAY_NOON
    c = engine.open_contact(TENANT, Channel.VOICE, "ivr")
    (slot,) = engine.callback_slots(TENANT, c.id, count=1)
    task = engine.request_callback(TENANT, c.id, PHONE, "Ring mig op", slot=slot)
    assert task.queue_id == "borgerservice_basis" and task.due_at == slot.end


# --- overflow --------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_overflow_never_sends_a_sensitive_contact_to_an_agent_without_the_skill(engine: ConversationEngine,
                                                                                clock: FakeClock) -> None:  # fmt: skip
    staff(engine, "gen", borgerservice_basis=5)
    sensitive = handed_off(engine, "vold", "social_vold", "social_saerlige_behov")
    by_topic = handed_off(engine, "selvmord", "social_selvmordstanker", "pension_visitation")  # a sensitive topic
    plain = handed_off(engine, "pension", "pension_folkepension", "pension_visitation")
    clock.advance(30 * 60)  # far past the 120 s overflow threshold
    offers = engine.route(TENANT)
    assert [(o.contact_id, o.overflow) for o in offers] == [(plain, True)]
    staff(engine, "spec", social_saerlige_behov=4)
    offered = {o.contact_id: o.agent_id for o in engine.route(TENANT)}
    assert offered == {sensitive: "spec"}
    assert engine.contact(TENANT, by_topic).state is ContactState.QUEUED  # waits for a skilled agent


@pytest.mark.integration
def test_email_overflows_when_half_its_promise_is_used(engine: ConversationEngine, clock: FakeClock) -> None:
    staff(engine, "gen", borgerservice_basis=5)  # only basis skills; the e-mail is for pension
    cid = handed_off(engine, "<pension@example.org>", "pension_folkepension", "pension_visitation", Channel.EMAIL)
    due = engine.contact(TENANT, cid).sla_due_at
    assert due == clock.now + timedelta(hours=2)
    clock.advance(30 * 60)  # 30 minutes: past 120 s, but only a quarter of the promise
    assert engine.route(TENANT) == []
    clock.advance(30 * 60)  # an hour: half of the 2-hour promise
    (offer,) = engine.route(TENANT)
    assert (offer.contact_id, offer.agent_id, offer.overflow) == (cid, "gen", True)


@pytest.mark.integration
def test_out_of_hours_handoff_keeps_no_ending(engine: ConversationEngine, clock: FakeClock) -> None:
    clock.now = SATURDAY_NOON
    c = engine.open_contact(TENANT, Channel.CHAT, "closed")
    engine.request_handoff(TENANT, c.id, None, PacketReason.OUT_OF_HOURS)
    assert not [e for e in engine.events(TENANT, c.id) if "ending" in e.data]
