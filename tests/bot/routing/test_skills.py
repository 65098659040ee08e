"""Tests for bot.routing.skills: the skill-based router over a snapshot."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import (
    DuplicateRoutingId,
    InvalidRoutingPolicy,
    InvalidSkillLevel,
    KontaktError,
    NaiveDatetime,
    NoStaffedAgents,
    RoutingError,
    UnknownContact,
)
from bot.routing.skills import (
    DEFAULT_POLICY,
    AgentSnapshot,
    AgentState,
    Assignment,
    Channel,
    QueuedContact,
    RouterSnapshot,
    RoutingPolicy,
    assign,
    expected_wait,
    finish_contact,
    has_room,
    is_routable,
    queue_position,
    return_unanswered,
    should_offer_callback,
    waiting_in_queue,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
VOICE, CHAT, EMAIL = Channel.VOICE, Channel.CHAT, Channel.EMAIL


def contact(
    contact_id: str,
    queue_id: str = "borger",
    channel: Channel = VOICE,
    waited: float = 10,
    priority: int = 0,
) -> QueuedContact:
    return QueuedContact(contact_id, queue_id, channel, NOW - timedelta(seconds=waited), priority)


def agent(
    agent_id: str,
    state: AgentState = AgentState.AVAILABLE,
    idle: float | None = None,
    acw_until: datetime | None = None,
    active: dict[Channel, int] | None = None,
    **skills: int,
) -> AgentSnapshot:
    idle_since = None if idle is None else NOW - timedelta(seconds=idle)
    return AgentSnapshot(agent_id, state, skills or {"borger": 5}, active or {}, acw_until, idle_since)


def route(
    contacts: Iterable[QueuedContact], agents: Iterable[AgentSnapshot], policy: RoutingPolicy = DEFAULT_POLICY
) -> dict[str, str]:
    """contact_id -> agent_id."""
    offers = assign(RouterSnapshot(tuple(contacts), tuple(agents)), NOW, policy)
    return {o.contact_id: o.agent_id for o in offers}


# --- ordering and agent choice ----------------------------------------------------------------


def test_skills_longest_waiting_first() -> None:
    contacts = [contact("new", waited=5), contact("old", waited=50), contact("middle", waited=20)]
    assert route(contacts, [agent("a")]) == {"old": "a"}
    assert route(contacts, [agent("a"), agent("b", idle=1)]) == {"old": "b", "middle": "a"}


def test_skills_best_skill_wins() -> None:
    agents = [agent("low", idle=600, borger=3), agent("high", idle=1, borger=7), agent("mid", borger=5)]
    assert route([contact("c")], agents) == {"c": "high"}


def test_skills_best_agents_go_to_oldest_contacts() -> None:
    agents = [agent("low", borger=2), agent("high", borger=9)]
    contacts = [contact("new", waited=1), contact("old", waited=99)]
    assert route(contacts, agents) == {"old": "high", "new": "low"}


@pytest.mark.parametrize("skills", [{"borger": 0}, {"byg": 5}, {"borger": 0, "byg": 9}])
def test_skills_level_zero_or_missing_cannot_take(skills: dict[str, int]) -> None:
    assert route([contact("c", waited=5)], [agent("a", **skills)]) == {}


def test_skills_ties_go_to_idle_longest_then_agent_id() -> None:
    tied = [agent("b", idle=30), agent("a", idle=30), agent("c", idle=300), agent("d")]
    assert route([contact("c1")], tied) == {"c1": "c"}
    assert route([contact("c1")], [agent("b", idle=30), agent("a", idle=30), agent("d")]) == {"c1": "a"}
    assert route([contact("c1")], [agent("z"), agent("y")]) == {"c1": "y"}  # unknown idle: by id
    assert route([contact("c1")], [agent("a"), agent("z", idle=1)]) == {"c1": "z"}  # known idle first


def test_skills_agents_in_several_queues() -> None:
    agents = [agent("generalist", borger=9, byg=2), agent("byg-expert", byg=8)]
    contacts = [contact("b1", "borger", waited=30), contact("g1", "byg", waited=10)]
    assert route(contacts, agents) == {"b1": "generalist", "g1": "byg-expert"}
    chats = [
        contact("b1", "borger", CHAT, 30),
        contact("g1", "byg", CHAT, 20),
        contact("g2", "byg", CHAT, 10),
    ]
    assert route(chats, [agent("generalist", borger=9, byg=2)]) == {
        "b1": "generalist",
        "g1": "generalist",
        "g2": "generalist",
    }


def test_skills_assignment_fields() -> None:
    offers = assign(RouterSnapshot((contact("c", "byg", CHAT),), (agent("a", byg=4),)), NOW)
    assert offers == [Assignment("c", "a", "byg", CHAT, skill=4, overflow=False)]


# --- agent states -------------------------------------------------------------------------------


def test_skills_acw_blocks_routing_until_it_ends() -> None:
    acw = AgentState.AFTER_CONTACT_WORK
    waiting = [contact("c")]
    assert route(waiting, [agent("a", acw, acw_until=NOW + timedelta(seconds=1))]) == {}
    assert route(waiting, [agent("a", acw, acw_until=NOW)]) == {"c": "a"}  # ended exactly now
    assert route(waiting, [agent("a", acw, acw_until=NOW - timedelta(seconds=5))]) == {"c": "a"}
    assert route(waiting, [agent("a", acw)]) == {}  # ACW of unknown length: wait for a state change
    # acw_until is authoritative even if the state already says AVAILABLE
    assert route(waiting, [agent("a", acw_until=NOW + timedelta(seconds=10))]) == {}


def test_skills_acw_agent_loses_to_free_agent_until_it_ends() -> None:
    agents = [agent("acw", AgentState.AFTER_CONTACT_WORK, acw_until=NOW + timedelta(seconds=20), borger=9)]
    agents.append(agent("other", borger=1))
    assert route([contact("c")], agents) == {"c": "other"}


@pytest.mark.parametrize("state", [AgentState.PAUSED, AgentState.OFFLINE])
def test_skills_paused_and_offline_get_nothing(state: AgentState) -> None:
    assert route([contact("c", waited=3600)], [agent("a", state, borger=9)]) == {}
    assert not is_routable(agent("a", state), NOW)


def test_skills_busy_agent_with_room_gets_chats() -> None:
    busy = agent("a", AgentState.BUSY, active={CHAT: 1})
    assert route([contact("c1", channel=CHAT), contact("c2", channel=CHAT, waited=1)], [busy]) == {
        "c1": "a",
        "c2": "a",
    }


def test_skills_finish_contact_starts_acw() -> None:
    busy = agent("a", AgentState.BUSY, active={VOICE: 1})
    after = finish_contact(busy, VOICE, NOW)
    assert after.state is AgentState.AFTER_CONTACT_WORK
    assert after.acw_until == NOW + timedelta(seconds=30)
    assert after.active[VOICE] == 0
    assert after.idle_since == NOW
    assert route([contact("c")], [after]) == {}
    assert assign(RouterSnapshot((contact("c"),), (after,)), NOW + timedelta(seconds=30))[0].agent_id == "a"


def test_skills_finish_contact_without_acw() -> None:
    busy = agent("a", AgentState.BUSY, active={CHAT: 2})
    after = finish_contact(busy, CHAT, NOW, RoutingPolicy(acw_seconds=0))
    assert (after.state, after.active[CHAT], after.acw_until) == (AgentState.BUSY, 1, None)
    last = finish_contact(after, CHAT, NOW, RoutingPolicy(acw_seconds=0))
    assert (last.state, last.idle_since) == (AgentState.AVAILABLE, NOW)
    with pytest.raises(RoutingError):
        finish_contact(last, CHAT, NOW)


# --- overflow -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waited", "policy", "expected"),
    [
        (119, DEFAULT_POLICY, {}),
        (120, DEFAULT_POLICY, {"c": "byg-agent"}),
        (600, DEFAULT_POLICY, {"c": "byg-agent"}),
        (29, RoutingPolicy(overflow_after_seconds={"borger": 30}), {}),
        (30, RoutingPolicy(overflow_after_seconds={"borger": 30}), {"c": "byg-agent"}),
        (3600, RoutingPolicy(overflow_after_seconds={"borger": None}), {}),  # never overflows
        (3600, RoutingPolicy(default_overflow_after_seconds=None), {}),
        (45, RoutingPolicy(default_overflow_after_seconds=45), {"c": "byg-agent"}),
    ],
)
def test_skills_overflow_threshold(waited: float, policy: RoutingPolicy, expected: dict[str, str]) -> None:
    assert route([contact("c", "borger", waited=waited)], [agent("byg-agent", byg=3)], policy) == expected


def test_skills_overflow_is_marked_and_skilled_agents_come_first() -> None:
    agents = [agent("outsider", idle=9999, byg=9), agent("insider", borger=1)]
    offers = assign(RouterSnapshot((contact("c", waited=500),), tuple(agents)), NOW)
    assert [(o.agent_id, o.overflow) for o in offers] == [("insider", False)]
    offers = assign(RouterSnapshot((contact("c", waited=500), contact("d", waited=400)), tuple(agents)), NOW)
    assert [(o.contact_id, o.agent_id, o.overflow, o.skill) for o in offers] == [
        ("c", "insider", False, 1),
        ("d", "outsider", True, 0),
    ]


def test_skills_overflow_targets_limit_who_takes_it() -> None:
    policy = RoutingPolicy(overflow_targets={"borger": frozenset({"pension"})})
    waiting = [contact("c", "borger", waited=500)]
    assert route(waiting, [agent("byg-agent", byg=9)], policy) == {}
    assert route(waiting, [agent("byg-agent", byg=9), agent("pension-agent", pension=1)], policy) == {
        "c": "pension-agent"
    }


def test_skills_agent_without_any_skill_never_takes_overflow() -> None:
    nobody = AgentSnapshot("a", AgentState.AVAILABLE, {"borger": 0})
    assert route([contact("c", "byg", waited=9999)], [nobody]) == {}


# --- channels, priority and concurrency ---------------------------------------------------------


def test_skills_waiting_call_beats_older_chat() -> None:
    contacts = [contact("chat", channel=CHAT, waited=300), contact("call", channel=VOICE, waited=5)]
    assert route(contacts, [agent("a")]) == {"call": "a"}  # and the chat waits: the agent is on a call


def test_skills_chat_beats_older_email() -> None:
    contacts = [contact("mail", channel=EMAIL, waited=3000), contact("chat", channel=CHAT, waited=5)]
    offers = assign(RouterSnapshot(tuple(contacts), (agent("a"),)), NOW)
    assert [o.contact_id for o in offers] == ["chat", "mail"]  # both fit, the chat is decided first


def test_skills_channel_priority_is_configurable() -> None:
    policy = RoutingPolicy(channel_priority=(CHAT, VOICE, EMAIL))
    contacts = [contact("chat", channel=CHAT, waited=5), contact("call", channel=VOICE, waited=300)]
    assert route(contacts, [agent("a")], policy) == {"chat": "a"}


def test_skills_priority_queue_served_first() -> None:
    contacts = [contact("normal", "borger", waited=600), contact("special", "saerlige", waited=5, priority=1)]
    generalist = agent("a", borger=9, saerlige=1)
    assert route(contacts, [generalist]) == {"special": "a"}
    # Priority outranks channel: a priority e-mail is decided before a normal call.
    contacts = [contact("call", "borger", VOICE, 600), contact("mail", "saerlige", EMAIL, 5, priority=1)]
    assert route(contacts, [generalist]) == {"mail": "a"}


def test_skills_call_is_exclusive() -> None:
    on_call = agent("a", AgentState.BUSY, active={VOICE: 1})
    for channel in Channel:
        assert route([contact("c", channel=channel)], [on_call]) == {}
    with_chat = agent("a", AgentState.BUSY, active={CHAT: 1})
    assert route([contact("c", channel=VOICE)], [with_chat]) == {}
    with_mail = agent("a", AgentState.BUSY, active={EMAIL: 1})
    assert route([contact("c", channel=VOICE)], [with_mail]) == {}
    two_calls = [contact("c1", channel=VOICE, waited=30), contact("c2", channel=VOICE, waited=9)]
    assert route(two_calls, [agent("a")]) == {"c1": "a"}


def test_skills_non_exclusive_voice_allows_chat_during_call() -> None:
    policy = RoutingPolicy(exclusive_voice=False)
    on_call = agent("a", AgentState.BUSY, active={VOICE: 1})
    assert route([contact("c", channel=CHAT)], [on_call], policy) == {"c": "a"}
    assert route([contact("c", channel=VOICE)], [on_call], policy) == {}  # still 1 call at a time


@pytest.mark.parametrize(
    ("channel", "already", "limit"),
    [(CHAT, 0, 3), (CHAT, 2, 3), (CHAT, 3, 3), (EMAIL, 0, 5), (EMAIL, 4, 5), (VOICE, 0, 1)],
)
def test_skills_concurrency_per_channel(channel: Channel, already: int, limit: int) -> None:
    waiting = [contact(f"c{i}", channel=channel, waited=100 - i) for i in range(8)]
    offers = assign(RouterSnapshot(tuple(waiting), (agent("a", active={channel: already}),)), NOW)
    assert [o.contact_id for o in offers] == [f"c{i}" for i in range(limit - already)]


def test_skills_concurrency_is_configurable_and_channels_add_up() -> None:
    policy = RoutingPolicy(concurrency={VOICE: 1, CHAT: 2, EMAIL: 1})
    waiting = [contact(f"chat{i}", channel=CHAT, waited=50 - i) for i in range(3)]
    waiting += [contact(f"mail{i}", channel=EMAIL, waited=50 - i) for i in range(3)]
    assert sorted(route(waiting, [agent("a")], policy)) == ["chat0", "chat1", "mail0"]


def test_skills_has_room() -> None:
    assert has_room({}, VOICE)
    assert not has_room({CHAT: 1}, VOICE)
    assert has_room({CHAT: 2, EMAIL: 4}, CHAT)
    assert not has_room({CHAT: 3}, CHAT)
    assert not has_room({VOICE: 1}, EMAIL)


def test_skills_chats_spread_over_agents_by_skill() -> None:
    waiting = [contact(f"c{i}", channel=CHAT, waited=100 - i) for i in range(5)]
    offers = route(waiting, [agent("strong", borger=8), agent("weak", borger=2)])
    assert offers == {"c0": "strong", "c1": "strong", "c2": "strong", "c3": "weak", "c4": "weak"}


# --- unanswered offers, position, wait, callback ------------------------------------------------


def test_skills_unanswered_offer_returns_to_front() -> None:
    first = contact("first", waited=30)
    older = contact("other", waited=90)  # arrived earlier, never offered
    returned = return_unanswered(first, NOW)
    assert returned.enqueued_at == first.enqueued_at  # waiting time keeps counting from arrival
    assert returned.returned_at == NOW
    assert returned.offer_attempts == 1
    assert return_unanswered(returned, NOW).offer_attempts == 2
    snapshot = RouterSnapshot((older, contact("later", waited=1), returned), (agent("b"),))
    assert queue_position("first", snapshot) == 1
    assert queue_position("other", snapshot) == 2
    assert queue_position("later", snapshot) == 3
    assert [o.contact_id for o in assign(snapshot, NOW)] == ["first"]


def test_skills_returned_contact_keeps_overflow_clock() -> None:
    returned = return_unanswered(contact("c", waited=200), NOW)
    assert route([returned], [agent("byg-agent", byg=1)]) == {"c": "byg-agent"}


def test_skills_queue_position() -> None:
    contacts = [
        contact("a3", waited=10),
        contact("a1", waited=90),
        contact("b1", "byg", waited=500),
        contact("a2", waited=40),
        contact("a0", waited=5, priority=2),
    ]
    snapshot = RouterSnapshot(tuple(contacts))
    assert [queue_position(c, snapshot) for c in ("a0", "a1", "a2", "a3", "b1")] == [1, 2, 3, 4, 1]
    assert [c.contact_id for c in waiting_in_queue("borger", snapshot)] == ["a0", "a1", "a2", "a3"]
    with pytest.raises(UnknownContact):
        queue_position("nobody", snapshot)


@pytest.mark.parametrize(
    ("waiting", "agents", "aht", "position", "expected"),
    [
        (0, 1, 300, None, 300),  # a new contact, first in line, one agent
        (3, 1, 300, None, 1200),  # 3 ahead + itself
        (3, 2, 300, None, 600),
        (5, 4, 240, 2, 120),  # a waiting contact at position 2
        (0, 3, 100, None, 33),  # rounded to whole seconds
    ],
)
def test_skills_expected_wait(
    waiting: int, agents: int, aht: float, position: int | None, expected: int
) -> None:
    contacts = tuple(contact(f"c{i}", waited=i) for i in range(waiting))
    staff = tuple(agent(f"a{i}", AgentState.BUSY, active={VOICE: 1}) for i in range(agents))
    others = (agent("paused", AgentState.PAUSED), agent("offline", AgentState.OFFLINE), agent("x", byg=9))
    snapshot = RouterSnapshot(contacts, staff + others)
    assert expected_wait("borger", snapshot, aht, position=position) == timedelta(seconds=expected)


def test_skills_expected_wait_for_queued_contact_and_errors() -> None:
    snapshot = RouterSnapshot((contact("c1", waited=60), contact("c2", waited=30)), (agent("a"),))
    position = queue_position("c2", snapshot)
    assert expected_wait("borger", snapshot, 180, position=position) == timedelta(minutes=6)
    with pytest.raises(NoStaffedAgents):
        expected_wait("byg", snapshot, 180)
    with pytest.raises(RoutingError):
        expected_wait("borger", snapshot, 180, position=0)
    with pytest.raises(RoutingError):
        expected_wait("borger", snapshot, -1)


@pytest.mark.parametrize(
    ("count", "oldest", "policy", "expected"),
    [
        (0, 0, DEFAULT_POLICY, False),
        (5, 59, DEFAULT_POLICY, False),
        (6, 10, DEFAULT_POLICY, True),  # more than 5 waiting
        (1, 60, DEFAULT_POLICY, True),  # oldest waited 60 s
        (1, 59.9, DEFAULT_POLICY, False),
        (3, 10, RoutingPolicy(callback_queue_length=2), True),
        (2, 10, RoutingPolicy(callback_queue_length=2), False),
        (1, 100, RoutingPolicy(callback_wait_seconds=120), False),
        (1, 120, RoutingPolicy(callback_wait_seconds=120), True),
    ],
)
def test_skills_should_offer_callback(
    count: int, oldest: float, policy: RoutingPolicy, expected: bool
) -> None:
    contacts = [contact(f"c{i}", waited=oldest if i == 0 else 1) for i in range(count)]
    contacts += [contact(f"other{i}", "byg", waited=9999) for i in range(10)]  # other queues do not count
    assert should_offer_callback("borger", RouterSnapshot(tuple(contacts)), NOW, policy) is expected


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [-1, 10, 2.5, True])
def test_skills_bad_skill_level_raises(level: object) -> None:
    with pytest.raises(InvalidSkillLevel):
        AgentSnapshot("a", AgentState.AVAILABLE, {"borger": level})  # type: ignore[dict-item]


def test_skills_bad_snapshots_raise() -> None:
    with pytest.raises(DuplicateRoutingId):
        RouterSnapshot((contact("c"), contact("c")))
    with pytest.raises(DuplicateRoutingId):
        RouterSnapshot(agents=(agent("a"), agent("a")))
    with pytest.raises(RoutingError):
        AgentSnapshot("a", AgentState.AVAILABLE, {}, {CHAT: -1})
    with pytest.raises(NaiveDatetime):
        QueuedContact("c", "borger", VOICE, datetime(2026, 3, 2, 10))
    with pytest.raises(NaiveDatetime):
        assign(RouterSnapshot(), datetime(2026, 3, 2, 10))
    with pytest.raises(RoutingError):
        QueuedContact("c", "borger", "voice", NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"acw_seconds": -1},
        {"callback_queue_length": -1},
        {"callback_wait_seconds": float("nan")},
        {"default_overflow_after_seconds": -5},
        {"overflow_after_seconds": {"borger": -1}},
        {"channel_priority": (VOICE, CHAT)},
        {"channel_priority": (VOICE, VOICE, CHAT)},
        {"concurrency": {VOICE: 1, CHAT: 3}},
        {"concurrency": {VOICE: 1, CHAT: -3, EMAIL: 5}},
    ],
)
def test_skills_bad_policy_raises(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRoutingPolicy) as info:
        RoutingPolicy(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, KontaktError)


def test_skills_snapshot_values_are_immutable() -> None:
    a = agent("a")
    with pytest.raises(TypeError):
        a.skills["borger"] = 9  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.state = AgentState.PAUSED  # type: ignore[misc]


# --- property test: random snapshots -------------------------------------------------------------

QUEUES = ("borger", "byg", "pension", "saerlige")


def _random_snapshot(rng: random.Random) -> RouterSnapshot:
    contacts = tuple(
        QueuedContact(
            f"c{i}",
            rng.choice(QUEUES),
            rng.choice(list(Channel)),
            NOW - timedelta(seconds=rng.choice([0, 5, 30, 60, 119, 120, 400, rng.randint(0, 1000)])),
            priority=rng.choice([0, 0, 0, 1]),
            returned_at=NOW if rng.random() < 0.1 else None,
        )
        for i in range(rng.randint(0, 25))
    )
    agents = []
    for i in range(rng.randint(0, 10)):
        skills = {q: rng.randint(0, 9) for q in rng.sample(QUEUES, rng.randint(0, len(QUEUES)))}
        active = {c: rng.randint(0, 2) for c in Channel if rng.random() < 0.3}
        agents.append(
            AgentSnapshot(
                f"a{i}",
                rng.choice(list(AgentState)),
                skills,
                active,
                acw_until=NOW + timedelta(seconds=rng.randint(-60, 60)) if rng.random() < 0.4 else None,
                idle_since=NOW - timedelta(seconds=rng.randint(0, 600)) if rng.random() < 0.7 else None,
            )
        )
    return RouterSnapshot(contacts, tuple(agents))


POLICIES = [
    DEFAULT_POLICY,
    RoutingPolicy(exclusive_voice=False, concurrency={VOICE: 1, CHAT: 2, EMAIL: 3}),
    RoutingPolicy(overflow_targets={"borger": frozenset({"pension"})}, default_overflow_after_seconds=30),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_skills_random_snapshots_respect_capacity_and_assign_once(policy: RoutingPolicy) -> None:
    rng = random.Random(20260302)
    for _ in range(400):
        snapshot = _random_snapshot(rng)
        offers = assign(snapshot, NOW, policy)
        contacts = {c.contact_id: c for c in snapshot.contacts}
        agents = {a.agent_id: a for a in snapshot.agents}

        # each contact at most once
        assert len({o.contact_id for o in offers}) == len(offers)

        load = {a.agent_id: Counter(dict(a.active)) for a in snapshot.agents}
        for offer in offers:
            c, a = contacts[offer.contact_id], agents[offer.agent_id]
            assert is_routable(a, NOW)
            assert (offer.queue_id, offer.channel) == (c.queue_id, c.channel)
            assert offer.skill == a.skills.get(c.queue_id, 0)
            assert offer.overflow is (offer.skill == 0)
            if offer.overflow:
                threshold = policy.overflow_threshold(c.queue_id)
                assert threshold is not None and NOW - c.enqueued_at >= threshold
            assert has_room(load[a.agent_id], c.channel, policy)
            load[a.agent_id][c.channel] += 1

        # no agent over capacity
        for agent_id, counts in load.items():
            added = Counter(o.channel for o in offers if o.agent_id == agent_id)
            for channel in added:
                assert counts[channel] <= max(policy.concurrency[channel], agents[agent_id].active[channel])
            if policy.exclusive_voice and added:
                assert counts[VOICE] == 0 or sum(counts.values()) == 1

        # maximal: nothing left that some agent could still take
        assigned = {o.contact_id for o in offers}
        for c in snapshot.contacts:
            if c.contact_id in assigned:
                continue
            for a in snapshot.agents:
                if not is_routable(a, NOW) or not has_room(load[a.agent_id], c.channel, policy):
                    continue
                assert a.skills.get(c.queue_id, 0) == 0
                threshold = policy.overflow_threshold(c.queue_id)
                targets = policy.overflow_targets.get(c.queue_id)
                can_overflow = any(
                    level > 0 for q, level in a.skills.items() if targets is None or q in targets
                )
                assert not (threshold is not None and NOW - c.enqueued_at >= threshold and can_overflow)

        # deterministic, whatever the input order
        shuffled = RouterSnapshot(
            tuple(rng.sample(snapshot.contacts, len(snapshot.contacts))),
            tuple(rng.sample(snapshot.agents, len(snapshot.agents))),
        )
        assert assign(shuffled, NOW, policy) == offers
