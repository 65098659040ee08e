"""Push routing (bot.engine.dispatch) on SQLite and PostgreSQL: every trigger makes its offer
without anyone pulling, and the timers (offer expiry, end of after-contact work, overflow) fire
on the engine's clock."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import ConversationEngine
from bot.engine.dispatch import Dispatcher, RoutingSignal, RoutingTimers, due_tenants, next_overflow, wake_at
from bot.routing.skills import AgentState, Channel, RoutingPolicy
from bot.storage.models import ContactState, EventKind, OfferStatus, Outcome
from tests.bot.conftest import TENANT, FakeClock
from tests.bot.test_engine import queued_chat, staff

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def offered_to(engine: ConversationEngine, contact_id: str) -> str | None:
    found = [o.agent_id for o in engine.offers(TENANT) if o.contact_id == contact_id]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture
def dispatcher(engine: ConversationEngine) -> Dispatcher:
    d = Dispatcher(engine, [TENANT], safety_seconds=3600)  # the timers alone, no safety pass
    d.step()  # the set-up's own marks are spent: each test starts quiet
    return d


# --- pure parts -------------------------------------------------------------------------------------


def test_wake_at_takes_the_earliest_clock_and_ignores_overflow_when_nobody_waits():
    expiry, acw, overflow = T0 + timedelta(seconds=30), T0 + timedelta(seconds=10), T0 + timedelta(seconds=5)
    assert wake_at(RoutingTimers(TENANT, waiting=1, offer_expiries=(expiry,), acw_ends=(acw,),
                                 overflow_at=overflow)) == overflow  # fmt: skip
    assert wake_at(RoutingTimers(TENANT, waiting=0, offer_expiries=(expiry,), acw_ends=(acw,),
                                 overflow_at=overflow)) == acw  # fmt: skip
    assert wake_at(RoutingTimers(TENANT)) is None


def test_next_overflow_is_the_first_threshold_still_ahead():
    limits = {"esb": timedelta(seconds=120), "basis": None}
    queued = {"esb": [T0 - timedelta(seconds=200), T0 - timedelta(seconds=100), T0], "basis": [T0]}
    assert next_overflow(queued, limits.get, T0) == T0 + timedelta(seconds=20)
    assert next_overflow({"basis": [T0]}, limits.get, T0) is None


def test_due_tenants_are_the_marked_and_the_overdue():
    scheduled = {"a": T0, "b": T0 + timedelta(seconds=1)}
    assert due_tenants(scheduled, ["c"], T0) == {"a", "c"}


def test_signal_marks_a_tenant_only_when_the_transaction_commits(engine: ConversationEngine):
    signal = RoutingSignal()
    woken: list[int] = []
    stop = signal.listen(lambda: woken.append(1))
    with pytest.raises(RuntimeError), engine.db.write() as s:
        signal.after_commit(s, "rolled-back")
        raise RuntimeError("the change failed")
    with engine.db.write() as s:
        signal.after_commit(s, TENANT)
        assert signal.take() == set()  # not before the commit
    assert signal.take() == {TENANT} and woken == [1]
    stop()
    signal.notify(TENANT)
    assert woken == [1]


# --- triggers ---------------------------------------------------------------------------------------


def test_arrival_is_offered_to_the_best_free_agent_without_anyone_pulling(engine, dispatcher):
    staff(engine, ("bo", {"borgerservice_basis": 3}), ("anne", {"borgerservice_basis": 7}))
    dispatcher.step()
    contact = queued_chat(engine, "arrives")
    assert engine.routing_signal.take() == {TENANT}  # the handoff marked the tenant on commit
    engine.routing_signal.notify(TENANT)
    dispatcher.step()
    assert offered_to(engine, contact) == "anne"
    assert engine.contact(TENANT, contact).state is ContactState.OFFERED


def test_an_agent_becoming_available_gets_the_waiting_contact(engine, dispatcher):
    engine.add_agent(TENANT, "anne", "Anne", skills={"borgerservice_basis": 5})
    contact = queued_chat(engine, "waits")
    dispatcher.step()
    assert offered_to(engine, contact) is None  # nobody is logged in
    engine.set_agent_state(TENANT, "anne", AgentState.AVAILABLE)
    dispatcher.step()
    assert offered_to(engine, contact) == "anne"


def test_an_expired_offer_goes_to_the_next_agent_when_its_timer_runs_out(engine, dispatcher, clock: FakeClock):
    staff(engine, ("anne", {"borgerservice_basis": 7}), ("bo", {"borgerservice_basis": 3}))
    contact = queued_chat(engine, "expires")
    next_run = dispatcher.step()
    assert offered_to(engine, contact) == "anne"
    assert next_run == clock.now + engine.offer_timeout  # the dispatcher knows when the offer runs out
    clock.advance(engine.offer_timeout.total_seconds() - 1)
    dispatcher.step()
    assert offered_to(engine, contact) == "anne"  # not yet
    clock.advance(1)
    dispatcher.step()  # no mark: the timer alone
    assert offered_to(engine, contact) == "bo"
    assert engine.agent_state(TENANT, "anne").state is AgentState.PAUSED
    kinds = [e.kind for e in engine.events(TENANT, contact)]
    assert kinds.count(EventKind.OFFER_EXPIRED) == 1 and kinds.count(EventKind.OFFERED) == 2


def test_a_declined_offer_goes_to_the_next_agent(engine, dispatcher):
    staff(engine, ("anne", {"borgerservice_basis": 7}), ("bo", {"borgerservice_basis": 3}))
    contact = queued_chat(engine, "declined")
    dispatcher.step()
    [offer] = engine.offers(TENANT, "anne")
    engine.decline_or_expire_offer(TENANT, offer.id, agent_id="anne")
    dispatcher.step()
    assert offered_to(engine, contact) == "bo"


def test_after_contact_work_ending_frees_the_agent_for_the_waiting_contact(engine, dispatcher, clock):
    staff(engine, ("anne", {"borgerservice_basis": 7}))
    first = queued_chat(engine, "first")
    dispatcher.step()
    [offer] = engine.offers(TENANT, "anne")
    engine.accept_offer(TENANT, offer.id, "anne")
    engine.close(TENANT, "anne", first, Outcome.STRAKSAFKLARET)
    second = queued_chat(engine, "second")
    next_run = dispatcher.step()
    assert offered_to(engine, second) is None  # anne is in after-contact work (30 s)
    assert next_run == clock.now + timedelta(seconds=30)
    clock.advance(30)
    dispatcher.step()
    assert offered_to(engine, second) == "anne"
    reasons = [e.data.get("reason") for e in engine.events(TENANT) if e.kind is EventKind.AGENT_STATE_CHANGED]
    assert "after_contact_work_ended" in reasons


def test_a_waiting_contact_overflows_to_other_agents_at_its_threshold(engine, dispatcher, clock):
    staff(engine, ("anne", {"borgerservice_basis": 7}))
    contact = queued_chat(engine, "overflow", queue="esb")
    next_run = dispatcher.step()
    assert offered_to(engine, contact) is None  # nobody has a skill for esb
    assert next_run is not None and next_run <= clock.now + timedelta(seconds=120)
    clock.advance(120)
    dispatcher.step()
    assert offered_to(engine, contact) == "anne"
    assert engine.offers(TENANT)[0].overflow


def test_transfer_and_abandon_wake_the_router(engine, dispatcher):
    staff(engine, ("anne", {"borgerservice_basis": 7, "esb": 5}), ("bo", {"esb": 5}))
    contact = queued_chat(engine, "transferred", channel=Channel.VOICE)
    dispatcher.step()
    [offer] = engine.offers(TENANT, "anne")
    engine.accept_offer(TENANT, offer.id, "anne")
    engine.transfer(TENANT, "anne", contact, "esb", "Om sygesikring")
    dispatcher.step()
    assert offered_to(engine, contact) == "bo"  # anne is in after-contact work
    other = queued_chat(engine, "abandons", channel=Channel.VOICE)
    dispatcher.step()
    assert offered_to(engine, other) is None  # bo has the call offered, anne in ACW
    engine.mark_abandoned(TENANT, contact)
    dispatcher.step()
    assert offered_to(engine, other) is None  # bo is free again, but has no skill for basis
    assert engine.agent_state(TENANT, "bo").state is AgentState.AVAILABLE


def test_the_loop_offers_a_new_contact_awaited_with_a_deadline(engine: ConversationEngine):
    staff(engine, ("anne", {"borgerservice_basis": 7}))

    async def scenario() -> str | None:
        stop = asyncio.Event()
        loop = asyncio.create_task(Dispatcher(engine, [TENANT], safety_seconds=60).run(stop))
        try:
            holder: list[str] = []
            worker = threading.Thread(target=lambda: holder.append(queued_chat(engine, "loop")))
            worker.start()
            await asyncio.to_thread(worker.join)
            deadline = asyncio.get_running_loop().time() + 10
            while offered_to(engine, holder[0]) is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            return offered_to(engine, holder[0])
        finally:
            stop.set()
            await loop

    assert asyncio.run(scenario()) == "anne"
    assert [o.status for o in engine.offers(TENANT)] == [OfferStatus.PENDING]


def test_closing_without_after_contact_work_gives_the_agent_the_next_call_at_once(make_engine, clock):
    engine = make_engine(policy=RoutingPolicy(acw_seconds=0))
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    staff(engine, ("anne", {"borgerservice_basis": 7}))
    dispatcher = Dispatcher(engine, [TENANT], safety_seconds=3600)
    first = queued_chat(engine, "first", channel=Channel.VOICE)
    clock.advance(1)
    second = queued_chat(engine, "second", channel=Channel.VOICE)
    dispatcher.step()
    assert (offered_to(engine, first), offered_to(engine, second)) == ("anne", None)  # one call at a time
    [offer] = engine.offers(TENANT, "anne")
    engine.accept_offer(TENANT, offer.id, "anne")
    engine.close(TENANT, "anne", first, Outcome.STRAKSAFKLARET)
    assert engine.routing_signal.take() == {TENANT}  # the close marked the tenant
    engine.routing_signal.notify(TENANT)
    dispatcher.step()
    assert offered_to(engine, second) == "anne"
