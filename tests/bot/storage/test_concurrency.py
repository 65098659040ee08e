"""Several routers at once: no contact is offered twice and no agent goes over capacity.

On PostgreSQL the router locks rows with FOR UPDATE SKIP LOCKED; on SQLite BEGIN IMMEDIATE
serialises routers. Each worker thread has its own Database (engine and connections)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import pytest

from bot.engine import ConversationEngine
from bot.routing.skills import Channel, RoutingPolicy
from bot.storage import Database
from bot.storage.models import ContactState, EventKind, Outcome
from bot.topics import TopicContract
from bot.types import HandoffReason
from tests.bot.conftest import TENANT, FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTACTS = 200
AGENTS = 10
WORKERS = 4
QUEUES = ("borgerservice_basis", "esb")


def _prepare(engine: ConversationEngine, clock: FakeClock) -> list[str]:
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    for i in range(AGENTS):
        engine.add_agent(TENANT, f"agent{i:02d}", f"Agent {i}", skills={QUEUES[i % 2]: 1 + i % 9})
        engine.set_agent_state(TENANT, f"agent{i:02d}", "available")
    ids = []
    channels = (Channel.CHAT, Channel.EMAIL, Channel.VOICE)
    for i in range(CONTACTS):
        c = engine.open_contact(TENANT, channels[i % 3], f"ref{i}")
        engine.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")
        engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
        ids.append(c.id)
    return ids


def test_concurrent_routers_never_double_assign(db: Database, contract: TopicContract) -> None:
    clock = FakeClock()
    policy = RoutingPolicy(acw_seconds=0, default_overflow_after_seconds=0)  # everybody takes everything
    setup = ConversationEngine(db, contract, clock, policy)
    ids = _prepare(setup, clock)
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def worker() -> None:
        database = Database(db.url)
        engine = ConversationEngine(database, contract, clock, policy)
        try:
            barrier.wait()
            for _ in range(400):
                offers = engine.route(TENANT)
                for offer in offers:
                    engine.accept_offer(TENANT, offer.id, offer.agent_id)
                    engine.agent_reply(TENANT, offer.agent_id, offer.contact_id, "Hej")
                    engine.close(TENANT, offer.agent_id, offer.contact_id, Outcome.STRAKSAFKLARET)
                if not offers and not engine.waiting(TENANT):
                    break
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors

    assert {setup.contact(TENANT, cid).state for cid in ids} == {ContactState.CLOSED}
    events = setup.events(TENANT)
    offered = Counter(e.contact_id for e in events if e.kind is EventKind.OFFERED)
    assert set(offered) == set(ids) and set(offered.values()) == {1}  # each contact offered exactly once

    # Replay each agent's load in event order (per agent, load changes are serialised by its row lock).
    channel_of = {e.contact_id: Channel(e.data["channel"]) for e in events if e.kind is EventKind.CONTACT_OPENED}
    load: dict[str, Counter[Channel]] = defaultdict(Counter)
    for e in events:
        if e.kind is EventKind.OFFERED:
            assert e.agent_id is not None and e.contact_id is not None
            ch = channel_of[e.contact_id]
            load[e.agent_id][ch] += 1
            active = load[e.agent_id]
            assert active[ch] <= policy.concurrency[ch], (e.agent_id, dict(active))
            if active[Channel.VOICE]:
                assert sum(active.values()) == 1, (e.agent_id, dict(active))  # exclusive voice
        elif e.kind is EventKind.CLOSED:
            assert e.agent_id is not None and e.contact_id is not None
            load[e.agent_id][channel_of[e.contact_id]] -= 1
    assert all(not any(v for v in c.values()) for c in load.values())
