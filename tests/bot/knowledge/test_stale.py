"""Review due dates (bot/knowledge/stale.py) and `python -m bot knowledge stale`."""

from __future__ import annotations

import argparse
import datetime as dt
from datetime import UTC

import pytest

from bot.config import ROOT, Settings
from bot.knowledge.cli import run_knowledge_command
from bot.knowledge.overlay import LocalOverlay
from bot.knowledge.stale import ReviewPolicy, load_policy, stale_articles
from bot.retrieval.articles import Article, Source

pytestmark = pytest.mark.unit


def _article(id: str, reviewed: dt.date, owner: str = "TMF") -> Article:
    return Article(id=id, topic="affald_toemning", title="T", owner=owner, voice="V", body="B",
                   sources=(Source(title="S", url="https://www.borger.dk/"),), reviewed=reviewed)


def _overlay(reviewed: dt.date, days: int) -> LocalOverlay:
    return LocalOverlay(tenant="rodovre", overrides="affald_toemning", sections=("rules",), owner="Rødovre – affald",
                        sources=(Source(title="S", url="https://www.rk.dk/"),), reviewed=reviewed,
                        review_interval_days=days)


def test_an_overlay_is_stale_the_day_after_its_interval_ends():
    o = _overlay(dt.date(2026, 1, 1), 30)  # due 2026-01-31
    assert stale_articles([o], dt.datetime(2026, 1, 31, 12, 0, tzinfo=UTC)) == []
    [s] = stale_articles([o], dt.datetime(2026, 2, 1, 12, 0, tzinfo=UTC))
    assert (s.id, s.tenant, s.kind, s.due, s.days_overdue) == ("affald_toemning", "rodovre", "local",
                                                                dt.date(2026, 1, 31), 1)


def test_the_day_is_counted_in_copenhagen_time():
    o = _overlay(dt.date(2026, 1, 1), 30)
    # 23:30 UTC on the 31st is already 1 February in Copenhagen
    assert len(stale_articles([o], dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC))) == 1


def test_national_articles_use_their_owners_interval_else_the_default():
    policy = ReviewPolicy(default_days=365, by_owner={"BUF": 90})
    now = dt.datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    old_buf = _article("boern_pladsanvisning", dt.date(2026, 8, 1), owner="BUF")  # due 2026-10-30
    old_tmf = _article("affald_toemning", dt.date(2026, 8, 1), owner="TMF")  # due 2027-08-01
    found = stale_articles([old_tmf, old_buf], now, policy)
    assert [(s.id, s.kind, s.days_overdue) for s in found] == [("boern_pladsanvisning", "national", 37)]


def test_most_overdue_comes_first():
    now = dt.datetime(2027, 6, 1, tzinfo=UTC)
    found = stale_articles([_overlay(dt.date(2026, 12, 6), 30), _article("x", dt.date(2025, 1, 1))], now)
    assert [s.id for s in found] == ["x", "affald_toemning"]


def test_now_without_a_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        stale_articles([], dt.datetime(2026, 12, 6))


def test_review_policy_file(tmp_path):
    assert load_policy(tmp_path / "missing.yaml") == ReviewPolicy()
    p = tmp_path / "review.yaml"
    p.write_text("default_interval_days: 200\nowners:\n  BUF: 90\n", encoding="utf-8")
    assert load_policy(p) == ReviewPolicy(200, {"BUF": 90})
    assert load_policy(ROOT / "knowledge" / "local" / "review.yaml").default_days > 0


def _settings() -> Settings:
    return Settings(articles_dir=ROOT / "knowledge" / "articles", topics_file=ROOT / "knowledge" / "topics.yaml",
                    tenants_file=ROOT / "knowledge" / "tenants.yaml")


def test_cli_lists_a_tenants_overlays_when_they_are_due(capsys):
    args = argparse.Namespace(command="knowledge", knowledge_action="stale", tenant="rodovre")
    assert run_knowledge_command(args, _settings(), now=dt.datetime(2026, 12, 7, tzinfo=UTC)) == 0
    assert "nothing is due" in capsys.readouterr().out  # every overlay was reviewed on 2026-12-06
    assert run_knowledge_command(args, _settings(), now=dt.datetime(2031, 1, 1, tzinfo=UTC)) == 0
    out = capsys.readouterr().out
    assert "rodovre" in out and "byggeri_byggeansoegning" in out and "kobenhavn" not in out


def test_cli_refuses_an_unknown_tenant(capsys):
    args = argparse.Namespace(command="knowledge", knowledge_action="stale", tenant="ballerup")
    assert run_knowledge_command(args, _settings(), now=dt.datetime(2026, 12, 7, tzinfo=UTC)) == 1
    assert "ballerup" in capsys.readouterr().err
