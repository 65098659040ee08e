"""A Copenhagen and a Rødovre citizen asking the same question get their own municipality's
article: its own source cited, its own pages linked, never the other municipality's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.api import create_app
from bot.dialogue import decide

OWN = {"kobenhavn": "kk.dk", "rodovre": "rk.dk"}
QUESTIONS = ["Hvordan får jeg et nyt pas?", "Hvordan skriver jeg mit barn op til vuggestue?"]


@pytest.fixture(scope="module")
def client(settings, understanding):
    with TestClient(create_app(settings, understanding=understanding)) as c:
        yield c


@pytest.mark.parametrize("question", QUESTIONS)
def test_parse_cites_the_citizens_own_municipality(client, question):
    for tenant, domain in OWN.items():
        other = next(d for t, d in OWN.items() if t != tenant)
        article = client.post("/model/parse", json={"text": question, "tenant": tenant}).json()["triage"]["article"]
        assert article is not None, (tenant, question)
        assert domain in (article["source_url"] or ""), (tenant, article)
        assert other not in (article["source_url"] or "")


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_answer_text_never_links_another_municipality(understanding, question):
    for tenant in OWN:
        other = next(d for t, d in OWN.items() if t != tenant)
        turn = decide(understanding, question, tenant=tenant)
        text = " ".join(m.text for m in turn.messages)
        assert turn.decision.article is not None
        assert other not in text, (tenant, text)


def test_without_a_tenant_the_national_article_is_used(understanding):
    p = understanding.parse(QUESTIONS[0])
    assert p.decision.article is not None
    assert p.decision.article == understanding.article_refs[p.decision.article.id]
