"""Overflow rules in bot.routing.skills: a sensitive contact never goes to an agent without the
skill, and an e-mail overflows against its reply promise rather than after seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidRoutingPolicy
from bot.routing.calendar import default_schedule
from bot.routing.skills import (
    AgentSnapshot,
    AgentState,
    Channel,
    QueuedContact,
    RouterSnapshot,
    RoutingPolicy,
    assign,
    email_overflow_at,
    is_overflowing,
    may_overflow,
)

pytestmark = pytest.mark.unit

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 11:00 in Copenhagen
POLICY = RoutingPolicy(default_overflow_after_seconds=120, protected_queues=frozenset({"boern_familie"}))


def waiting(queue: str = "borgerservice_basis", waited: float = 600, *, sensitive: bool = False,
            overflow_at: datetime | None = None, channel: Channel = Channel.CHAT) -> QueuedContact:  # fmt: skip
    return QueuedContact("c1", queue, channel, NOW - timedelta(seconds=waited), sensitive=sensitive,
                         overflow_at=overflow_at)  # fmt: skip


@pytest.mark.parametrize(
    ("contact", "may", "overflowing"),
    [
        (waiting(), True, True),
        (waiting(waited=60), True, False),
        (waiting(sensitive=True), False, False),  # e.g. a social_selvmordstanker topic in any queue
        (waiting("boern_familie"), False, False),  # a protected queue
        (waiting(overflow_at=NOW), True, True),  # an e-mail's promise decides, not the seconds
        (waiting(waited=10_000, overflow_at=NOW + timedelta(seconds=1)), True, False),
        (waiting(sensitive=True, overflow_at=NOW - timedelta(hours=1)), False, False),
    ],
)  # fmt: skip
def test_overflow_rules(contact: QueuedContact, may: bool, overflowing: bool) -> None:
    assert may_overflow(contact, POLICY) is may
    assert is_overflowing(contact, NOW, POLICY) is overflowing


def test_assign_never_gives_a_sensitive_contact_to_an_agent_without_the_skill() -> None:
    generalist = AgentSnapshot("gen", AgentState.AVAILABLE, skills={"borgerservice_basis": 5})
    contacts = (
        QueuedContact("sens", "social_saerlige_behov", Channel.CHAT, NOW - timedelta(hours=1), priority=5,
                      sensitive=True),
        QueuedContact("plain", "pension_visitation", Channel.CHAT, NOW - timedelta(minutes=30)),
    )  # fmt: skip
    offers = assign(RouterSnapshot(contacts, (generalist,)), NOW, POLICY)
    assert [(o.contact_id, o.overflow) for o in offers] == [("plain", True)]
    specialist = AgentSnapshot("spec", AgentState.AVAILABLE, skills={"social_saerlige_behov": 3})
    offers = assign(RouterSnapshot(contacts, (generalist, specialist)), NOW, POLICY)
    assert {(o.contact_id, o.agent_id, o.overflow) for o in offers} == {("sens", "spec", False),
                                                                        ("plain", "gen", True)}  # fmt: skip


@pytest.mark.parametrize(
    ("due", "fraction", "expected"),
    [
        # Received Monday 10:00, due 12:00: half of the 2 hours is used at 11:00.
        (datetime(2026, 3, 2, 12, 0, tzinfo=CPH), 0.5, datetime(2026, 3, 2, 11, 0, tzinfo=CPH)),
        # Received Friday 17:30, due Monday 09:30: half is used Monday 08:30, not on Sunday.
        (datetime(2026, 3, 9, 9, 30, tzinfo=CPH), 0.5, datetime(2026, 3, 9, 8, 30, tzinfo=CPH)),
        (datetime(2026, 3, 2, 12, 0, tzinfo=CPH), 1.0, datetime(2026, 3, 2, 12, 0, tzinfo=CPH)),
        (datetime(2026, 3, 2, 12, 0, tzinfo=CPH), 0.0, datetime(2026, 3, 2, 10, 0, tzinfo=CPH)),
        (datetime(2026, 3, 2, 12, 0, tzinfo=CPH), None, None),
    ],
)  # fmt: skip
def test_email_overflow_at_counts_against_the_promise(due: datetime, fraction: float | None,
                                                      expected: datetime | None) -> None:  # fmt: skip
    policy = RoutingPolicy(email_overflow_fraction=fraction)
    assert email_overflow_at(due, 2.0, default_schedule(), policy) == expected


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_email_overflow_fraction_must_be_a_fraction(fraction: float) -> None:
    with pytest.raises(InvalidRoutingPolicy, match="email_overflow_fraction"):
        RoutingPolicy(email_overflow_fraction=fraction)
