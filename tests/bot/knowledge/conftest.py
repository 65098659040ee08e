"""The real national articles and local overlays, loaded once."""

from __future__ import annotations

import pytest

from bot.config import ROOT
from bot.knowledge.overlay import LocalContent, load_local
from bot.retrieval.articles import Article, load_articles
from bot.tenants import load_tenants
from bot.topics import load_contract

KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="session")
def national() -> list[Article]:
    return load_articles(KNOWLEDGE / "articles", load_contract(KNOWLEDGE / "topics.yaml"))


@pytest.fixture(scope="session")
def local(national: list[Article]) -> LocalContent:
    tenants = load_tenants(KNOWLEDGE / "tenants.yaml")
    return load_local(KNOWLEDGE / "local", national, known_tenants=tenants.by_id)
