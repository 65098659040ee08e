"""Knowledge editing over HTTP against the real app, the real model and a temporary SQLite
database: publish, history, rollback, preview, the loader's checks as 422s naming the field,
roles, and one municipality's editors never reaching another's local articles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.knowledge import page_router, router
from bot.config import ROOT
from bot.dialogue import decide
from bot.knowledge.live import LiveKnowledge, knowledge_background
from bot.understanding import Understanding

PEPPER = "knowledge-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
MARK = "Ring til affaldsvagten på 33 66 33 66 mellem kl. 7 og 15."
OVERLAY = (ROOT / "knowledge" / "local" / "kobenhavn" / "affald_toemning.md").read_text(encoding="utf-8")
NATIONAL_FILE = (ROOT / "knowledge" / "articles" / "affald" / "affald_toemning.md").read_text(encoding="utf-8")
MD = {"Content-Type": "text/markdown; charset=utf-8"}

pytestmark = pytest.mark.integration


def fork(understanding: Understanding) -> Understanding:
    """An understanding of its own, so publishing here leaves the session's model as it was."""
    return understanding.with_articles(understanding.index.copy(), understanding.local)


@dataclass
class World:
    client: TestClient
    u: Understanding
    live: LiveKnowledge
    tokens: dict[str, str]

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def put(self, who: str, article: str, tenant: str, text: str):
        return self.client.put(f"/api/v1/knowledge/articles/{article}", params={"tenant": tenant},
                               content=text.encode(), headers=self.h(who, **MD))  # fmt: skip


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("knowledge-api") / "kontakt.sqlite3"
    local = settings.model_copy(update={"database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER)})
    u = fork(understanding)
    app = create_app(local, routers=[router, page_router, agents_router], understanding=u,
                     background=[knowledge_background], clock=lambda: NOW)  # fmt: skip
    with TestClient(app) as client:
        engine = app.state.engine
        pepper = token_pepper(local)
        tokens = {
            "eva": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="eva", name="Eva", role="editor"),
            "rie": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rie", name="Rie", role="editor"),
            "adam": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="adam", name="Adam", role="admin"),
            "anne": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                                 skills={"borgerservice_basis": 5}),
        }  # fmt: skip
        yield World(client, u, app.state.knowledge, tokens)


def _answer(u: Understanding, tenant: str | None, question: str = "Min skraldespand er ikke blevet tømt") -> str:
    return "\n".join(m.text for m in decide(u, question, tenant=tenant).messages)


