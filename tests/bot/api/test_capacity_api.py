"""The capacity API against the real app on a temporary SQLite database holding the generated
month of tests/bot/capacity (the same generator, imported): numbers checked against
`bot.capacity`, roles, tenant isolation and bad parameters."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.capacity import router as capacity_router
from bot.capacity.erlang import ServiceTarget, agents_for_target
from bot.capacity.forecast import ForecastOptions, StaffingOptions, forecast_from_database, staffing_table
from bot.engine import ConversationEngine
from bot.routing.skills import DEFAULT_POLICY, Channel
from bot.storage import Database
from bot.topics import TopicContract
from tests.bot.capacity.conftest import (
    CLOSED_MONDAY,
    OTHER_TENANT,
    PROFILES,
    TENANT,
    generate_month,
    slot_times,
)

pytestmark = pytest.mark.integration

PEPPER = "capacity-test-pepper-0123456789abcdefghijklmn"
DAY = date(2026, 12, 7)  # a Monday; history: 30 Nov, 23 Nov (closed), 16 Nov, 9 Nov
STAFFING = "/api/v1/capacity/staffing"
ERLANG = "/api/v1/capacity/erlang"
ACW = DEFAULT_POLICY.acw_seconds
CHAT_CONCURRENCY = DEFAULT_POLICY.concurrency[Channel.CHAT]


class ContractOnly:
    """Stands in for the NLU: the capacity pages read the topic contract (queues), never parse."""

    def __init__(self, contract: TopicContract) -> None:
        self.contract = contract


@dataclass
class World:
    client: TestClient
    db: Database
    engine: ConversationEngine
    tokens: dict[str, str]

    def get(self, path: str, who: str | None = "sara", **params: object):
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path, params=params, headers=headers)

    def ok(self, path: str, who: str = "sara", **params: object) -> dict:
        r = self.get(path, who, **params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def world(settings, contract, migrated_sqlite: Path, tmp_path_factory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("capacity-api") / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    seed = Database(url)
    try:
        generate_month(seed)
    finally:
        seed.dispose()
    local = settings.model_copy(update={"database_url": url, "agent_token_pepper": SecretStr(PEPPER)})
    app = create_app(local, routers=[agents_router, capacity_router], understanding=ContractOnly(contract))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
        with TestClient(app) as client:
            engine, pepper = app.state.engine, token_pepper(local)

            def add(tenant: str, agent_id: str, role: str) -> str:
                return create_agent(engine, pepper, tenant_id=tenant, agent_id=agent_id, name=agent_id.title(),
                                    role=role)  # fmt: skip

            tokens = {
                "sara": add(TENANT, "sara", "supervisor"),
                "adam": add(TENANT, "adam", "admin"),
                "anne": add(TENANT, "anne", "agent"),
                "frida": add(OTHER_TENANT, "frida", "supervisor"),
                "rita": add("rodovre", "rita", "supervisor"),
            }
            yield World(client, app.state.db, engine, tokens)


def expected_rows(world: World, *, tenant: str = TENANT, queue: str | None = None, **staffing: object):
    forecast = forecast_from_database(world.db, tenant_id=tenant, day=DAY, queue_id=queue,
                                      options=ForecastOptions(weeks=4, acw_seconds=ACW))  # fmt: skip
    options = StaffingOptions(chat_concurrency=CHAT_CONCURRENCY, **staffing)  # type: ignore[arg-type]
    return staffing_table(forecast.slots, options)


def flat(body: dict) -> dict[tuple[str, str], dict]:
    return {(q["id"], row["time"]): row for q in body["queues"] for row in q["rows"]}


# --- the staffing table ---------------------------------------------------------------------------


def test_staffing_rows_are_the_forecast_of_bot_capacity(world):
    body = world.ok(STAFFING, date=DAY.isoformat())
    assert body["tenant"] == {"id": TENANT, "name": "Københavns Kommune"}
    assert body["date"] == "2026-12-07" and body["weeks"] == 4
    assert body["days_used"] == ["2026-11-30", "2026-11-16", "2026-11-09"]  # the closed Monday is left out
    assert CLOSED_MONDAY.isoformat() not in body["days_used"]
    assert body["target"] == {"share": 0.8, "seconds": 20.0, "text": "80/20"}
    assert body["shrinkage"] == 0.3 and body["acw_seconds"] == ACW and body["patience_seconds"] is None
    rows = flat(body)
    expected = expected_rows(world)
    assert len(rows) == len(expected) == len(PROFILES) * len(slot_times())
    for want in expected:
        got = rows[(want.queue_id, f"{want.slot_start:%H:%M}")]
        assert got["arrivals"] == pytest.approx(want.arrivals)
        assert got["aht_seconds"] == pytest.approx(want.aht_seconds)
        assert got["offered_load"] == pytest.approx(want.offered_load)
        assert (got["agents"], got["scheduled"]) == (want.agents, want.scheduled)
        assert got["service_level"] == (
            None if want.service_level is None else pytest.approx(want.service_level)
        )
        assert got["occupancy"] == pytest.approx(want.occupancy)


def test_staffing_reproduces_the_generated_profile(world):
    body = world.ok(STAFFING, date=DAY.isoformat())
    queues = {q["id"]: q for q in body["queues"]}
    assert set(queues) == {p.queue_id for p in PROFILES}
    assert queues["borgerservice_basis"]["name"] == "Basis – generel borgerservice"  # the tenant's queue name
    for p in PROFILES:
        q = queues[p.queue_id]
        assert q["channel"] == p.channel.value
        assert [r["time"] for r in q["rows"]] == [f"{t:%H:%M}" for t in slot_times()]
        assert [r["arrivals"] for r in q["rows"]] == pytest.approx(list(p.monday))
        assert q["contacts"] == pytest.approx(sum(p.monday))
        assert q["peak_agents"] == max(r["agents"] for r in q["rows"])
    voice = {r["time"]: r for r in queues["borgerservice_basis"]["rows"]}
    ten = voice["10:00"]  # 21 calls in the half hour at 270 s + ACW
    assert ten["end"] == "10:30" and ten["aht_seconds"] == pytest.approx(270 + ACW)
    figures = agents_for_target(2 * 21, 270 + ACW, ServiceTarget(0.8, 20))
    assert ten["agents"] == figures.agents
    assert ten["scheduled"] == math.ceil(figures.agents / 0.7)
    assert ten["service_level"] == pytest.approx(figures.service_level) and ten["service_level"] >= 0.8
    chat = {r["time"]: r for r in queues["chat_basis"]["rows"]}["10:00"]
    slots = agents_for_target(2 * 10, 420 + ACW, ServiceTarget(0.8, 20)).agents
    assert chat["agents"] == math.ceil(slots / CHAT_CONCURRENCY)
    email = queues["post_basis"]["rows"][0]
    assert email["service_level"] is None and email["asa_seconds"] is None
    # The chart's totals per half hour add the queues up.
    totals = {s["time"]: s for s in body["slots"]}
    assert totals["10:00"]["arrivals"] == pytest.approx(sum(p.monday[4] for p in PROFILES))
    assert totals["10:00"]["agents"] == sum(q["rows"][4]["agents"] for q in body["queues"])
    assert totals["10:00"]["scheduled"] == sum(q["rows"][4]["scheduled"] for q in body["queues"])


def test_staffing_shrinkage_target_and_patience_follow_the_formulas(world):
    body = world.ok(STAFFING, date=DAY.isoformat(), shrinkage="0.5", target="90/30", patience="60")
    assert body["target"]["text"] == "90/30" and body["patience_seconds"] == 60.0
    rows = flat(body)
    expected = expected_rows(world, shrinkage=0.5, target=ServiceTarget(0.9, 30), patience_seconds=60.0)
    for want in expected:
        got = rows[(want.queue_id, f"{want.slot_start:%H:%M}")]
        assert (got["agents"], got["scheduled"]) == (want.agents, want.scheduled)
        assert got["scheduled"] == math.ceil(want.agents / 0.5 - 1e-9)
        assert got["p_abandon"] == pytest.approx(want.p_abandon)
    voice = rows[("borgerservice_basis", "10:00")]
    assert voice["agents"] == agents_for_target(42, 270 + ACW, ServiceTarget(0.9, 30), 60.0).agents
    assert voice["p_abandon"] > 0  # Erlang A


def test_staffing_for_one_queue(world):
    body = world.ok(STAFFING, date=DAY.isoformat(), queue="chat_basis")
    assert [q["id"] for q in body["queues"]] == ["chat_basis"]
    assert [s["agents"] for s in body["slots"]] == [r["agents"] for r in body["queues"][0]["rows"]]
    want = expected_rows(world, queue="chat_basis")
    assert [r["agents"] for r in body["queues"][0]["rows"]] == [w.agents for w in want]


def test_staffing_for_a_day_without_history_is_empty(world):
    body = world.ok(STAFFING, date="2026-11-02")  # the first generated day: nothing before it
    assert body["days_used"] == [] and body["queues"] == [] and body["slots"] == []


@pytest.mark.parametrize(
    ("now", "tomorrow"),
    [
        (datetime(2026, 12, 6, 22, 30, tzinfo=UTC), "2026-12-07"),  # 23:30 in Copenhagen
        (datetime(2026, 12, 6, 23, 30, tzinfo=UTC), "2026-12-08"),  # already 00:30 on the 7th
        (datetime(2026, 3, 29, 22, 30, tzinfo=UTC), "2026-03-31"),  # summer time: 00:30 on the 30th
    ],
)
def test_staffing_without_a_date_is_tomorrow_in_copenhagen(world, monkeypatch, now, tomorrow):
    monkeypatch.setattr(world.engine, "clock", lambda: now)
    assert world.ok(STAFFING)["date"] == tomorrow
    assert world.ok(STAFFING, date="")["date"] == tomorrow


def test_staffing_admin_may_read_it(world):
    assert world.ok(STAFFING, who="adam", date=DAY.isoformat())["tenant"]["id"] == TENANT


# --- tenants and roles ----------------------------------------------------------------------------


def test_staffing_another_tenant_sees_only_its_own_history(world):
    mine = world.ok(STAFFING, date=DAY.isoformat())
    other = world.ok(STAFFING, who="frida", date=DAY.isoformat())
    assert other["tenant"]["id"] == OTHER_TENANT
    assert flat(other).keys() == flat(mine).keys()
    for key, row in flat(other).items():  # frederiksberg's Mondays are twice as busy
        assert row["arrivals"] == pytest.approx(2 * flat(mine)[key]["arrivals"])
    for want in expected_rows(world, tenant=OTHER_TENANT):
        got = flat(other)[(want.queue_id, f"{want.slot_start:%H:%M}")]
        assert (got["arrivals"], got["agents"]) == (pytest.approx(want.arrivals), want.agents)
    empty = world.ok(STAFFING, who="rita", date=DAY.isoformat())  # rodovre: no contacts at all
    assert empty["tenant"]["id"] == "rodovre"
    assert empty["queues"] == [] and empty["slots"] == [] and empty["days_used"] == []


def test_staffing_a_queue_of_no_tenant_is_refused(world):
    r = world.get(STAFFING, date=DAY.isoformat(), queue="frederiksberg_only")
    assert r.status_code == 422 and "queue" in r.json()["message"]


@pytest.mark.parametrize("path", [STAFFING, ERLANG])
def test_capacity_agent_role_is_403_and_no_token_401(world, path):
    params = {"date": DAY.isoformat(), "calls": "100", "aht": "180"}
    r = world.get(path, "anne", **params)
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden"
    r = world.get(path, None, **params)
    assert r.status_code == 401 and r.json()["error"] == "NotAuthenticated"
    r = world.client.get(path, params=params, headers={"Authorization": "Bearer kontakt_not-a-token"})
    assert r.status_code == 401
    assert r.headers["Cache-Control"] == "no-store"


# --- bad parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"date": "2026-13-01"}, "date"),
        ({"date": "i morgen"}, "date"),
        ({"date": "0001-01-01"}, "date"),
        ({"date": "9999-12-31"}, "date"),
        ({"date": "2026-12-07", "weeks": "0"}, "weeks"),
        ({"date": "2026-12-07", "weeks": "2.5"}, "weeks"),
        ({"date": "2026-12-07", "weeks": "100000"}, "weeks"),
        ({"date": "2026-12-07", "shrinkage": "1"}, "shrinkage"),
        ({"date": "2026-12-07", "shrinkage": "-0.1"}, "shrinkage"),
        ({"date": "2026-12-07", "shrinkage": "nan"}, "shrinkage"),
        ({"date": "2026-12-07", "shrinkage": "30 %"}, "shrinkage"),
        ({"date": "2026-12-07", "target": "80"}, "service target"),
        ({"date": "2026-12-07", "target": "100/20"}, "service target"),
        ({"date": "2026-12-07", "target": "abc/20"}, "service target"),
        ({"date": "2026-12-07", "target": "80/inf"}, "service target"),
        ({"date": "2026-12-07", "target": "10/0"}, "service target"),
        ({"date": "2026-12-07", "patience": "0"}, "patience"),
        ({"date": "2026-12-07", "patience": "inf"}, "patience"),
        ({"date": "2026-12-07", "queue": "x" * 5000}, "queue"),
    ],
)
def test_staffing_bad_parameters_are_422_naming_them(world, params, named):
    r = world.get(STAFFING, **params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_parameter" and named in body["message"]
    assert len(body["message"]) < 400


@pytest.mark.parametrize(
    "query",
    ["date=2026-12-07%ED%A0%80", "date=%00", "date=2026-12-07&weeks=%FF", "date=2026-12-07&queue=%ED%A0%80"],
)
def test_staffing_undecodable_query_values_are_422(world, query):
    r = world.client.get(f"{STAFFING}?{query}", headers={"Authorization": f"Bearer {world.tokens['sara']}"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_parameter"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"calls": "-1", "aht": "91"}, "calls"),
        ({"calls": "mange", "aht": "91"}, "calls"),
        ({"calls": "1662", "aht": "0"}, "aht"),
        ({"calls": "1e308", "aht": "91"}, "calls"),
        ({"calls": "20000", "aht": "3600"}, "Erlang"),
        ({"calls": "10000", "aht": "360", "patience": "3600"}, "Erlang A"),
        ({"calls": "1662", "aht": "91", "target": "1/0"}, "service target"),
        ({"calls": "1662", "aht": "91", "target": "80/-1"}, "service target"),
        ({"calls": "1662", "aht": "91", "patience": "-60"}, "patience"),
    ],
)
def test_erlang_bad_parameters_are_422_naming_them(world, params, named):
    r = world.get(ERLANG, **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_parameter" and named in r.json()["message"]


# --- what-if --------------------------------------------------------------------------------------


def test_erlang_what_if_is_the_concept_peak_hour(world):
    body = world.ok(ERLANG, calls="1662", aht="91", target="80/20")
    needed = body["needed"]
    assert needed["model"] == "erlang_c" and needed["agents"] == 46
    assert needed["service_level"] == pytest.approx(0.816, abs=5e-4)
    assert needed["offered_load"] == pytest.approx(42.0, abs=0.02)
    assert [n["agents"] for n in body["neighbours"]] == [45, 47]
    assert body["neighbours"][0]["service_level"] < 0.8 <= body["neighbours"][1]["service_level"]
    assert body["erlang_c"] is None


def test_erlang_what_if_defaults_to_the_concept_peak_hour(world):
    body = world.ok(ERLANG)
    assert (body["calls_per_hour"], body["aht_seconds"], body["needed"]["agents"]) == (1662, 91, 46)


def test_erlang_what_if_with_patience_is_erlang_a(world):
    body = world.ok(ERLANG, calls="1662", aht="91", patience="60")
    assert body["needed"]["model"] == "erlang_a" and body["needed"]["agents"] == 39
    assert body["needed"]["p_abandon"] == pytest.approx(0.110, abs=5e-4)
    assert body["erlang_c"]["agents"] == 46


def test_erlang_what_if_without_traffic_needs_nobody(world):
    body = world.ok(ERLANG, calls="0", aht="120")
    assert body["needed"]["agents"] == 0 and body["neighbours"] == [{**body["neighbours"][0], "agents": 1}]


# --- vendored chart library -----------------------------------------------------------------------


def test_vendored_chart_library_is_served_with_its_licence(world):
    r = world.client.get("/agent/static/vendor/chart.umd.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.text.startswith("/*!\n * Chart.js v4.")
    licence = world.client.get("/agent/static/vendor/chart.js-LICENSE.md")
    assert licence.status_code == 200 and "MIT License" in licence.text
    assert world.client.get("/agent/static/vendor/..%2Fconsole%2Findex.html").status_code == 404
    assert world.client.get("/agent/static/vendor/chart.js").status_code == 404


# --- any text in any parameter --------------------------------------------------------------------

_value = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["2026-12-07", "80/20", "0.3", "60", "4", "chat_basis", "1e-300", "-0", "0x10", "1_0"]),
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["date", "queue", "weeks", "shrinkage", "target", "patience"]), _value
    )
)
def test_staffing_any_parameter_text_is_200_or_422(world, params):
    r = world.get(STAFFING, **params)
    assert r.status_code in (200, 422), (params, r.status_code, r.text[:300])


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(st.sampled_from(["calls", "aht", "target", "patience"]), _value))
def test_erlang_any_parameter_text_is_200_or_422(world, params):
    r = world.get(ERLANG, **params)
    assert r.status_code in (200, 422), (params, r.status_code, r.text[:300])
