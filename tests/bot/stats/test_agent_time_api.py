"""Occupancy and agents' time by state in the summary, from the agent-state changes the engine
records: worked out by hand for one agent's morning."""

from __future__ import annotations

import pytest

from bot.routing.skills import AgentState
from tests.bot.conftest import TENANT
from tests.bot.stats.test_stats_scenario import summary_over_http

pytestmark = pytest.mark.integration


def test_summary_gives_agents_time_by_state_and_occupancy(engine, clock, db, settings, contract, tmp_path,
                                                          monkeypatch):  # fmt: skip
    # Monday 2 March 2026, Copenhagen: offline until 10:00, available 10:00-10:30, paused
    # 10:30-10:45, available 10:45-11:00, offline from 11:00; the summary is asked at 12:00.
    engine.add_agent(TENANT, "anne", "Anne", skills={"borgerservice_basis": 5})
    engine.set_agent_state(TENANT, "anne", AgentState.AVAILABLE)  # 10:00
    clock.advance(1800)
    engine.set_agent_state(TENANT, "anne", AgentState.PAUSED)
    clock.advance(900)
    engine.set_agent_state(TENANT, "anne", AgentState.AVAILABLE)
    clock.advance(900)
    engine.set_agent_state(TENANT, "anne", AgentState.OFFLINE)
    clock.advance(3600)  # now 12:00

    r = summary_over_http(clock, db, settings, contract, tmp_path, monkeypatch)
    assert r.status_code == 200, r.text
    s = r.json()
    anne = s["agents"]["anne"]
    # The day starts at 00:00 Copenhagen (23:00 UTC the day before): 11 hours offline before 10:00
    # and 1 hour after 11:00, up to now.
    assert anne == {"available": 2700.0, "busy": 0.0, "after_contact_work": 0.0, "paused": 900.0,
                    "offline": 11 * 3600.0}  # fmt: skip
    assert s["occupancy"] == 0.0  # logged in 45 min, none of it with a citizen
    assert s["agent_seconds"]["available"] >= 2700.0