def test_editor_publishes_a_local_article_and_the_answer_changes_at_once(world):
    assert MARK not in _answer(world.u, "kobenhavn")
    edited = OVERLAY.replace("## Ikke tømt?\n", f"## Ikke tømt?\n\n{MARK}\n")
    r = world.put("eva", "affald_toemning", "kobenhavn", edited)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["tenant"], body["version"], body["author"]) == ("affald_toemning", "kobenhavn", 1, "eva")
    assert body["summary"] == "tekst: +1 −0 linjer"
    assert body["created_at"].startswith("2026-12-07T09:30")
    assert MARK in _answer(world.u, "kobenhavn")
    assert MARK not in _answer(world.u, "rodovre")  # another municipality's citizens never get it

    got = world.client.get("/api/v1/knowledge/articles/affald_toemning", params={"tenant": "kobenhavn"},
                           headers=world.h("eva")).json()  # fmt: skip
    assert got["version"] == 1 and MARK in got["text"]
    assert [(v["version"], v["author"]) for v in got["history"]] == [(1, "eva")]

    # Rolled back to the repository's file: a new version, and the answer is the old one again.
    r = world.client.post("/api/v1/knowledge/articles/affald_toemning/rollback",
                          params={"tenant": "kobenhavn", "version": 0}, headers=world.h("eva"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["summary"].startswith("tilbage til version 0")
    assert MARK not in _answer(world.u, "kobenhavn")
    got = world.client.get("/api/v1/knowledge/articles/affald_toemning", params={"tenant": "kobenhavn"},
                           headers=world.h("eva")).json()  # fmt: skip
    assert got["text"] == OVERLAY and [v["version"] for v in got["history"]] == [2, 1]


@pytest.mark.parametrize(("change", "field"), [
    (lambda t: t.replace("sources:\n", "kilder:\n"), "sources"),  # missing, as the loader says first
    (lambda t: t.replace("overrides: affald_toemning", "overrides: pas_og_koerekort"), "overrides"),
    (lambda t: t.replace("review_interval_days: 180", "review_interval_days: -3"), "review_interval_days"),
    (lambda t: t.replace("## Ikke tømt?", "Ikke tømt?"), "sections"),
    (lambda t: t.replace("reviewed: 2026-12-06", "reviewed: i går"), "reviewed"),
    (lambda t: t.replace("---\n", "", 1), "---"),
])  # fmt: skip
def test_a_file_the_loader_would_refuse_is_422_naming_the_field(world, change, field):
    r = world.put("eva", "affald_toemning", "kobenhavn", change(OVERLAY))
    assert r.status_code == 422, r.text
    assert f"field {field!r}" in r.json()["message"], r.json()


def test_bad_national_files_are_refused_before_anything_is_stored(world):
    before = world.live.history("*", "affald_toemning").versions
    bad_topic = NATIONAL_FILE.replace("topic: affald_toemning", "topic: findes_ikke")
    r = world.put("adam", "affald_toemning", "*", bad_topic)
    assert r.status_code == 422 and "field 'topic'" in r.json()["message"]
    r = world.put("adam", "affald_toemning", "*", NATIONAL_FILE.replace("title: ", "titel: ", 1))
    assert r.status_code == 422 and "field 'title': Field required" in r.json()["message"]
    r = world.put("adam", "affald_toemning", "*", NATIONAL_FILE.replace("id: affald_toemning", "id: andet"))
    assert r.status_code == 422 and "field 'id'" in r.json()["message"]
    r = world.put("adam", "affald_toemning", "*", NATIONAL_FILE + "x" * 60_001)
    assert r.status_code == 413
    r = world.client.put("/api/v1/knowledge/articles/affald_toemning", params={"tenant": "*"},
                         content=NATIONAL_FILE.encode(), headers=world.h("adam", **{"Content-Type": "image/png"}))
    assert r.status_code == 415
    assert world.live.history("*", "affald_toemning").versions == before


def test_roles_and_municipalities(world):
    # Rødovre's editor neither reads nor changes København's local articles, and does not see them listed.
    r = world.client.get("/api/v1/knowledge/articles/affald_toemning", params={"tenant": "kobenhavn"},
                         headers=world.h("rie"))  # fmt: skip
    assert r.status_code == 403
    assert world.put("rie", "affald_toemning", "kobenhavn", OVERLAY).status_code == 403
    r = world.client.post("/api/v1/knowledge/articles/affald_toemning/rollback",
                          params={"tenant": "kobenhavn", "version": 0}, headers=world.h("rie"))  # fmt: skip
    assert r.status_code == 403
    r = world.client.post("/api/v1/knowledge/preview", params={"tenant": "kobenhavn"}, headers=world.h("rie"),
                          json={"file": OVERLAY, "question": "Hvornår tømmes der?"})  # fmt: skip
    assert r.status_code == 403
    listed = world.client.get("/api/v1/knowledge/articles", params={"tenant": "rodovre"}, headers=world.h("rie"))
    assert listed.status_code == 200
    assert {a["tenant"] for a in listed.json()["articles"]} <= {"*", "rodovre"}
    assert world.client.get("/api/v1/knowledge/articles", params={"tenant": "kobenhavn"},
                            headers=world.h("rie")).status_code == 403  # fmt: skip
    mine = world.client.get("/api/v1/knowledge/articles", headers=world.h("eva")).json()
    assert mine["tenant"] == "kobenhavn" and not mine["can_edit_national"]
    toemning = next(a for a in mine["articles"] if a["id"] == "affald_toemning")
    assert toemning["local"] and toemning["tenant"] == "kobenhavn"

    # An editor reads national articles but only an admin publishes them; an agent does neither,
    # and an editor's token opens no contact.
    ok = world.client.get("/api/v1/knowledge/articles/affald_toemning", params={"tenant": "*"}, headers=world.h("eva"))
    assert ok.status_code == 200 and ok.json()["text"] == NATIONAL_FILE
    assert world.put("eva", "affald_toemning", "*", NATIONAL_FILE).status_code == 403
    assert world.put("anne", "affald_toemning", "kobenhavn", OVERLAY).status_code == 403
    assert world.client.get("/agent/api/queues", headers=world.h("eva")).status_code == 403
    assert world.client.get("/api/v1/knowledge/articles", headers={}).status_code == 401


def test_preview_answers_from_the_draft_and_publishes_nothing(world):
    draft = NATIONAL_FILE.replace("**Ikke tømt?**", f"{MARK}\n\n**Ikke tømt?**", 1)
    assert draft != NATIONAL_FILE
    r = world.client.post("/api/v1/knowledge/preview", params={"tenant": "*"}, headers=world.h("eva"),
                          json={"file": draft, "question": "Hvornår kommer skraldebilen?"})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["article"] == "affald_toemning" and out["uses_draft"] and out["action"] in ("answer", "selfservice")
    assert any(MARK in m for m in out["messages"])
    assert MARK not in _answer(world.u, None, "Hvornår kommer skraldebilen?")
    assert world.live.history("*", "affald_toemning").version == 0


def test_admin_publishes_a_national_article_and_its_passages_are_searched_anew(world):
    new_question = "Hvad gør jeg når grønttønden lugter af fisk om sommeren?"
    edited = NATIONAL_FILE.replace("questions:\n", f"questions:\n  - {new_question}\n", 1)
    r = world.put("adam", "affald_toemning", "*", edited)
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == "ændret: questions"
    assert new_question in world.u.articles["affald_toemning"].questions
    rows = [a for a in world.u.index.passage_article if a == "affald_toemning"]
    assert len(rows) == len(world.u.articles["affald_toemning"].passages())
    parsed = world.u.parse(new_question)
    assert parsed.hits and parsed.hits[0].article_id == "affald_toemning"
