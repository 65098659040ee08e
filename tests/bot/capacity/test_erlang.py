"""Erlang C and Erlang A against the Copenhagen concept's peak hour (Monday 10–11: 1,662 calls,
71 s talk + 20 s after-call work) and against limits the formulas must reach."""

from __future__ import annotations

import math

import pytest

from bot.capacity.erlang import (
    QueueModel,
    ServiceTarget,
    agents_for_target,
    erlang_a_figures,
    erlang_b,
    erlang_c,
    erlang_c_figures,
    offered_load,
    queue_figures,
)
from bot.capacity.errors import CapacityError, InvalidServiceTarget, UnreachableTarget

CALLS, AHT = 1662, 91
TARGET = ServiceTarget(0.80, 20)

pytestmark = pytest.mark.unit


def test_offered_load_of_the_peak_hour_is_42_erlang() -> None:
    assert offered_load(CALLS, AHT) == pytest.approx(42.01, abs=0.01)


@pytest.mark.parametrize(
    ("agents", "p_wait", "service_level", "asa", "occupancy"),
    [
        (45, 0.551, 0.715, 16.8, 0.934),
        (46, 0.442, 0.816, 10.1, 0.913),
        (47, 0.351, 0.883, 6.4, 0.894),
    ],
)
def test_erlang_c_peak_hour_table(
    agents: int, p_wait: float, service_level: float, asa: float, occupancy: float
) -> None:
    figures = erlang_c_figures(agents, CALLS, AHT, 20)
    assert figures.p_wait == pytest.approx(p_wait, abs=0.0005)
    # 45 agents give 71.45 %: the research table's 71.5 % rounds the load to 42.0 Erlang first.
    assert figures.service_level == pytest.approx(service_level, abs=0.001)
    assert figures.asa_seconds == pytest.approx(asa, abs=0.05)
    assert figures.occupancy == pytest.approx(occupancy, abs=0.0005)


def test_erlang_c_needs_46_agents_for_80_20_not_the_concepts_47() -> None:
    figures = agents_for_target(CALLS, AHT, TARGET)
    assert figures.model is QueueModel.ERLANG_C
    assert figures.agents == 46
    assert round(figures.service_level, 3) == 0.816


def test_erlang_a_with_60_s_patience_needs_39_agents_and_11_percent_abandon() -> None:
    figures = agents_for_target(CALLS, AHT, TARGET, patience_seconds=60)
    assert figures.model is QueueModel.ERLANG_A
    assert figures.agents == 39
    # What the formula gives (tolerance: the third decimal).
    assert figures.service_level == pytest.approx(0.819, abs=0.001)
    assert figures.p_abandon == pytest.approx(0.110, abs=0.001)
    assert figures.asa_seconds == pytest.approx(6.38, abs=0.01)
    assert erlang_a_figures(38, CALLS, AHT, 60, 20).service_level < 0.80
    forty = erlang_a_figures(40, CALLS, AHT, 60, 20)
    assert forty.p_abandon == pytest.approx(0.0945, abs=0.0005)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    a = erlang_a_figures(46, CALLS, AHT, 1e9, 20)
    c = erlang_c_figures(46, CALLS, AHT, 20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.p_wait == pytest.approx(c.p_wait, abs=1e-6)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, abs=1e-4)
    assert a.p_abandon < 1e-7


def test_erlang_a_is_defined_in_overload_where_erlang_c_is_not() -> None:
    c = erlang_c_figures(40, CALLS, AHT, 20)
    assert c.p_wait == 1.0 and c.service_level == 0.0 and math.isinf(c.asa_seconds)
    a = erlang_a_figures(30, CALLS, AHT, 60, 20)
    # In overload the answered throughput is at most n·μ: abandonment takes the excess.
    assert a.p_abandon >= 1 - 30 / a.offered_load - 1e-9
    assert 0 < a.service_level < 30 / a.offered_load


def test_erlang_a_with_zero_threshold_is_the_chance_of_an_idle_agent() -> None:
    a = erlang_a_figures(46, CALLS, AHT, 60, 0)
    assert a.service_level == pytest.approx(1 - a.p_wait)


def test_erlang_a_without_agents_loses_everyone() -> None:
    a = erlang_a_figures(0, CALLS, AHT, 60, 20)
    assert (a.service_level, a.p_abandon) == (0.0, 1.0)


def test_erlang_b_recursion_is_stable_for_large_systems() -> None:
    # 5,000 agents: factorial sums would overflow a float; the recursion does not.
    b = erlang_b(5000, 4900.0)
    assert 0 < b < 0.01
    assert erlang_c(5000, 4900.0) > b


def test_no_traffic_needs_no_agents() -> None:
    assert agents_for_target(0, AHT, TARGET).agents == 0
    assert queue_figures(0, 0, AHT, 20).service_level == 1.0


@pytest.mark.parametrize(("text", "share", "seconds"), [("80/20", 0.8, 20.0), ("90/15.5", 0.9, 15.5)])
def test_service_target_parse(text: str, share: float, seconds: float) -> None:
    target = ServiceTarget.parse(text)
    assert (target.share, target.seconds) == (pytest.approx(share), seconds)


@pytest.mark.parametrize("text", ["80", "80-20", "abc/20", "100/20", "0/20", "80/-1"])
def test_service_target_parse_refuses_nonsense(text: str) -> None:
    with pytest.raises(InvalidServiceTarget, match="80/20|between 0 and 1"):
        ServiceTarget.parse(text)


def test_bad_inputs_are_refused_with_a_message() -> None:
    with pytest.raises(CapacityError, match="aht_seconds"):
        offered_load(100, 0)
    with pytest.raises(CapacityError, match="agents"):
        erlang_c_figures(-1, 100, 90, 20)
    with pytest.raises(UnreachableTarget, match="max_agents"):
        agents_for_target(CALLS, AHT, TARGET, max_agents=44)
