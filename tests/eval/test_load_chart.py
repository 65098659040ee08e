"""eval.load's latency chart: drawn against the turns served, so a closed loop (no think time,
no offered rate) is drawn too."""

from __future__ import annotations

from eval.load import latency_chart_svg


def _step(conversations: int, served: float, p50: float, p99: float) -> dict:
    return {"conversations": conversations, "offered_turns_per_s": None, "turns_per_s": served,
            "p50_ms": p50, "p99_ms": p99}  # fmt: skip


def test_load_chart_draws_a_closed_loop_against_turns_served():
    svg = latency_chart_svg({"sqlite (1 w)": [_step(8, 10.0, 100, 300), _step(32, 20.0, 400, 900)]}, "t", 0.0)
    assert svg.count("<polyline") == 2  # p50 and p99
    assert "chat turns/s served (0.0 s think time)" in svg
    assert "at 32 conversations, 20.0 turns/s served" in svg


def test_load_chart_of_nothing_is_empty():
    assert latency_chart_svg({}, "t") == ""
