"""Tests for bot.retrieval.articles: Markdown articles with YAML front matter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.errors import ArticleError
from bot.retrieval.articles import load_articles, parse_article
from bot.topics import load_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")

FRONT = """\
id: borgerservice_pas
topic: borgerservice_pas
tenant: "*"
title: Nyt pas
questions:
  - Hvad koster et nyt pas?
synonyms: [rejsepas, passet]
owner: Borgerservice
voice: >-
  Du bestiller pas i Borgerservice. Husk at booke en tid.
sources:
  - title: Pas – borger.dk
    url: https://www.borger.dk/pas
  - title: Pas – kommunens side
reviewed: 2026-10-01
"""
BODY = "Du bestiller et nyt pas i Borgerservice.\n"


def article_text(front: str = FRONT, body: str = BODY) -> str:
    return f"---\n{front}---\n{body}"


def test_articles_parse_valid_article() -> None:
    art = parse_article(article_text(), "pas.md")
    assert art.id == "borgerservice_pas"
    assert art.tenant == "*"
    assert art.reviewed == dt.date(2026, 10, 1)
    assert art.historical is False
    assert art.body == BODY.strip()
    assert art.voice == "Du bestiller pas i Borgerservice. Husk at booke en tid."


def test_articles_ref_cites_the_first_source() -> None:
    ref = parse_article(article_text(), "pas.md").ref()
    assert (ref.id, ref.title, ref.source, ref.source_url, ref.reviewed, ref.historical) == (
        "borgerservice_pas", "Nyt pas", "Pas – borger.dk", "https://www.borger.dk/pas", "2026-10-01", False,
    )


def test_articles_passages_never_embed_the_title_alone() -> None:
    passages = parse_article(article_text(), "pas.md").passages()
    assert passages[0] == "Nyt pas. rejsepas, passet\nDu bestiller et nyt pas i Borgerservice."
    assert passages[1] == "Hvad koster et nyt pas? Nyt pas. rejsepas, passet"
    assert all(p.strip() != "Nyt pas" for p in passages)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (BODY, "must start with a '---' line"),
        (article_text(FRONT.replace("owner: Borgerservice\n", "")), "owner"),
        (article_text(FRONT + "farve: grøn\n"), "farve"),
        (article_text(body="   \n"), "body"),
        (article_text(FRONT.replace("id: borgerservice_pas", "id: Borgerservice Pas")), "id"),
        (article_text(FRONT.replace("reviewed: 2026-10-01", "reviewed: i går")), "reviewed"),
        (article_text("- en liste\n"), "front matter must be a mapping"),
        (article_text("title: [ikke lukket\n"), "bad front matter"),
    ],
    ids=["no-front-matter", "missing-owner", "unknown-key", "empty-body", "bad-id", "bad-date", "list", "bad-yaml"],
)
def test_articles_malformed_article_names_file(text: str, fragment: str) -> None:
    with pytest.raises(ArticleError, match=fragment) as info:
        parse_article(text, "knowledge/articles/borgerservice/borgerservice_pas.md")
    assert "borgerservice_pas.md" in str(info.value)


def test_articles_need_a_source() -> None:
    front = FRONT.split("sources:")[0] + "sources: []\nreviewed: 2026-10-01\n"
    with pytest.raises(ArticleError, match="sources"):
        parse_article(article_text(front), "pas.md")


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_articles_load_skips_readme_and_reads_subfolders(tmp_path: Path) -> None:
    _write(tmp_path, "README.md", "# ikke en artikel\n")
    _write(tmp_path, "borgerservice/borgerservice_pas.md", article_text())
    arts = load_articles(tmp_path, CONTRACT)
    assert [a.id for a in arts] == ["borgerservice_pas"]


def test_articles_load_rejects_unknown_topic(tmp_path: Path) -> None:
    path = _write(tmp_path, "x/pas.md", article_text(FRONT.replace("topic: borgerservice_pas", "topic: pas_findes_ikke")))
    with pytest.raises(ArticleError, match="unknown topic 'pas_findes_ikke'") as info:
        load_articles(tmp_path, CONTRACT)
    assert str(path) in str(info.value)


def test_articles_load_rejects_duplicate_id(tmp_path: Path) -> None:
    _write(tmp_path, "a/pas.md", article_text())
    _write(tmp_path, "b/pas.md", article_text())
    with pytest.raises(ArticleError, match="duplicate article id 'borgerservice_pas'"):
        load_articles(tmp_path, CONTRACT)


def test_articles_real_knowledge_base_loads() -> None:
    arts = load_articles(ROOT / "knowledge" / "articles", CONTRACT)
    assert len(arts) >= 50
    assert len({a.id for a in arts}) == len(arts)
