"""`GET /api/v1/knowledge/stale` over HTTP with the real articles, overlays and owners file and the
engine's clock fixed on 5 July 2027, when both municipalities' overlays with 180 days (reviewed
2026-12-06) are a month overdue: each supervisor sees the national articles and their own
municipality's overlays, never the other's. Also: a bad owners file stops the start."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.knowledge_review import review_background
from bot.api.knowledge_review import router as review_router
from bot.config import ROOT, Settings
from bot.knowledge.owners import OwnersError
from bot.knowledge.review import KnowledgePaths, load_catalogue
from bot.tenants import load_tenants
from tests.bot.api.test_capacity_api import ContractOnly
from tests.bot.conftest import FakeClock

pytestmark = pytest.mark.integration

PEPPER = "knowledge-review-pepper-0123456789abcdefghij"
NOW = dt.datetime(2027, 7, 5, 10, 0, tzinfo=UTC)


@dataclass
class Site:
    client: TestClient
    tokens: dict[str, str]

    def get(self, who: str | None, **params: object):
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get("/api/v1/knowledge/stale", params=params, headers=headers)


def _settings(base: Settings, tmp_path: Path, knowledge: Path = ROOT / "knowledge") -> Settings:
    path = tmp_path / "kontakt.sqlite3"
    return base.model_copy(update={
        "database_url": f"sqlite:///{path}", "agent_token_pepper": SecretStr(PEPPER),
        "articles_dir": knowledge / "articles", "topics_file": knowledge / "topics.yaml",
        "tenants_file": knowledge / "tenants.yaml", "review_check_seconds": 3600.0,
    })  # fmt: skip


@pytest.fixture
def site(settings, contract, migrated_sqlite, tmp_path, monkeypatch) -> Iterator[Site]:
    shutil.copyfile(migrated_sqlite, tmp_path / "kontakt.sqlite3")
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = _settings(settings, tmp_path)
    app = create_app(local, routers=[review_router], background=[review_background],
                     understanding=ContractOnly(contract), clock=FakeClock(NOW))  # fmt: skip
    with TestClient(app) as client:
        engine, pepper = app.state.engine, token_pepper(local)
        tokens = {
            "sara": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara", role="supervisor"),
            "rita": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rita", name="Rita", role="supervisor"),
            "anne": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne", role="agent"),
        }  # fmt: skip
        yield Site(client, tokens)


def _expected(tenant_id: str) -> list[tuple[str, str]]:
    catalogue = load_catalogue(KnowledgePaths(ROOT / "knowledge" / "articles", ROOT / "knowledge" / "topics.yaml"),
                               load_tenants(ROOT / "knowledge" / "tenants.yaml"))  # fmt: skip
    return [(s.id, s.tenant) for s in catalogue.stale(NOW, tenant_id)]


def test_a_rodovre_supervisor_sees_national_and_rodovres_articles_only(site: Site):
    r = site.get("rita")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"] == {"id": "rodovre", "name": "Rødovre Kommune"}
    articles = body["articles"]
    assert [(a["id"], a["tenant"]) for a in articles] == _expected("rodovre")
    assert {a["tenant"] for a in articles} <= {"*", "rodovre"}
    local = {a["id"]: a for a in articles if a["kind"] == "local"}
    # the building-permit overlay has its own 365 days and is not due until December
    assert set(local) == {"boern_pladsanvisning", "boligstoette_indskudslaan", "borgerservice_flytning",
                          "borgerservice_pas", "sundhed_hjaelpemidler", "sundhed_plejebolig",
                          "sundhed_visitation_hjemmehjaelp"}  # fmt: skip
    pas = local["borgerservice_pas"]
    assert (pas["reviewed"], pas["due"], pas["days_overdue"]) == ("2026-12-06", "2027-06-04", 31)
    assert pas["owner"] == {"id": "rk_borgerservice", "name": "Rødovre Kommune – Borgerservice og Folkeregisteret"}
    assert pas["edit"] == "/agent/knowledge#borgerservice_pas"
    assert [a["days_overdue"] for a in articles] == sorted((a["days_overdue"] for a in articles), reverse=True)


def test_a_copenhagen_supervisor_sees_copenhagens_overlays(site: Site):
    articles = site.get("sara").json()["articles"]
    assert [(a["id"], a["tenant"]) for a in articles] == _expected("kobenhavn")
    assert {a["tenant"] for a in articles if a["kind"] == "local"} == {"kobenhavn"}
    assert len([a for a in articles if a["kind"] == "local"]) == 9  # all but byggeri_byggeansoegning (365 days)


def test_only_supervisors_of_the_tenant(site: Site):
    assert site.get("rita", tenant="kobenhavn").status_code == 404
    assert site.get("rita", tenant="rodovre").status_code == 200
    assert site.get("anne").status_code == 403
    r = site.get(None)
    assert r.status_code == 401 and r.headers["Cache-Control"] == "no-store"


def test_a_bad_owners_file_stops_the_start(settings, contract, migrated_sqlite, tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    owners = knowledge / "owners.yaml"
    owners.write_text(owners.read_text(encoding="utf-8").replace("  rk_byggesager:\n", "  rk_bygge:\n"), encoding="utf-8")
    shutil.copyfile(migrated_sqlite, tmp_path / "kontakt.sqlite3")
    app = create_app(_settings(settings, tmp_path, knowledge), routers=[review_router], background=[review_background],
                     understanding=ContractOnly(contract), clock=FakeClock(NOW))  # fmt: skip
    with pytest.raises(OwnersError, match=r"owner 'rk_byggesager', key 'owner'.*rodovre/byggeri_byggeansoegning"):
        with TestClient(app):
            pass
