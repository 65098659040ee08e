"""The engine routes each municipality by its own configuration (knowledge/tenants.yaml,
`ConversationEngine.set_up_tenant`): the queues it runs, the fallback for the others, its offer
timeout, after-contact work, overflow and e-mail promise; a tenant without configuration keeps
the engine's defaults. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.engine import ConversationEngine
from bot.storage import repository as repo
from bot.storage.models import Channel, QueueRow
from bot.tenants import Tenants
from bot.types import Action, TriageDecision
from tests.bot.conftest import FakeClock

pytestmark = pytest.mark.integration

TENANTS = Tenants.model_validate({
    "default_tenant": "big",
    "tenants": [
        {"id": "big", "name": "Stor Kommune"},
        {"id": "small", "name": "Lille Kommune",
         "queues": {"run": ["borgerservice_basis", "omstilling"], "fallback": "borgerservice_basis",
                    "overrides": {"borgerservice_basis": {"name": "Borgerservice Lille"}}},
         "routing": {"offer_timeout_seconds": 45, "after_contact_work_seconds": 90, "overflow_after_seconds": 20},
         "email_promise": {"hours": 4, "by_queue": {"omstilling": 1}}},
    ],
})  # fmt: skip


@pytest.fixture
def engine(make_engine: Callable[..., ConversationEngine]) -> ConversationEngine:
    eng = make_engine(offer_timeout=timedelta(seconds=30))
    for t in TENANTS.tenants:
        eng.set_up_tenant(t)
    return eng


def _handoff(engine: ConversationEngine, tenant: str, queue: str, ref: str, channel: Channel = Channel.CHAT) -> str:
    c = engine.open_contact(tenant, channel, ref)
    decision = TriageDecision(action=Action.HANDOFF, topic=None, queue=queue, sensitive=False, confidence=0.9)
    engine.request_handoff(tenant, c.id, decision, None)
    return c.id


def test_tenant_policy_only_the_queues_run_exist_with_their_own_names(engine: ConversationEngine) -> None:
    with engine.db.read() as s:
        small = repo.queues(s, tenant_id="small")
        big = repo.queues(s, tenant_id="big")
    assert set(small) == {"borgerservice_basis", "omstilling"}
    assert small["borgerservice_basis"].name == "Borgerservice Lille"
    assert len(big) == len(engine.contract.queues) and "byg_cby" in big
    assert isinstance(big["byg_cby"], QueueRow)


def test_tenant_policy_a_topic_of_a_queue_not_run_goes_to_the_fallback(engine: ConversationEngine) -> None:
    small = _handoff(engine, "small", "byg_cby", "s-1")
    big = _handoff(engine, "big", "byg_cby", "b-1")
    assert engine.contact("small", small).queue_id == "borgerservice_basis"
    assert engine.contact("big", big).queue_id == "byg_cby"
    assert engine.tenant_routing["small"].queue_for("krise") == "krise"  # a crisis queue is not the contract's


def test_tenant_policy_the_e_mail_promise_is_the_tenants_and_the_queues(engine: ConversationEngine,
                                                                      clock: FakeClock) -> None:  # fmt: skip
    # Monday 10:00 in Copenhagen, default hours 08–18.
    small = engine.contact("small", _handoff(engine, "small", "borgerservice_basis", "s-2", Channel.EMAIL))
    own_queue = engine.contact("small", _handoff(engine, "small", "omstilling", "s-3", Channel.EMAIL))
    big = engine.contact("big", _handoff(engine, "big", "borgerservice_basis", "b-2", Channel.EMAIL))
    assert small.sla_due_at is not None and own_queue.sla_due_at is not None and big.sla_due_at is not None
    assert small.sla_due_at - clock.now == timedelta(hours=4)
    assert own_queue.sla_due_at - clock.now == timedelta(hours=1)
    assert big.sla_due_at - clock.now == timedelta(hours=2)


def test_tenant_policy_offer_timeout_and_after_contact_work_are_the_tenants(engine: ConversationEngine,
                                                                          clock: FakeClock) -> None:  # fmt: skip
    for tenant in ("small", "big"):
        engine.add_agent(tenant, f"{tenant}-agent", "Agent", skills={"borgerservice_basis": 5})
        engine.set_agent_state(tenant, f"{tenant}-agent", "available")
        _handoff(engine, tenant, "borgerservice_basis", f"{tenant}-timeout")
    (small,) = engine.route("small")
    (big,) = engine.route("big")
    assert small.expires_at - small.offered_at == timedelta(seconds=45)
    assert big.expires_at - big.offered_at == timedelta(seconds=30)
    assert engine._policy("small").acw_seconds == 90
    assert engine._policy("big") is engine.policy  # nothing in the file: the engine's own, read live
    engine.offer_timeout = timedelta(seconds=5)
    assert engine._offer_timeout("big") == timedelta(seconds=5) and engine._offer_timeout("small") == timedelta(seconds=45)


def test_tenant_policy_overflow_timers_follow_each_tenants_threshold(engine: ConversationEngine,
                                                                   clock: FakeClock) -> None:  # fmt: skip
    _handoff(engine, "small", "borgerservice_basis", "s-ov")
    _handoff(engine, "big", "borgerservice_basis", "b-ov")
    timers = {t.tenant_id: t for t in engine.routing_timers(["small", "big"])}
    assert timers["small"].overflow_at == clock.now + timedelta(seconds=20)
    assert timers["big"].overflow_at == clock.now + timedelta(seconds=120)
