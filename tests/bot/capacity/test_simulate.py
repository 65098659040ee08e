"""The simulation runs the real router: at the concept's peak hour it agrees with Erlang C and
Erlang A, and it measures what they cannot (mixed skills, overflow, chat concurrency, e-mail).

Seeds are fixed, so each run is the same every time. The tolerances come from the spread over
other seeds (docs/capacity.md, "How long to simulate").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.capacity.erlang import erlang_a_figures, erlang_c_figures
from bot.capacity.errors import InvalidScenario
from bot.capacity.simulate import AgentGroup, QueueLoad, Scenario, pool, simulate, simulate_pair
from bot.routing.skills import Channel, RoutingPolicy

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SINGLE_QUEUE = RoutingPolicy(acw_seconds=20, default_overflow_after_seconds=None)


def peak(agents: int, hours: float, *, patience: float | None = None, seed: int = 7) -> Scenario:
    """Monday 10–11 as a steady state: 1,662 calls/h, 71 s talk + 20 s after-call work."""
    return Scenario(
        loads=(QueueLoad("borgerservice_basis", Channel.VOICE, 1662, 71, 20, patience),),
        agents=(AgentGroup("agent", agents, {"borgerservice_basis": 5}),),
        start=START,
        measure_hours=hours,
        warmup_hours=1.0,
        policy=SINGLE_QUEUE,
        seed=seed,
    )


def test_peak_hour_agrees_with_erlang_c_within_3_points() -> None:
    # 47 agents, the concept's staffing. Over other seeds, 24-hour pairs spread with a standard
    # deviation of about 1.5 points here (twice that at 46 agents, ρ = 0.913: see the docs).
    result = simulate_pair(peak(47, hours=24))
    queue = result.queue("borgerservice_basis")
    erlang = erlang_c_figures(47, 1662, 91, 20)
    assert queue.offered > 75_000  # 2 × 24 h at 1,662 an hour
    assert queue.abandoned == 0 and queue.unresolved == 0
    assert queue.service_level == pytest.approx(erlang.service_level, abs=0.03)
    assert result.occupancy == pytest.approx(erlang.occupancy, abs=0.01)
    assert queue.asa_seconds == pytest.approx(erlang.asa_seconds, abs=2.0)


def test_peak_hour_with_60_s_patience_agrees_with_erlang_a() -> None:
    result = simulate_pair(peak(39, hours=6, patience=60))
    queue = result.queue("borgerservice_basis")
    erlang = erlang_a_figures(39, 1662, 91, 60, 20)
    assert queue.service_level == pytest.approx(erlang.service_level, abs=0.02)
    assert queue.abandon_rate == pytest.approx(erlang.p_abandon, abs=0.01)
    assert queue.asa_seconds == pytest.approx(erlang.asa_seconds, abs=1.0)


def test_same_seed_same_result_and_the_mirror_differs() -> None:
    scenario = peak(46, hours=0.5)
    assert simulate(scenario) == simulate(scenario)
    assert simulate(scenario, antithetic=True) != simulate(scenario)


def test_lognormal_handling_times_keep_their_mean() -> None:
    load = QueueLoad("q", Channel.VOICE, 600, 100, 20, handle_cv=0.5)
    scenario = Scenario(loads=(load,), agents=(AgentGroup("a", 40, {"q": 5}),), start=START, measure_hours=2,
                        policy=SINGLE_QUEUE, seed=3)  # fmt: skip
    result = simulate(scenario)
    # 40 agents for 20 Erlang: nobody waits, so occupancy is the offered work: 600 × 120 s / 3600 / 40.
    assert result.occupancy == pytest.approx(0.5, abs=0.03)
    assert result.queue("q").service_level == 1.0


def mixed_centre(seed: int = 11) -> Scenario:
    """Two phone queues, a chat queue and an e-mail queue; generalists and a few specialists."""
    policy = RoutingPolicy(
        acw_seconds=20,
        overflow_after_seconds={"pension": 30},
        default_overflow_after_seconds=None,
        overflow_targets={"pension": frozenset({"borgerservice_basis"})},
    )
    return Scenario(
        loads=(
            QueueLoad("borgerservice_basis", Channel.VOICE, 300, 160, 20),
            QueueLoad("pension", Channel.VOICE, 90, 240, 20, patience_seconds=120),
            QueueLoad("chat_basis", Channel.CHAT, 120, 400, 30),
            QueueLoad("post_basis", Channel.EMAIL, 40, 420, 60),
        ),
        agents=(
            AgentGroup("generalist", 20, {"borgerservice_basis": 7}),
            AgentGroup("pension", 4, {"pension": 9}),
            AgentGroup("chat", 6, {"chat_basis": 8, "post_basis": 4}),
            AgentGroup("post", 2, {"post_basis": 8}),
        ),
        start=START,
        measure_hours=3,
        warmup_hours=0.5,
        policy=policy,
        seed=seed,
    )


def test_mixed_centre_reports_what_erlang_cannot() -> None:
    result = simulate(mixed_centre())
    pension = result.queue("pension")
    chat = result.queue("chat_basis")
    post = result.queue("post_basis")
    assert result.agents == 32
    # Three pension specialists for ~6 Erlang: generalists take the overflow after 30 s.
    assert pension.overflow_answered > 0
    assert result.queue("borgerservice_basis").overflow_answered == 0  # no overflow configured there
    # Chat agents hold several chats at once, never more than the policy allows.
    assert 1 < result.max_concurrent[Channel.CHAT] <= 3
    assert result.max_concurrent[Channel.VOICE] == 1
    # E-mail: the share replied within the 2-hour promise, and the backlog.
    assert 0 < post.replied_within_promise <= post.offered
    assert post.peak_backlog >= post.backlog_at_end >= 0
    assert chat.offered > 0 and 0 < result.occupancy < 1


def test_overloaded_email_shows_a_growing_backlog_and_broken_promises() -> None:
    scenario = Scenario(
        loads=(QueueLoad("post_basis", Channel.EMAIL, 60, 600, 0),),  # 10 Erlang of e-mail
        agents=(AgentGroup("post", 7, {"post_basis": 8}),),  # 7 agents, 5 e-mails each at once
        start=START, measure_hours=3, warmup_hours=0, drain_hours=0,
        policy=RoutingPolicy(acw_seconds=0, default_overflow_after_seconds=None,
                             concurrency={Channel.VOICE: 1, Channel.CHAT: 3, Channel.EMAIL: 1}),
        seed=5,
    )  # fmt: skip
    post = simulate(scenario).queue("post_basis")
    assert post.backlog_at_end > 40  # about 3 h × (60 − 42) an hour
    assert post.promise_kept < 0.8
    assert post.unresolved > 0


def test_priority_queue_is_served_first_by_the_router() -> None:
    loads = (
        QueueLoad("normal", Channel.VOICE, 500, 160, 20),
        QueueLoad("saerlige_behov", Channel.VOICE, 100, 160, 20, priority=5),
    )
    scenario = Scenario(loads=loads, agents=(AgentGroup("a", 28, {"normal": 5, "saerlige_behov": 5}),),
                        start=START, measure_hours=3, policy=SINGLE_QUEUE, seed=2)  # fmt: skip
    result = simulate(scenario)
    assert result.queue("saerlige_behov").asa_seconds < result.queue("normal").asa_seconds / 3


def test_pool_sums_counts_and_keeps_the_worst_backlog() -> None:
    a, b = simulate(mixed_centre(seed=1)), simulate(mixed_centre(seed=2))
    pooled = pool(a, b)
    assert pooled.queue("pension").offered == a.queue("pension").offered + b.queue("pension").offered
    assert pooled.measured_hours == 6
    assert pooled.queue("post_basis").peak_backlog == max(a.queue("post_basis").peak_backlog,
                                                          b.queue("post_basis").peak_backlog)  # fmt: skip


def test_scenarios_refuse_nonsense() -> None:
    with pytest.raises(InvalidScenario, match="unknown queues"):
        simulate(Scenario(loads=(QueueLoad("q", Channel.VOICE, 10, 60),), agents=(AgentGroup("a", 1, {"x": 5}),),
                          start=START, measure_hours=1))  # fmt: skip
    with pytest.raises(InvalidScenario, match="at least one agent"):
        simulate(
            Scenario(loads=(QueueLoad("q", Channel.VOICE, 10, 60),), agents=(), start=START, measure_hours=1)
        )
    with pytest.raises(InvalidScenario, match="time zone"):
        Scenario(loads=(QueueLoad("q", Channel.VOICE, 10, 60),), agents=(), start=datetime(2026, 12, 7),
                 measure_hours=1)  # fmt: skip
    with pytest.raises(InvalidScenario, match="patience"):
        QueueLoad("q", Channel.VOICE, 10, 60, patience_seconds=0)
