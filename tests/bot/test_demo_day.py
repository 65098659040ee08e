"""The demo day: a scaled-down Monday played through the real engine into a real database gives
figures a wallboard and reports can show, the same for the same date, and is never doubled."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

import bot.demo_day
from bot.__main__ import main
from bot.demo_day import CPH, play_day
from bot.stats.config import TenantKpi
from bot.stats.facts import Ending
from bot.stats.report import summary_values
from bot.stats.service import load_facts
from tests.bot.conftest import TENANT

pytestmark = pytest.mark.integration
DAY = date(2026, 12, 7)


def day_facts(db):
    start = datetime.combine(DAY, datetime.min.time(), CPH)
    return load_facts(db, tenant_id=TENANT, start=start, end=start + timedelta(days=1))


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_played_day_has_every_kind_of_contact(engine, db):
    counts = play_day(engine, TENANT, DAY, scale=0.25, agents=2)
    facts = day_facts(db)
    assert len(facts) == counts["voice"] + counts["chat"] + counts["email"] > 80
    endings = {f.ending for f in facts}
    assert {Ending.AGENT_CLOSED, Ending.BOT_SELFSERVICE, Ending.LEFT_IN_BOT} <= endings
    s = summary_values(facts, TenantKpi().policy())
    assert s["offered"] > 0 and s["answered"] > 0 and s["service_level"] is not None
    assert s["bot_contained"] is not None and 0 < s["bot_contained"] < 1
    assert all(f.opened_at.astimezone(CPH).date() == DAY for f in facts)


def test_the_command_plays_a_day_once(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    monkeypatch.setenv("KONTAKT_DATABASE_URL", url)
    # The command's "now" is pinned: two days after the played day, at noon in Copenhagen.
    noon = datetime.combine(DAY + timedelta(days=2), time(12), CPH).astimezone(UTC)
    monkeypatch.setattr(bot.demo_day, "utcnow", lambda: noon)
    assert main(["demo-day", "--date", DAY.isoformat(), "--scale", "0.1", "--agents", "2"]) == 0
    assert "Playing 2026-12-07 for Københavns Kommune" in capsys.readouterr().out
    assert main(["demo-day", "--date", DAY.isoformat(), "--scale", "0.1"]) == 2
    assert "has already been played" in capsys.readouterr().err
    assert main(["demo-day", "--date", "7/12"]) == 2
    assert main(["demo-day", "--date", (DAY + timedelta(days=3)).isoformat()]) == 2
    assert "lies in the future" in capsys.readouterr().err
    assert main(["demo-day", "--tenant", "atlantis"]) == 2
    assert "atlantis" in capsys.readouterr().err
