"""Fault test (issue 6 §2): three routers (threads, each with its own Database and engine) work a
PostgreSQL queue while the server is restarted (`pg_ctl stop -m fast`, then start) mid-way.

Workers catch `DatabaseUnavailable`, pause and carry on. Each worker owns two agents: it routes
(any waiting contact to any agent), accepts the pending offers of its agents, replies and closes
their contacts. Retries are safe because every step is read back before it is repeated (a commit
may succeed on the server while its acknowledgement is lost). At the end: no contact was offered
or assigned twice (offers table and events agree), none was dropped (all 60 handled, each closed
once), no agent went over capacity, and the engine routes normally after the restart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import select

from bot.engine import ConversationEngine
from bot.errors import DatabaseUnavailable, IllegalTransition, StaleOffer
from bot.routing.skills import Channel, RoutingPolicy
from bot.storage import Database
from bot.storage.models import AgentState, Contact, ContactState, EventKind, Offer, OfferStatus, Outcome
from bot.topics import TopicContract
from bot.types import HandoffReason
from tests.bot.conftest import TENANT, FakeClock
from tests.pg import PostgresCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTACTS = 60
AGENTS = 6
WORKERS = 3
QUEUES = ("borgerservice_basis", "esb")
RESTART_AFTER = CONTACTS // 3  # closed contacts before the server goes away
PAUSE = 0.1  # a worker's pause after DatabaseUnavailable
STEP = 0.02  # a worker's pause between rounds, so the work spans the restart
DEADLINE = 45.0  # seconds for the whole run

T = TypeVar("T")


@pytest.fixture
def restartable(pg_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    """The session's cluster, running again after the test whatever happened."""
    yield pg_cluster
    if not pg_cluster.is_running():
        pg_cluster.start_again()


def _prepare(engine: ConversationEngine) -> list[str]:
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    for i in range(AGENTS):
        engine.add_agent(TENANT, f"agent{i}", f"Agent {i}", skills={q: 5 for q in QUEUES})
        engine.set_agent_state(TENANT, f"agent{i}", AgentState.AVAILABLE)
    ids = []
    channels = (Channel.CHAT, Channel.EMAIL)
    for i in range(CONTACTS):
        c = engine.open_contact(TENANT, channels[i % 2], f"ref{i}")
        engine.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")
        engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
        ids.append(c.id)
    return ids


def _closed(db: Database) -> int:
    with db.read() as s:
        return len(s.scalars(select(Contact.id).where(Contact.state == ContactState.CLOSED)).all())


def _in_hand(db: Database, agent_ids: set[str]) -> list[tuple[str, str, ContactState]]:
    """(contact, agent, state) of the contacts these agents have accepted and not closed."""
    with db.read() as s:
        rows = s.execute(
            select(Contact.id, Contact.assigned_agent_id, Contact.state).where(
                Contact.state.in_((ContactState.ASSIGNED, ContactState.AGENT_ACTIVE)),
                Contact.assigned_agent_id.in_(agent_ids),
            )
        ).all()
    return [(cid, agent, state) for cid, agent, state in rows]


class Worker:
    """One router: its own Database and engine, its own agents."""

    def __init__(self, url: str, contract: TopicContract, clock: FakeClock, policy: RoutingPolicy,
                 agents: set[str], stop: threading.Event) -> None:  # fmt: skip
        self.db = Database(url)
        self.engine = ConversationEngine(self.db, contract, clock, policy)
        self.agents = agents
        self.stop = stop
        self.unavailable = 0
        self.rounds = 0
        self.errors: list[BaseException] = []

    def _retry(self, step: Callable[[], T]) -> T:
        while True:
            try:
                return step()
            except DatabaseUnavailable:
                self.unavailable += 1
                if self.stop.is_set():
                    raise
                time.sleep(PAUSE)

    def round(self) -> None:
        eng = self.engine
        self._retry(lambda: eng.route(TENANT))
        for offer in self._retry(lambda: eng.offers(TENANT)):
            if offer.agent_id not in self.agents:
                continue  # another worker's agent
            try:
                self._retry(partial(eng.accept_offer, TENANT, offer.id, offer.agent_id))
            except StaleOffer:
                pass  # accepted by our own earlier attempt whose acknowledgement was lost
        for cid, agent, state in self._retry(lambda: _in_hand(self.db, self.agents)):
            if state is ContactState.ASSIGNED:
                reply = partial(eng.agent_reply, TENANT, agent, cid, "Hej", client_message_id=f"reply-{cid}")
                self._retry(reply)
            try:
                self._retry(partial(eng.close, TENANT, agent, cid, Outcome.STRAKSAFKLARET))
            except IllegalTransition:
                pass  # closed by an earlier attempt whose acknowledgement was lost

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.rounds += 1
                self.round()
                if self._retry(lambda: _closed(self.db)) == CONTACTS:
                    return
                time.sleep(STEP)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
        finally:
            self.db.dispose()


