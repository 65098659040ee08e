"""Checking an edited article file as the loaders do, and the change log's summary."""

from __future__ import annotations

import pytest

from bot.config import ROOT
from bot.errors import ArticleTooLarge, InvalidArticle
from bot.knowledge.editing import MAX_ARTICLE_CHARS, change_summary, check_draft, draft_id
from bot.topics import load_contract

NATIONAL = (ROOT / "knowledge" / "articles" / "affald" / "affald_toemning.md").read_text(encoding="utf-8")
OVERLAY = (ROOT / "knowledge" / "local" / "kobenhavn" / "affald_toemning.md").read_text(encoding="utf-8")
TENANTS = ("kobenhavn", "rodovre")


@pytest.fixture(scope="module")
def check(national, local):
    contract = load_contract(ROOT / "knowledge" / "topics.yaml")
    by_id = {a.id: a for a in national}

    def run(text: str, scope: str = "*", article_id: str = "affald_toemning"):
        return check_draft(text, scope=scope, article_id=article_id, contract=contract, national=by_id,
                           local=local, tenant_ids=TENANTS)  # fmt: skip

    return run


def test_the_repository_files_pass_unchanged(check):
    assert check(NATIONAL).article.id == "affald_toemning"
    assert check(OVERLAY, "kobenhavn").overlay.overrides == "affald_toemning"


@pytest.mark.parametrize(("scope", "text", "field"), [
    ("*", NATIONAL.replace("sources:", "kilder:", 1), "sources"),
    ("*", NATIONAL.replace("voice: >-", "voice: ''\nxvoice: >-", 1), "voice"),
    ("*", NATIONAL.replace('tenant: "*"', "tenant: kobenhavn", 1), "tenant"),
    # An overlay lies in its own municipality's scope, and its sources need their addresses.
    ("kobenhavn", OVERLAY.replace("tenant: kobenhavn", "tenant: rodovre", 1), "tenant"),
    ("rodovre", OVERLAY.replace("tenant: kobenhavn", "tenant: rodovre", 1).replace("https://www.kk.dk", "kk.dk"),
     "sources"),
])  # fmt: skip
def test_refusals_name_the_field(check, scope, text, field):
    with pytest.raises(InvalidArticle) as info:
        check(text, scope)
    assert info.value.field == field, str(info.value)


def test_an_overlay_of_a_municipality_without_local_settings_is_refused(check, national, local):
    with pytest.raises(InvalidArticle, match="no knowledge/local/ballerup/tenant.yaml"):
        check(OVERLAY.replace("tenant: kobenhavn", "tenant: ballerup"), "ballerup")


def test_size_is_bounded(check):
    with pytest.raises(ArticleTooLarge):
        check(NATIONAL + "x" * MAX_ARTICLE_CHARS)


def test_draft_names_its_article():
    assert draft_id(NATIONAL, "*") == "affald_toemning"
    assert draft_id(OVERLAY, "kobenhavn") == "affald_toemning"
    with pytest.raises(InvalidArticle, match="'overrides'"):
        draft_id(NATIONAL, "kobenhavn")


def test_change_summary():
    assert change_summary(None, NATIONAL) == "første version"
    assert change_summary(NATIONAL, NATIONAL) == "ingen ændringer"
    retitled = NATIONAL.replace("title: Hvornår", "title: Hvornår mon", 1)
    assert change_summary(NATIONAL, retitled) == "ændret: title"
    longer = NATIONAL + "\nEn ny linje.\n"
    assert change_summary(NATIONAL, longer) == "tekst: +1 −0 linjer"
    assert change_summary(longer.replace("En ny", "En anden"), longer) == "tekst: +1 −1 linjer"
    fewer = OVERLAY.replace("review_interval_days: 180\n", "")
    assert change_summary(OVERLAY, fewer) == "fjernet: review_interval_days"
    assert change_summary(fewer, OVERLAY) == "tilføjet: review_interval_days"
