"""KPIs over the hand-built log in conftest, with the arithmetic in the comments.

Queued on a queue channel (voice, chat; e-mail has its own deadline KPI):
B chat answered after 12 s, C voice abandoned after 30 s, D voice abandoned after 3 s (short),
G voice answered after 25 s, J voice left a message after 120 s.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.routing.handoff import PacketReason
from bot.routing.skills import Channel
from bot.stats.errors import StatsError
from bot.stats.facts import AgentTime, ContactFacts, fold_contact
from bot.stats.facts import FeedbackLevel as L
from bot.stats.grouping import Period
from bot.stats.kpi import (
    FeedbackScore,
    KpiPolicy,
    Mean,
    QueueResult,
    QueueRule,
    Rate,
    SelfService,
    Summary,
    Thresholds,
    abandoned,
    abandonment_rate,
    after_contact_work,
    answered,
    asa_seconds,
    average_handle_seconds,
    bot_contained,
    by_action,
    by_channel,
    by_period,
    by_queue,
    by_topic,
    email_deadline_met,
    feedback_scores,
    first_contact_resolution,
    group_by,
    handled,
    handoffs_by_reason,
    longest_wait_seconds,
    occupancy,
    offered,
    queue_result,
    self_service,
    service_level,
    short_abandons,
    summary,
    topics,
    transferred_contacts,
    transfers,
)
from bot.storage.models import EventKind as K
from bot.types import Action
from tests.bot.stats.conftest import BASIS, HEADERS, at, ev


@pytest.fixture
def all_facts(facts: dict[str, ContactFacts]) -> list[ContactFacts]:
    return list(facts.values())


def test_each_wait_is_classified_with_its_own_thresholds(facts: dict[str, ContactFacts]) -> None:
    results = {cid: queue_result(f) for cid, f in facts.items()}
    assert results == {
        "A": QueueResult.NOT_QUEUED, "B": QueueResult.ANSWERED_IN_TIME, "C": QueueResult.ABANDONED,
        "D": QueueResult.SHORT_ABANDON, "E": QueueResult.NOT_QUEUED, "F": QueueResult.NOT_QUEUED,
        "G": QueueResult.ANSWERED_LATE, "H": QueueResult.NOT_QUEUED, "I": QueueResult.NOT_QUEUED,
        "J": QueueResult.FLOW_OUT,
    }  # fmt: skip


def test_queue_figures_with_the_default_policy(all_facts: list[ContactFacts]) -> None:
    assert offered(all_facts) == 4  # B, C, G, J; D's 3 s is a short abandon, not counted
    assert answered(all_facts) == 2  # B, G
    assert abandoned(all_facts) == 1  # C
    assert short_abandons(all_facts) == 1  # D, reported apart
    assert service_level(all_facts) == Rate(1, 3)  # B within 20 s / (B + G + C); J flowed out
    assert asa_seconds(all_facts) == Mean(37.0, 2)  # (12 + 25) / 2 = 18.5
    assert asa_seconds(all_facts).value == 18.5
    assert longest_wait_seconds(all_facts) == 120.0  # J
    assert abandonment_rate(all_facts) == Rate(1, 4)  # C / offered


def test_handling_figures(all_facts: list[ContactFacts]) -> None:
    assert handled(all_facts) == 4  # B, E, F, G
    # (240 + 20 ACW) + 360 + 360 + (180 + 120) = 1280; / 4 = 320
    assert average_handle_seconds(all_facts) == Mean(1280.0, 4)
    assert after_contact_work(all_facts) == Mean(20.0, 1)  # only B's ACW was recorded
    assert transfers(all_facts) == 1  # G
    assert transferred_contacts(all_facts) == Rate(1, 4)  # G / answered by an agent (B, E, F, G)


def test_occupancy_from_agent_time() -> None:
    a1 = AgentTime("a1", available=3338, busy=242, after_contact_work=20)
    a2 = AgentTime("a2", available=1800, paused=1800)
    # (242 + 20) / (3338 + 242 + 20 + 1800); paused time is not staffed time
    assert occupancy([a1, a2]) == Rate(262, 5400)


def test_bot_figures(all_facts: list[ContactFacts]) -> None:
    # the bot replied on A, B, E, H, I; it finished A (answer) and H (self-service) itself
    assert bot_contained(all_facts) == Rate(2, 5)
    assert self_service(all_facts) == SelfService(bot=1, agent_referred=1, agent_guided=0)  # H; F's outcome
    assert handoffs_by_reason(all_facts) == {
        PacketReason.ASKED_FOR_HUMAN: 4, PacketReason.CASEWORK: 1, PacketReason.TOPIC_POLICY: 2,
    }  # fmt: skip
    assert topics(all_facts) == {
        "affald_toemning": 1,
        "boligstoette": 2,
        None: 4,
        "parkering": 2,
        "pension": 1,
    }
    assert by_action(all_facts) == {
        Action.ANSWER: 1,
        Action.HANDOFF: 7,
        Action.SELFSERVICE: 1,
        Action.CLARIFY: 1,
    }


def test_first_contact_resolution(all_facts: list[ContactFacts]) -> None:
    # Ended contacts: A, B, E, F, G, H, J (C, D abandoned and I left in the bot are out) = 7.
    # Resolved: A (bot), E (straksafklaret), F (henvist), H (bot) = 4. Not: B (H is the same citizen
    # on the same topic 23 h 45 min after B closed), G (transferred), J (message left).
    assert first_contact_resolution(all_facts) == Rate(4, 7)


def test_fcr_window_and_abandons_change_the_figure(all_facts: list[ContactFacts]) -> None:
    half_day = KpiPolicy(default=Thresholds(fcr_window_days=0.5))
    assert first_contact_resolution(all_facts, half_day) == Rate(5, 7)  # H comes after 12 h: B counts
    with_abandons = KpiPolicy(fcr_counts_abandoned=True)
    assert first_contact_resolution(all_facts, with_abandons) == Rate(4, 10)  # + C, D, I below the line


def test_fcr_of_a_group_looks_for_repeats_in_the_history(all_facts: list[ContactFacts]) -> None:
    days = group_by(all_facts, by_period(Period.DAY))
    monday = next(rows for bucket, rows in days.items() if bucket.label.startswith("2026-03-02"))
    # Monday alone: A, B, E, F, G, J ended; A, B, E, F resolved, B's repeat falls on Tuesday
    assert first_contact_resolution(monday) == Rate(4, 6)
    assert first_contact_resolution(monday, history=all_facts) == Rate(3, 6)


def test_email_first_reply_deadline(all_facts: list[ContactFacts]) -> None:
    assert email_deadline_met(all_facts) == Rate(1, 2)  # F at 10:30 <= 11:45; E at 12:05 > 11:40
    waiting = fold_contact(
        HEADERS["E"],
        [ev(K.CONTACT_OPENED, at(0)), ev(K.HANDOFF_REQUESTED, at(0), reason="topic_policy",
                                          sla_due_at=at(120).isoformat())],
    )  # fmt: skip
    assert email_deadline_met([waiting]) == Rate(0, 0)  # not due as far as we know
    assert email_deadline_met([waiting], now=at(119)) == Rate(0, 0)
    assert email_deadline_met([waiting], now=at(121)) == Rate(0, 1)  # past due, unanswered


def test_feedback_per_question_level_and_scale(all_facts: list[ContactFacts]) -> None:
    assert feedback_scores(all_facts) == (
        FeedbackScore(L.AGENT, (1, 9), "1", Mean(7.0, 1)),  # G, voice keypad
        FeedbackScore(L.AGENT, (1, 9), "4", Mean(5.0, 1)),
        FeedbackScore(L.AGENT, (1, 10), "tilfredshed", Mean(8.0, 1)),  # B, chat
        FeedbackScore(L.BOT, (1, 10), "afklaring", Mean(10.0, 1)),  # A
        FeedbackScore(L.BOT, (1, 10), "tilfredshed", Mean(16.0, 2)),  # A 9 + H 7
    )


def test_summary(all_facts: list[ContactFacts]) -> None:
    assert summary(all_facts) == Summary(
        offered=4, answered=2, abandoned=1, short_abandons=1, service_level=Rate(1, 3),
        asa_seconds=Mean(37.0, 2), longest_wait_seconds=120.0, abandonment_rate=Rate(1, 4), handled=4,
        average_handle_seconds=Mean(1280.0, 4), bot_contained=Rate(2, 5), first_contact_resolution=Rate(4, 7),
        handoffs=7, transfers=1, email_deadline_met=Rate(1, 2),
    )  # fmt: skip


def test_empty_input_gives_no_rates() -> None:
    s = summary([])
    assert (s.service_level.value, s.asa_seconds.value, s.longest_wait_seconds) == (None, None, None)


# --- the policy moves the figures as documented in docs/kpi.md ------------------------------


def _policy(**changes: object) -> KpiPolicy:
    return KpiPolicy(default=Thresholds(**changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # G's 25 s meets a 30 s goal for voice in the basis queue; B's chat keeps 20 s: (B + G) / 3
        (
            KpiPolicy(rules=(QueueRule(Thresholds(service_level_seconds=30), BASIS, Channel.VOICE),)),
            Rate(2, 3),
        ),
        # a 10 s goal for chat: B's 12 s is late too
        (
            KpiPolicy(rules=(QueueRule(Thresholds(service_level_seconds=10), channel=Channel.CHAT),)),
            Rate(0, 3),
        ),
        # abandons out of the denominator: B / (B + G)
        (_policy(abandons_in_service_level=False), Rate(1, 2)),
        # short abandons counted: B / (B + G + C + D)
        (_policy(short_abandons_counted=True), Rate(1, 4)),
        # a 2 s short-abandon threshold makes D an ordinary abandon: B / (B + G + C + D)
        (_policy(short_abandon_seconds=2), Rate(1, 4)),
        # flow-outs in: B / (B + G + C + J)
        (_policy(flow_outs_in_service_level=True), Rate(1, 4)),
    ],
)
def test_thresholds_change_the_service_level(
    all_facts: list[ContactFacts], policy: KpiPolicy, expected: Rate
) -> None:
    assert service_level(all_facts, policy) == expected


def test_counting_short_abandons_moves_offered_and_abandonment(all_facts: list[ContactFacts]) -> None:
    counted = _policy(short_abandons_counted=True)
    assert (offered(all_facts, counted), abandoned(all_facts, counted)) == (5, 2)  # + D
    assert abandonment_rate(all_facts, counted) == Rate(2, 5)
    assert short_abandons(all_facts, counted) == 1  # still reported as such
    assert asa_seconds(all_facts, counted) == asa_seconds(all_facts)  # answered contacts only


def test_most_specific_rule_wins(all_facts: list[ContactFacts]) -> None:
    queue_rule = QueueRule(Thresholds(service_level_seconds=30), queue=BASIS)
    channel_rule = QueueRule(Thresholds(service_level_seconds=10), channel=Channel.VOICE)
    # queue beats channel: G (25 s) and B (12 s) both meet 30 s
    assert service_level(all_facts, KpiPolicy(rules=(channel_rule, queue_rule))) == Rate(2, 3)
    both = QueueRule(Thresholds(service_level_seconds=24), queue=BASIS, channel=Channel.VOICE)
    # queue and channel beats both: G misses 24 s, B (chat) keeps the queue's 30 s
    assert service_level(all_facts, KpiPolicy(rules=(channel_rule, both, queue_rule))) == Rate(1, 3)


def test_email_can_be_measured_as_a_queue_when_asked(all_facts: list[ContactFacts]) -> None:
    policy = KpiPolicy(queue_channels=frozenset(Channel))
    assert offered(all_facts, policy) == 6  # + E, F
    assert asa_seconds(all_facts, policy) == Mean(12 + 25 + 8400 + 2400, 4)  # E waited 2 h 20, F 40 min


def test_negative_thresholds_are_refused() -> None:
    with pytest.raises(StatsError, match="service_level_seconds=-1"):
        Thresholds(service_level_seconds=-1)


# --- grouping -------------------------------------------------------------------------------


def test_per_queue_and_per_channel(all_facts: list[ContactFacts]) -> None:
    queues = group_by(all_facts, by_queue)
    assert {q: len(rows) for q, rows in queues.items()} == {None: 3, BASIS: 7}  # A, H, I never queued
    assert service_level(queues[BASIS]) == Rate(1, 3)
    channels = group_by(all_facts, by_channel)
    assert service_level(channels[Channel.VOICE]) == Rate(0, 2)  # G late, C abandoned
    assert service_level(channels[Channel.CHAT]) == Rate(1, 1)  # B
    assert [f.contact_id for f in group_by(all_facts, by_topic)["boligstoette"]] == ["B", "H"]


def test_per_hour_in_copenhagen(all_facts: list[ContactFacts]) -> None:
    hours = group_by(all_facts, by_period(Period.HOUR))
    counts = {b.label: len(rows) for b, rows in sorted(hours.items())}
    # 09:00-09:59 UTC is 10:00 local: A B C D E F; 10:00 UTC: G I J; Tuesday 10:00: H
    assert counts == {"2026-03-02T10:00+01:00": 6, "2026-03-02T11:00+01:00": 3, "2026-03-03T10:00+01:00": 1}
    first = min(hours)
    assert (first.start, first.end - first.start) == (at(0), timedelta(hours=1))