def test_pg_restart_mid_routing_no_double_offer_no_lost_contact(
    restartable: PostgresCluster, pg_db: Database, contract: TopicContract
) -> None:
    clock = FakeClock()  # frozen: offers never expire, so every contact is offered exactly once
    policy = RoutingPolicy(acw_seconds=0, default_overflow_after_seconds=0)
    setup = ConversationEngine(pg_db, contract, clock, policy)
    ids = _prepare(setup)

    stop = threading.Event()
    agents = [f"agent{i}" for i in range(AGENTS)]
    workers = [
        Worker(pg_db.url, contract, clock, policy, set(agents[w::WORKERS]), stop) for w in range(WORKERS)
    ]
    threads = [threading.Thread(target=w.run, name=f"router{i}") for i, w in enumerate(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        # Restart once a third of the contacts is done, while the routers are at work.
        while (done := _closed(pg_db)) < RESTART_AFTER:
            assert time.monotonic() - started < DEADLINE, f"only {done} closed before the restart"
            assert all(t.is_alive() for t in threads), [w.errors for w in workers]
            time.sleep(0.01)
        restartable.stop()  # pg_ctl stop -m fast: every connection is cut
        time.sleep(0.5)  # the routers find nobody home
        restartable.start_again()
        remaining = CONTACTS - _closed(pg_db)  # the old pool reconnects (pre-ping)
        for t in threads:
            t.join(timeout=max(1.0, DEADLINE - (time.monotonic() - started)))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
    assert not any(t.is_alive() for t in threads), "a router did not finish in time"
    assert [e for w in workers for e in w.errors] == []
    assert remaining > 0, "the restart came after all the work; nothing was tested"
    assert sum(w.unavailable for w in workers) > 0, "no router saw the restart"

    # The same engine (its pool held connections the restart cut) reads everything back.
    with pg_db.read() as s:
        offers = s.scalars(select(Offer).where(Offer.tenant_id == TENANT)).all()
        contacts = {c.id: c for c in s.scalars(select(Contact).where(Contact.tenant_id == TENANT))}
    events = setup.events(TENANT)

    # No contact offered or assigned twice: one offer row each, accepted; the events agree.
    per_contact = Counter(o.contact_id for o in offers)
    assert {cid: n for cid, n in per_contact.items() if n != 1} == {}
    assert set(per_contact) == set(ids)
    assert {o.status for o in offers} == {OfferStatus.ACCEPTED}
    offered = [e for e in events if e.kind is EventKind.OFFERED]
    assert sorted(e.data["offer_id"] for e in offered) == sorted(o.id for o in offers)
    assert Counter(e.contact_id for e in offered) == Counter({cid: 1 for cid in ids})
    accepted = Counter(e.contact_id for e in events if e.kind is EventKind.OFFER_ACCEPTED)
    assert accepted == Counter({cid: 1 for cid in ids})

    # No contact dropped: every one was handled and closed exactly once, by the agent it was offered to.
    assert {contacts[cid].state for cid in ids} == {ContactState.CLOSED}
    closed = [e for e in events if e.kind is EventKind.CLOSED]
    assert Counter(e.contact_id for e in closed) == Counter({cid: 1 for cid in ids})
    offered_to = {o.contact_id: o.agent_id for o in offers}
    assert all(e.agent_id == offered_to[e.contact_id] for e in closed)
    replies = Counter(e.contact_id for e in events if e.kind is EventKind.AGENT_REPLIED)
    assert replies == Counter({cid: 1 for cid in ids})

    # No agent over capacity at any point (replayed in event order).
    channel_of = {
        e.contact_id: Channel(e.data["channel"]) for e in events if e.kind is EventKind.CONTACT_OPENED
    }
    load: dict[str, Counter[Channel]] = defaultdict(Counter)
    for e in events:
        if e.kind is EventKind.OFFERED:
            assert e.agent_id is not None and e.contact_id is not None
            load[e.agent_id][channel_of[e.contact_id]] += 1
            assert load[e.agent_id][channel_of[e.contact_id]] <= policy.concurrency[channel_of[e.contact_id]]
        elif e.kind is EventKind.CLOSED:
            assert e.agent_id is not None and e.contact_id is not None
            load[e.agent_id][channel_of[e.contact_id]] -= 1
    assert all(not any(c.values()) for c in load.values())

    # After the restart the engine works as before: a new contact is queued, offered, accepted.
    fresh = ConversationEngine(Database(pg_db.url), contract, clock, policy)
    try:
        c = fresh.open_contact(TENANT, Channel.CHAT, "after-restart")
        fresh.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")
        fresh.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
        (offer,) = setup.route(TENANT)  # the old engine's pool recovered too (pre-ping)
        assert offer.contact_id == c.id
        assert fresh.accept_offer(TENANT, offer.id, offer.agent_id).state is ContactState.ASSIGNED
        assert fresh.route(TENANT) == [] and fresh.waiting(TENANT) == 0
    finally:
        fresh.db.dispose()
