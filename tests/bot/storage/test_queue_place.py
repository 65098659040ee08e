"""A waiting citizen's place in the queue, counted by the database (`routing_reads.queue_place`),
is the place the router's own order gives (`skills.queue_position`, `waiting_in_queue`,
`should_offer_callback` over every waiting contact), on SQLite and PostgreSQL: priorities,
channels by the policy, contacts returned by an unanswered offer, equal join times, contacts
without a queue in the default queue, and contacts that do not wait. How many of a tenant's
contacts wait (`ConversationEngine.waiting`, one count) is the length of the list the router reads."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from bot.engine import ConversationEngine
from bot.routing import skills
from bot.routing.skills import Channel, RoutingPolicy
from bot.storage import repository as repo
from bot.storage import routing_reads
from bot.storage.models import Contact, ContactState, QueueRow
from tests.bot.conftest import MONDAY_10, TENANT

DEFAULT = "borgerservice_basis"
OTHER = "social_saerlige_behov"
STATES = (ContactState.QUEUED,) * 4 + (ContactState.BOT, ContactState.OFFERED, ContactState.CLOSED)


def _contacts(rng: random.Random, n: int, tenant_id: str = TENANT) -> list[Contact]:
    joins = [MONDAY_10 + timedelta(seconds=s) for s in (0, 0, 5, 30, 90)]  # equal times on purpose
    out = []
    for i in range(n):
        joined = rng.choice(joins)
        out.append(Contact(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), tenant_id=tenant_id,
            channel=rng.choice(list(Channel)), external_ref=f"{tenant_id}-{i}", state=rng.choice(STATES),
            queue_id=rng.choice((DEFAULT, DEFAULT, OTHER, None)),
            created_at=MONDAY_10, updated_at=joined + timedelta(seconds=rng.choice((0, 7))),
            enqueued_at=rng.choice((joined, joined, None)),
            returned_at=rng.choice((None, None, joined + timedelta(seconds=40))), offer_attempts=rng.randint(0, 2),
        ))  # fmt: skip
    return out


def _router_view(rows: list[Contact], queue: QueueRow, unqueued_too: bool) -> skills.RouterSnapshot:
    """Every waiting contact of the queue as the router sees it (as `RoutingMixin._snapshot`)."""
    waiting = [c for c in rows if c.state is ContactState.QUEUED
               and (c.queue_id == queue.id or (unqueued_too and c.queue_id is None))]  # fmt: skip
    return skills.RouterSnapshot(contacts=tuple(
        skills.QueuedContact(
            contact_id=c.id, queue_id=c.queue_id or DEFAULT, channel=c.channel,
            enqueued_at=c.enqueued_at or c.updated_at, returned_at=c.returned_at, offer_attempts=c.offer_attempts,
            priority=queue.priority if c.queue_id == queue.id else 0,
        )
        for c in waiting
    ), agents=())  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counted_place_is_the_routers_place(engine: ConversationEngine, seed: int) -> None:
    rng = random.Random(seed)
    rows = _contacts(rng, 60)
    policy = RoutingPolicy(channel_priority=(Channel.EMAIL, Channel.VOICE, Channel.CHAT), callback_queue_length=3)
    with engine.db.write() as s:
        s.get(QueueRow, (TENANT, DEFAULT)).priority = 3  # contacts without a queue (priority 0) come after
        s.add_all(rows)
    checked = 0
    with engine.db.read() as s:
        for queue_id in (DEFAULT, OTHER):
            queue = s.get(QueueRow, (TENANT, queue_id))
            unqueued_too = queue_id == DEFAULT
            snap = _router_view(rows, queue, unqueued_too)
            for c in rows:
                if c.state is not ContactState.QUEUED or c.queue_id != queue_id:
                    continue
                place = routing_reads.queue_place(s, contact=c, queue_id=queue_id, priority=queue.priority,
                                                  channel_priority=policy.channel_priority,
                                                  unqueued_too=unqueued_too)  # fmt: skip
                assert place.ahead + 1 == skills.queue_position(c.id, snap, policy)
                assert place.waiting == len(skills.waiting_in_queue(queue_id, snap, policy))
                for later in (0, 45, 200):
                    now = MONDAY_10 + timedelta(seconds=later)
                    assert skills.callback_due(place.waiting, place.oldest, now, policy) == (
                        skills.should_offer_callback(queue_id, snap, now, policy)
                    )
                checked += 1
    assert checked > 20


def test_waiting_count_is_the_length_of_the_waiting_list(engine: ConversationEngine) -> None:
    other = "aarhus"
    engine.ensure_tenant(other, "Aarhus Kommune")
    assert engine.waiting(TENANT) == 0 == engine.waiting(other)
    rng = random.Random(7)
    rows = _contacts(rng, 40) + _contacts(rng, 25, tenant_id=other)
    with engine.db.write() as s:
        s.add_all(rows)
    for tenant_id in (TENANT, other):
        with engine.db.read() as s:
            listed = repo.waiting_contacts(s, tenant_id=tenant_id, limit=1_000)
        queued = [c for c in rows if c.tenant_id == tenant_id and c.state is ContactState.QUEUED]
        assert engine.waiting(tenant_id) == len(listed) == len(queued) > 0
