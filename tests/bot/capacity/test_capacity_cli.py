"""`python -m bot capacity`: the peak-hour report, --simulate, and the table from history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.capacity.cli import main
from tests.bot.capacity.conftest import TENANT

ROOT = Path(__file__).resolve().parents[3]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_default_is_the_concepts_peak_hour(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "42.0 Erlang" in out
    assert "Erlang C: 46 agents → 81.6 % within 20 s, ASA 10.1 s" in out
    assert "staffed 47 agents for this hour: 88.3 %" in out


def test_json_keys_and_erlang_c_figures(capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, "--calls", "1662", "--aht", "91", "--target", "80/20")
    assert report["agents"] == 46
    assert report["service_level"] == pytest.approx(0.816, abs=0.0005)
    assert report["asa_seconds"] == pytest.approx(10.1, abs=0.05)
    assert report["occupancy"] == pytest.approx(0.913, abs=0.0005)
    assert [n["agents"] for n in report["neighbours"]] == [45, 47]  # type: ignore[union-attr]
    assert report["concept"]["service_level"] == pytest.approx(0.883, abs=0.0005)  # type: ignore[index]


def test_patience_switches_to_erlang_a(capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(capsys, "--patience", "60")
    assert (report["model"], report["agents"]) == ("erlang_a", 39)
    assert report["p_abandon"] == pytest.approx(0.110, abs=0.001)
    assert report["erlang_c"]["agents"] == 46  # type: ignore[index]


def test_simulate_through_python_m_bot() -> None:
    env = {**os.environ, "KONTAKT_DATABASE_URL": "sqlite:///:memory:"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "capacity", "--json", "--simulate", "--hours", "0.5", "--seed", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["agents"] == 46
    assert 0.5 < report["simulated_service_level"] <= 1.0
    assert report["simulated_hours"] == 1.0  # two paired half-hour runs
    assert {"agents", "service_level", "asa_seconds", "occupancy", "simulated_service_level"} <= report.keys()


def test_bad_target_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target", "80"]) == 2
    assert "80/20" in capsys.readouterr().err


def test_from_history_prints_the_half_hour_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, month_db_url: str
) -> None:
    monkeypatch.setenv("KONTAKT_DATABASE_URL", month_db_url)
    report = run_json(capsys, "--from-history", "--date", "2026-12-07", "--tenant", TENANT, "--acw", "20",
                      "--shrinkage", "0.25")  # fmt: skip
    assert report["days_used"] == ["2026-11-30", "2026-11-16", "2026-11-09"]
    rows = {(r["time"], r["queue"]): r for r in report["rows"]}  # type: ignore[union-attr]
    peak = rows[("10:00", "borgerservice_basis")]
    assert (peak["contacts"], peak["aht_seconds"], peak["agents"], peak["scheduled"]) == (21.0, 290.0, 6, 8)
    assert rows[("10:00", "post_basis")]["service_level"] is None

    assert main(["--from-history", "--date", "2026-12-07", "--tenant", TENANT, "--queue", "chat_basis"]) == 0
    text = capsys.readouterr().out
    assert "Monday 2026-12-07" in text and "chat_basis" in text and "borgerservice_basis" not in text


def test_from_history_needs_a_date_and_a_tenant_when_there_are_several(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, month_db_url: str
) -> None:
    monkeypatch.setenv("KONTAKT_DATABASE_URL", month_db_url)
    assert main(["--from-history"]) == 2
    assert "--date" in capsys.readouterr().err
    assert main(["--from-history", "--date", "2026-12-07"]) == 2
    assert "--tenant" in capsys.readouterr().err
