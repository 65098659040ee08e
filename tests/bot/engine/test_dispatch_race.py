"""Two workers' dispatchers race on one PostgreSQL database: each has its own Database, engine
and Dispatcher in its own thread, and both pass at the same moments (a barrier) while contacts
arrive, offers expire and agents finish work. Afterwards the offers table and the event log
agree that no offer was made twice, none expired twice, no contact was assigned twice and no
agent went over capacity."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.engine import ConversationEngine
from bot.engine.dispatch import Dispatcher
from bot.routing.skills import AgentState, Channel, RoutingPolicy
from bot.storage import Database
from bot.storage.models import ContactState, EventKind, Offer, OfferStatus, Outcome
from bot.topics import TopicContract
from bot.types import HandoffReason
from tests.bot.conftest import TENANT, FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENTS = 4
ROUNDS = 16
ARRIVALS = 3  # contacts queued per round
WORKERS = 2


def _queue(engine: ConversationEngine, ref: str, channel: Channel) -> str:
    c = engine.open_contact(TENANT, channel, ref)
    engine.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")
    engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
    return c.id


def _in_lockstep(steps: list[Callable[[], object]]) -> None:
    """Run the steps at once, one thread each, released together."""
    barrier = threading.Barrier(len(steps))
    errors: list[BaseException] = []

    def run(step: Callable[[], object]) -> None:
        try:
            barrier.wait()
            step()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # row locks: SKIP LOCKED is PostgreSQL's
def test_two_dispatchers_racing_never_offer_or_assign_a_contact_twice(db: Database, contract: TopicContract):
    url, setup_db = db.url, db
    clock = FakeClock()
    policy = RoutingPolicy(acw_seconds=20, default_overflow_after_seconds=0)
    setup = ConversationEngine(setup_db, contract, clock, policy)
    setup.ensure_tenant(TENANT, "Københavns Kommune")
    for i in range(AGENTS):
        setup.add_agent(TENANT, f"agent{i}", f"Agent {i}", skills={"borgerservice_basis": 1 + i})
        setup.set_agent_state(TENANT, f"agent{i}", AgentState.AVAILABLE)
    workers = [Database(url) for _ in range(WORKERS)]
    made: Counter[int] = Counter()
    dispatchers = [
        Dispatcher(ConversationEngine(d, contract, clock, policy), [TENANT], safety_seconds=0,
                   on_offers=lambda offers, w=w: made.update({w: len(offers)}))
        for w, d in enumerate(workers)
    ]  # fmt: skip
    contacts: list[str] = []
    try:
        for r in range(ROUNDS):
            channels = (Channel.CHAT, Channel.EMAIL, Channel.VOICE)
            contacts += [_queue(setup, f"r{r}-{i}", channels[(r + i) % 3]) for i in range(ARRIVALS)]
            # safety_seconds=0: every pass routes every tenant with waiting contacts, so both
            # workers route the same tenant at the same moment in every round.
            _in_lockstep([d.step for d in dispatchers])
            for offer in setup.offers(TENANT)[: len(setup.offers(TENANT)) // 2]:  # half are taken...
                setup.accept_offer(TENANT, offer.id, offer.agent_id)
                setup.close(TENANT, offer.agent_id, offer.contact_id, Outcome.STRAKSAFKLARET)
            clock.advance(31)  # ...the other half ring out: both workers expire them at once
            _in_lockstep([d.step for d in dispatchers])
            for agent_id in (f"agent{i}" for i in range(AGENTS)):  # paused by an expiry: ready again
                if setup.agent_state(TENANT, agent_id).state is AgentState.PAUSED:
                    setup.set_agent_state(TENANT, agent_id, AgentState.AVAILABLE)
    finally:
        for d in workers:
            d.dispose()

    assert sum(made.values()) > 0
    events = setup.events(TENANT)
    with setup_db.read() as s:
        offers = list(s.scalars(select(Offer)))
    offered = Counter(e.data["offer_id"] for e in events if e.kind is EventKind.OFFERED)
    assert set(offered.values()) == {1} and set(offered) == {o.id for o in offers}  # each offer made once
    expired = Counter(e.data["offer_id"] for e in events if e.kind is EventKind.OFFER_EXPIRED)
    assert set(expired.values()) <= {1}
    assert set(expired) == {o.id for o in offers if o.status is OfferStatus.EXPIRED}  # and expired once
    accepted = Counter(e.contact_id for e in events if e.kind is EventKind.OFFER_ACCEPTED)
    assert set(accepted.values()) <= {1}  # no contact assigned twice
    pending = Counter(o.contact_id for o in offers if o.status is OfferStatus.PENDING)
    assert set(pending.values()) <= {1}
    states = {c: setup.contact(TENANT, c).state for c in contacts}
    assert all(states[c] in (ContactState.OFFERED, ContactState.QUEUED) for c in contacts if c not in accepted)

    # Replay each agent's load in event order: never over capacity, a call always alone.
    channel_of = {e.contact_id: Channel(e.data["channel"]) for e in events if e.kind is EventKind.CONTACT_OPENED}
    load: dict[str, Counter[Channel]] = defaultdict(Counter)
    for e in events:
        if e.kind is EventKind.OFFERED:
            assert e.agent_id is not None and e.contact_id is not None
            active = load[e.agent_id]
            active[channel_of[e.contact_id]] += 1
            assert active[channel_of[e.contact_id]] <= policy.concurrency[channel_of[e.contact_id]], dict(active)
            if active[Channel.VOICE]:
                assert sum(active.values()) == 1, (e.agent_id, dict(active))
        elif e.kind in (EventKind.CLOSED, EventKind.OFFER_EXPIRED, EventKind.OFFER_DECLINED):
            assert e.agent_id is not None and e.contact_id is not None
            load[e.agent_id][channel_of[e.contact_id]] -= 1
