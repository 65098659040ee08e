"""The KPI API on the hand-built log of `stats_log` (SQLite and PostgreSQL), with every figure
worked out by hand: summary as JSON and CSV, groups and drill-down, contacts CSV, thresholds
from the configuration file, metering, roles and tenant isolation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.wallboard import stats_router
from bot.storage import Database
from tests.bot.api.stats_log import DAY_FROM, DAY_TO, OTHER, TENANT, write_log
from tests.bot.api.test_capacity_api import ContractOnly

pytestmark = pytest.mark.integration

PEPPER = "stats-test-pepper-0123456789abcdefghijklmnopq"
SUMMARY = "/api/v1/stats/summary"
CONTACTS = "/api/v1/stats/contacts"
DAY = {"from": DAY_FROM, "to": DAY_TO}


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    kpi_file: Path

    def get(self, path: str, who: str | None = "sara", headers: dict[str, str] | None = None, **params: object):
        h = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path, params=params, headers={**h, **(headers or {})})

    def ok(self, path: str, who: str = "sara", **params: object) -> dict:
        r = self.get(path, who, **params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def world(db: Database, settings, contract, tmp_path, monkeypatch) -> Iterator[World]:
    kpi_file = tmp_path / "kpi.yaml"
    kpi_file.write_text("default: {}\n", encoding="utf-8")
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": db.url, "agent_token_pepper": SecretStr(PEPPER),
                                        "kpi_file": kpi_file})  # fmt: skip
    app = create_app(local, routers=[stats_router], understanding=ContractOnly(contract))
    with TestClient(app) as client:
        write_log(db)
        engine, pepper = app.state.engine, token_pepper(local)

        def add(tenant: str, agent_id: str, role: str) -> str:
            return create_agent(engine, pepper, tenant_id=tenant, agent_id=agent_id, name=agent_id.title(), role=role)

        tokens = {"sara": add(TENANT, "sara", "supervisor"), "anne": add(TENANT, "anne", "agent"),
                  "rita": add(OTHER, "rita", "supervisor")}  # fmt: skip
        yield World(client, tokens, kpi_file)


def test_summary_of_the_hand_built_day(world):
    body = world.ok(SUMMARY, **DAY)
    assert body["tenant"] == TENANT
    assert body["contacts"] == 9  # A..I; X belongs to rodovre
    # Queued on voice or chat: B (12 s), C (abandoned 30 s), D (short abandon 3 s), E (25 s).
    assert body["offered"] == 3  # D is a short abandon: not counted by default
    assert body["answered"] == 2  # B, E
    assert body["abandoned"] == 1  # C
    assert body["short_abandons"] == 1  # D
    assert body["service_level"] == pytest.approx(1 / 3, abs=1e-4)  # B within 20 s / (B, E, C)
    assert body["parts"]["service_level"] == {"numerator": 1, "denominator": 3}
    assert body["asa_seconds"] == pytest.approx(18.5)  # (12 + 25) / 2
    assert body["longest_wait_seconds"] == 30.0
    assert body["abandonment_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert body["handled"] == 4  # B, E, F, G
    # Bot replied and ended: A (answered), B (handed off), H (left), I (answered) -> 2 / 4.
    assert body["bot_contained"] == 0.5
    # Ended in the denominator: A, B, E, F, G, I (C, D abandoned and H left the bot are not).
    # Resolved: A, I (bot), B (straksafklaret), F (straksafklaret), G (henvist); E was omstillet.
    assert body["first_contact_resolution"] == pytest.approx(5 / 6, abs=1e-4)
    assert body["handoffs"] == 6  # B, C, D, E, F, G
    assert body["transfers"] == 0
    # F answered an hour after its deadline; G's deadline (from the contact row) was met.
    assert body["email_deadline_met"] == 0.5
    assert body["thresholds"]["service_level_seconds"] == 20.0


def test_group_by_queue_and_drill_down_to_its_contacts(world):
    body = world.ok(SUMMARY, group_by="queue", **DAY)
    groups = {g["key"]: g for g in body["groups"]}
    assert set(groups) == {"borgerservice_basis", "boligstoette_orlov", "none"}
    basis = groups["borgerservice_basis"]
    assert (basis["contacts"], basis["offered"], basis["answered"], basis["abandoned"]) == (5, 2, 1, 1)
    assert basis["service_level"] == 0.0  # E was late, C abandoned
    assert groups["boligstoette_orlov"]["service_level"] == 1.0
    assert groups["none"]["contacts"] == 3  # A, H, I never queued
    listed = world.ok(CONTACTS, group_by="queue", key="borgerservice_basis", **DAY)
    assert [c["contact_id"] for c in listed["contacts"]] == ["C", "D", "E", "F", "G"]
    results = {c["contact_id"]: c["queue_result"] for c in listed["contacts"]}
    assert results == {"C": "abandoned", "D": "short_abandon", "E": "answered_late", "F": "not_queued",
                       "G": "not_queued"}  # fmt: skip


def test_group_by_hour_uses_local_hours_and_drills_down(world):
    body = world.ok(SUMMARY, group_by="hour", **DAY)
    assert [(g["key"], g["contacts"]) for g in body["groups"]] == [
        ("2026-12-07T10:00+01:00", 7), ("2026-12-07T11:00+01:00", 1), ("2026-12-07T19:00+01:00", 1)
    ]  # fmt: skip
    listed = world.ok(CONTACTS, group_by="hour", key="2026-12-07T11:00+01:00", **DAY)
    assert [c["contact_id"] for c in listed["contacts"]] == ["H"]
    assert listed["contacts"][0]["ending"] == "left_in_bot"


def test_filters_by_queue_and_channel(world):
    voice = world.ok(SUMMARY, channel="voice", **DAY)
    assert (voice["contacts"], voice["offered"], voice["answered"]) == (3, 2, 1)
    bolig = world.ok(SUMMARY, queue="boligstoette_orlov", **DAY)
    assert (bolig["contacts"], bolig["answered"], bolig["service_level"]) == (1, 1, 1.0)


def test_summary_as_csv_by_parameter_and_by_accept_header(world):
    for r in (world.get(SUMMARY, format="csv", group_by="channel", **DAY),
              world.get(SUMMARY, headers={"Accept": "text/csv"}, group_by="channel", **DAY)):  # fmt: skip
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        by = {row["group"]: row for row in rows}
        assert set(by) == {"chat", "voice", "email", "total"}
        assert by["total"]["offered"] == "3" and by["total"]["service_level"] == "0.3333"
        assert by["email"]["email_deadline_met"] == "0.5" and by["email"]["service_level"] == ""


def test_contacts_csv_has_one_row_per_contact(world):
    r = world.get("/api/v1/stats/contacts.csv", **DAY)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["contact_id"] for row in rows] == ["A", "B", "C", "D", "E", "F", "G", "H", "I"]
    b = rows[1]
    assert (b["ending"], b["waited_seconds"], b["handled_seconds"], b["acw_seconds"], b["outcome"]) == (
        "agent_closed", "12.0", "240.0", "20.0", "straksafklaret")  # fmt: skip
    assert "0101901234" not in r.text  # no citizen text at all, let alone a CPR number


def test_a_queue_threshold_from_the_configuration_changes_the_figures(world):
    # E waited 25 s: late against the default 20 s, in time against 30 s for its queue.
    world.kpi_file.write_text(
        "tenants:\n  kobenhavn:\n    rules:\n      - queue: borgerservice_basis\n        service_level_seconds: 30\n",
        encoding="utf-8",
    )
    body = world.ok(SUMMARY, **DAY)
    assert body["service_level"] == pytest.approx(2 / 3, abs=1e-4)  # B and E in time / (B, E, C)
    assert body["asa_seconds"] == pytest.approx(18.5)  # waits do not depend on thresholds
    # A short-abandon threshold of 40 s makes C's 30 s a short abandon: out of every denominator.
    world.kpi_file.write_text(
        "tenants:\n  kobenhavn:\n    rules:\n      - queue: borgerservice_basis\n        service_level_seconds: 30\n"
        "        short_abandon_seconds: 40\n",
        encoding="utf-8",
    )
    body = world.ok(SUMMARY, **DAY)
    assert (body["offered"], body["abandoned"], body["short_abandons"]) == (2, 0, 2)
    assert body["service_level"] == 1.0


def test_metering_per_channel_for_settlement(world):
    body = world.ok("/api/v1/stats/metering", month="2026-12")
    rows = {r["channel"]: r for r in body["rows"]}
    # chat: A, I, H in the bot (H left it), B handled; I came at 19:30, after closing (08-18).
    assert rows["chat"] == {"tenant": TENANT, "month": "2026-12", "channel": "chat", "contacts": 4, "bot_only": 3,
                            "human_handled": 1, "other": 0, "handled_minutes": 4.33, "in_opening_hours": 3,
                            "outside_opening_hours": 1}  # fmt: skip
    # voice: E handled 180 s; C and D abandoned in the queue.
    assert (rows["voice"]["human_handled"], rows["voice"]["other"], rows["voice"]["handled_minutes"]) == (1, 2, 3.0)
    # e-mail: F and G, 6 minutes each from acceptance to close.
    assert (rows["email"]["contacts"], rows["email"]["handled_minutes"]) == (2, 12.0)
    r = world.get("/api/v1/stats/metering", month="2026-12", format="csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == ("tenant,month,channel,contacts,bot_only,human_handled,other,handled_minutes,"
                        "in_opening_hours,outside_opening_hours")  # fmt: skip
    assert lines[1] == "kobenhavn,2026-12,voice,3,0,1,2,3.0,3,0"


def test_another_tenants_supervisor_sees_none_of_it(world):
    assert world.get(SUMMARY, "rita", tenant=TENANT, **DAY).status_code == 404
    assert world.get(CONTACTS, "rita", tenant=TENANT, **DAY).status_code == 404
    own = world.ok(CONTACTS, "rita", **DAY)
    assert [c["contact_id"] for c in own["contacts"]] == ["X"]
    assert world.ok(SUMMARY, "rita", **DAY)["contacts"] == 1
    assert world.get(SUMMARY, "anne", **DAY).status_code == 403
    assert world.get(SUMMARY, None, **DAY).status_code == 401


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "2026-12-07T00:00:00", "to": DAY_TO}, "offset"),
        ({"from": "yesterday", "to": DAY_TO}, "from"),
        ({"from": DAY_TO, "to": DAY_FROM}, "after"),
        ({**DAY, "group_by": "agent"}, "group_by"),
        ({**DAY, "channel": "fax"}, "channel"),
        ({"from": "9999-12-30T00:00:00+00:00", "to": "9999-12-31T00:00:00+00:00"}, "2100"),
        ({"from": "0001-01-01", "to": DAY_TO}, "2000"),
        ({**DAY, "format": "xml"}, "format"),
        ({**DAY, "group_by": "queue", "key": ""}, "key"),
    ],
)
def test_bad_parameters_answer_422_naming_them(world, params, named):
    r = world.get(CONTACTS if "key" in params else SUMMARY, **params)
    assert r.status_code == 422, r.text
    assert named in r.json()["message"]


@pytest.mark.parametrize("month", ["9999-12", "0-1", "2026-13", "december"])
def test_a_bad_month_answers_422(world, month):
    r = world.get("/api/v1/stats/metering", month=month)
    assert r.status_code == 422 and "month" in r.json()["message"], r.text
