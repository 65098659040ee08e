"""Review due dates (bot/knowledge/stale.py, bot/knowledge/review.py) and
`python -m bot knowledge stale`, with fixed instants."""

from __future__ import annotations

import argparse
import datetime as dt
from datetime import UTC

import pytest

from bot.config import ROOT, Settings
from bot.knowledge.cli import run_knowledge_command
from bot.knowledge.overlay import LocalContent, LocalOverlay
from bot.knowledge.owners import Owner, Owners, OwnersError
from bot.knowledge.review import KnowledgePaths, load_catalogue
from bot.knowledge.stale import Kind, review_items, stale_articles
from bot.retrieval.articles import Article, Source
from bot.tenants import load_tenants

pytestmark = pytest.mark.unit

OWNERS = Owners(
    default_interval_days=365,
    owners={
        "tmf": Owner(id="tmf", name="Teknik og miljø"),
        "buf": Owner(id="buf", name="Børn og unge", review_interval_days=90),
        "rk_affald": Owner(id="rk_affald", name="Rødovre – affald", tenant="rodovre", review_interval_days=30),
        "kk_affald": Owner(id="kk_affald", name="København – affald", tenant="kobenhavn"),
    },
)


def _article(id: str, reviewed: dt.date, owner: str = "tmf", days: int | None = None, tenant: str = "*") -> Article:
    return Article(id=id, topic="affald_toemning", title=f"Titel {id}", owner=owner, voice="V", body="B",
                   sources=(Source(title="S", url="https://www.borger.dk/"),), reviewed=reviewed,
                   review_interval_days=days, tenant=tenant)  # fmt: skip


def _overlay(reviewed: dt.date, days: int | None = None, tenant: str = "rodovre", owner: str = "rk_affald") -> LocalOverlay:
    return LocalOverlay(tenant=tenant, overrides="affald_toemning", sections=("rules",), owner=owner,
                        sources=(Source(title="S", url="https://www.rk.dk/"),), reviewed=reviewed,
                        review_interval_days=days)  # fmt: skip


def _items(articles=(), overlays=()):
    return review_items(list(articles), list(overlays), OWNERS)


def test_an_overlay_is_stale_the_day_after_its_interval_ends():
    items = _items([_article("affald_toemning", dt.date(2026, 11, 1))], [_overlay(dt.date(2026, 1, 1))])  # due 01-31
    # 23:59 Copenhagen on the due date (22:59 UTC in winter): not yet
    assert stale_articles(items, dt.datetime(2026, 1, 31, 22, 59, tzinfo=UTC), "rodovre") == []
    # 00:00 Copenhagen the next day (23:00 UTC on the 31st): stale, one day over
    [s] = stale_articles(items, dt.datetime(2026, 1, 31, 23, 0, tzinfo=UTC), "rodovre")
    assert (s.id, s.title, s.tenant, s.kind, s.owner, s.due, s.days_overdue) == (
        "affald_toemning", "Titel affald_toemning", "rodovre", Kind.LOCAL, "rk_affald", dt.date(2026, 1, 31), 1)


def test_summer_time_moves_the_boundary_to_22_utc():
    items = _items(overlays=[_overlay(dt.date(2026, 6, 1))])  # due 2026-07-01
    assert stale_articles(items, dt.datetime(2026, 7, 1, 21, 59, tzinfo=UTC), "rodovre") == []
    assert len(stale_articles(items, dt.datetime(2026, 7, 1, 22, 0, tzinfo=UTC), "rodovre")) == 1


def test_the_article_beats_its_owner_which_beats_the_default():
    reviewed = dt.date(2026, 1, 1)
    items = _items([
        _article("own", reviewed, owner="buf", days=10),  # own 10 days: due 01-11
        _article("owner", reviewed, owner="buf"),  # owner's 90 days: due 04-01
        _article("default", reviewed, owner="tmf"),  # installation's 365: due 2027-01-01
    ])  # fmt: skip
    assert {i.id: i.due for i in items} == {
        "own": dt.date(2026, 1, 11), "owner": dt.date(2026, 4, 1), "default": dt.date(2027, 1, 1)}
    found = stale_articles(items, dt.datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert [(s.id, s.days_overdue) for s in found] == [("own", 141), ("owner", 61)]


def test_a_tenant_sees_national_articles_and_its_own_overlays_only():
    old = dt.date(2020, 1, 1)
    items = _items(
        [_article("affald_toemning", old), _article("kk_only", old, tenant="kobenhavn", owner="kk_affald")],
        [_overlay(old), _overlay(old, tenant="kobenhavn", owner="kk_affald")],
    )
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    rodovre = stale_articles(items, now, "rodovre")
    assert {(s.id, s.tenant) for s in rodovre} == {("affald_toemning", "*"), ("affald_toemning", "rodovre")}
    kobenhavn = stale_articles(items, now, "kobenhavn")
    assert {(s.id, s.tenant) for s in kobenhavn} == {("affald_toemning", "*"), ("kk_only", "kobenhavn"),
                                                     ("affald_toemning", "kobenhavn")}  # fmt: skip
    assert len(stale_articles(items, now, None)) == 4


def test_soon_due_lists_what_falls_due_within_the_window():
    items = _items(overlays=[_overlay(dt.date(2026, 1, 1))])  # due 2026-01-31
    now = dt.datetime(2026, 1, 21, 12, tzinfo=UTC)  # ten days before
    assert stale_articles(items, now, "rodovre", soon_days=9) == []
    [s] = stale_articles(items, now, "rodovre", soon_days=10)
    assert (s.days_overdue, s.stale) == (-10, False)


def test_most_overdue_comes_first():
    now = dt.datetime(2027, 6, 1, tzinfo=UTC)
    found = stale_articles(_items([_article("x", dt.date(2025, 1, 1))], [_overlay(dt.date(2026, 12, 6))]), now)
    assert [s.id for s in found] == ["x", "affald_toemning"]


def test_now_without_a_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        stale_articles([], dt.datetime(2026, 12, 6))


def test_an_unknown_owner_is_named_with_the_article():
    with pytest.raises(OwnersError, match=r"owner 'sof'.*article 'x'.*known owners: buf, kk_affald, rk_affald, tmf"):
        _items([_article("x", dt.date(2026, 1, 1), owner="sof")])


def test_one_municipalitys_unit_cannot_own_anothers_overlay():
    with pytest.raises(OwnersError, match=r"owner 'kk_affald', key 'tenant'.*rodovre/affald_toemning"):
        _items(overlays=[_overlay(dt.date(2026, 1, 1), owner="kk_affald")])


def test_the_real_knowledge_builds_a_catalogue(national, local: LocalContent):
    """Every article and overlay in knowledge/ names an owner of knowledge/owners.yaml."""
    tenants = load_tenants(ROOT / "knowledge" / "tenants.yaml")
    catalogue = load_catalogue(KnowledgePaths(ROOT / "knowledge" / "articles", ROOT / "knowledge" / "topics.yaml"),
                               tenants)  # fmt: skip
    assert len(catalogue.items) == len(national) + len(local.overlays())
    kinds = {(i.kind, i.tenant) for i in catalogue.items}
    assert (Kind.LOCAL, "rodovre") in kinds and (Kind.LOCAL, "kobenhavn") in kinds


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
