"""Tests for bot.retrieval.index with the deterministic `lexical` embedder (no model): build, save
and load with a manifest, refusal of mismatched embedders or content, tenants, unique hits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.errors import IndexMismatch, ModelNotBuilt
from bot.retrieval.articles import Article, load_articles, parse_article
from bot.retrieval.embedder import Embedder, LexicalEmbedder, make_embedder
from bot.retrieval.index import INDEX_FILE, MANIFEST_FILE, ArticleIndex
from bot.topics import load_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")

QUERIES = [
    "hvornår kommer skraldebilen",
    "jeg skal have et nyt pas",
    "hvordan søger jeg boligstøtte",
    "hvordan melder jeg flytning",
    "hvornår har biblioteket åbent",
]


class RenamedEmbedder:
    """Same vectors as the lexical embedder, but registered under another name."""

    name = "fake.renamed-lexical.v1"

    def __init__(self, inner: LexicalEmbedder) -> None:
        self._inner = inner
        self.dim = inner.dim

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.queries(texts)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.passages(texts)


@pytest.fixture(scope="module")
def embedder() -> LexicalEmbedder:
    made = make_embedder("lexical")
    assert isinstance(made, LexicalEmbedder)
    return made


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return load_articles(ROOT / "knowledge" / "articles", CONTRACT)


@pytest.fixture(scope="module")
def index(articles: list[Article], embedder: LexicalEmbedder) -> ArticleIndex:
    return ArticleIndex.build(articles, embedder)


def _tenant_article(tenant: str, article_id: str = "affald_toemning--kobenhavn") -> Article:
    return parse_article(
        f"""---
id: {article_id}
topic: affald_toemning
tenant: {tenant}
title: Skraldebilen i København kommer om natten
questions:
  - Hvornår kommer skraldebilen i København?
owner: TMF
voice: >-
  I København kommer skraldebilen om natten.
sources:
  - title: Affald – Københavns Kommune
reviewed: 2026-11-01
---
I København hentes skraldet om natten. Skraldebilen kommer mellem klokken 22 og 6.
""",
        "tenant.md",
    )


def test_index_embedder_is_deterministic_and_normalised(embedder: LexicalEmbedder) -> None:
    a = embedder.queries(QUERIES)
    b = LexicalEmbedder().queries(QUERIES)
    assert a.shape == (len(QUERIES), embedder.dim)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert isinstance(embedder, Embedder)


def test_index_manifest_describes_the_build(index: ArticleIndex, articles: list[Article], embedder) -> None:
    assert index.manifest["embedder"] == "lexical.hash-proj.v1"
    assert index.manifest["dim"] == embedder.dim
    assert index.manifest["articles"] == len(articles)
    assert index.manifest["passages"] == index.index.ntotal == sum(len(a.passages()) for a in articles)


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("hvornår kommer skraldebilen", "affald_toemning"),
        ("jeg skal have et nyt pas", "borgerservice_pas"),
        ("hvordan søger jeg boligstøtte", "boligstoette_boligstoette"),
    ],
)
def test_index_finds_the_obvious_article(index: ArticleIndex, embedder, query: str, topic: str) -> None:
    hits = index.search(embedder.queries([query])[0], k=3)
    assert topic in [h.topic for h in hits]


def test_index_save_load_round_trip_returns_same_hits(
    index: ArticleIndex, articles: list[Article], embedder, tmp_path: Path
) -> None:
    index.save(tmp_path)
    assert (tmp_path / INDEX_FILE).exists() and (tmp_path / MANIFEST_FILE).exists()
    loaded = ArticleIndex.load(tmp_path, articles, embedder)
    assert loaded.manifest == index.manifest
    assert loaded.passage_article == index.passage_article
    for q in embedder.queries(QUERIES):
        before = index.search(q, k=5)
        after = loaded.search(q, k=5)
        assert [(h.article_id, h.topic) for h in after] == [(h.article_id, h.topic) for h in before]
        assert [h.score for h in after] == pytest.approx([h.score for h in before])
        assert len(before) == 5


def test_index_load_with_another_embedder_name(index: ArticleIndex, articles, embedder, tmp_path: Path) -> None:
    index.save(tmp_path)
    with pytest.raises(IndexMismatch, match="fake.renamed-lexical.v1"):
        ArticleIndex.load(tmp_path, articles, RenamedEmbedder(embedder))


def test_index_load_with_another_dimension(index: ArticleIndex, articles, tmp_path: Path) -> None:
    index.save(tmp_path)
    with pytest.raises(IndexMismatch, match="256 dims"):
        ArticleIndex.load(tmp_path, articles, LexicalEmbedder(dim=256))


def test_index_load_with_changed_articles(index: ArticleIndex, articles: list[Article], embedder, tmp_path: Path) -> None:
    index.save(tmp_path)
    edited = [a.model_copy(update={"body": a.body + " Ændret."}) if i == 0 else a for i, a in enumerate(articles)]
    with pytest.raises(IndexMismatch, match="articles changed"):
        ArticleIndex.load(tmp_path, edited, embedder)
    with pytest.raises(IndexMismatch, match="articles changed"):
        ArticleIndex.load(tmp_path, articles[1:], embedder)
    with pytest.raises(IndexMismatch, match="articles changed"):
        ArticleIndex.load(tmp_path, [*articles, _tenant_article("kobenhavn")], embedder)


def test_index_load_ignores_article_order(index: ArticleIndex, articles: list[Article], embedder, tmp_path: Path) -> None:
    index.save(tmp_path)
    loaded = ArticleIndex.load(tmp_path, list(reversed(articles)), embedder)
    assert loaded.manifest["content_hash"] == index.manifest["content_hash"]


def test_index_missing_index_is_model_not_built(articles, embedder, tmp_path: Path) -> None:
    with pytest.raises(ModelNotBuilt, match=str(tmp_path / "ingen")):
        ArticleIndex.load(tmp_path / "ingen", articles, embedder)


def test_index_missing_faiss_file_is_model_not_built(index: ArticleIndex, articles, embedder, tmp_path: Path) -> None:
    index.save(tmp_path)
    (tmp_path / INDEX_FILE).unlink()
    with pytest.raises(ModelNotBuilt):
        ArticleIndex.load(tmp_path, articles, embedder)


@pytest.fixture(scope="module")
def tenant_index(articles: list[Article], embedder) -> ArticleIndex:
    return ArticleIndex.build([*articles, _tenant_article("kobenhavn"), _tenant_article("aarhus", "affald_toemning--aarhus")], embedder)


def test_index_tenant_article_for_its_tenant(tenant_index: ArticleIndex, embedder) -> None:
    q = embedder.queries(["hvornår kommer skraldebilen i København"])[0]
    ids = [h.article_id for h in tenant_index.search(q, k=5, tenant="kobenhavn")]
    assert "affald_toemning--kobenhavn" in ids
    assert "affald_toemning--aarhus" not in ids


@pytest.mark.parametrize("tenant", [None, "aarhus", "odense"])
def test_index_tenant_article_hidden_from_others(tenant_index: ArticleIndex, embedder, tenant: str | None) -> None:
    q = embedder.queries(["hvornår kommer skraldebilen i København"])[0]
    hits = tenant_index.search(q, k=10, tenant=tenant)
    ids = [h.article_id for h in hits]
    assert "affald_toemning--kobenhavn" not in ids
    assert "affald_toemning" in ids  # the shared article is still there


def test_index_topic_filter(index: ArticleIndex, embedder) -> None:
    q = embedder.queries(["hvornår kommer skraldebilen"])[0]
    unfiltered = index.search(q, k=5)
    assert unfiltered[0].topic == "affald_toemning"
    hits = index.search(q, k=5, topics=["affald_storskrald", "miljoe_gener"])
    assert hits
    assert {h.topic for h in hits} <= {"affald_storskrald", "miljoe_gener"}


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("k", [1, 5, 20])
def test_index_never_returns_an_article_twice(tenant_index: ArticleIndex, embedder, query: str, k: int) -> None:
    hits = tenant_index.search(embedder.queries([query])[0], k=k, tenant="kobenhavn")
    ids = [h.article_id for h in hits]
    assert len(ids) == len(set(ids))
    assert len(ids) == k
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def _same_hits(a: list, b: list) -> bool:
    return [h.article_id for h in a] == [h.article_id for h in b] and np.allclose(
        [h.score for h in a], [h.score for h in b], atol=1e-5
    )


def test_index_replace_article_equals_a_rebuild(articles: list[Article], embedder, tmp_path: Path) -> None:
    index = ArticleIndex.build(articles, embedder)
    edited = articles[3].model_copy(update={"body": "Storskrald hentes den første mandag i måneden.",
                                            "questions": ("Hvornår hentes storskrald?",)})  # fmt: skip
    index.replace_article(edited, embedder)
    new_list = [edited if a.id == edited.id else a for a in articles]
    rebuilt = ArticleIndex.build(new_list, embedder)
    assert index.manifest == rebuilt.manifest
    for q in [*QUERIES, "hvornår hentes storskrald"]:
        v = embedder.queries([q])[0]
        assert _same_hits(index.search(v, k=10), rebuilt.search(v, k=10))
    index.save(tmp_path)
    assert ArticleIndex.load(tmp_path, new_list, embedder).manifest["content_hash"] == rebuilt.manifest["content_hash"]


def test_index_replace_article_adds_a_new_one_and_remove_takes_it_out(articles: list[Article], embedder) -> None:
    index = ArticleIndex.build(articles, embedder)
    extra = _tenant_article("kobenhavn")
    index.replace_article(extra, embedder)
    q = embedder.queries(["hvornår kommer skraldebilen i København"])[0]
    assert "affald_toemning--kobenhavn" in [h.article_id for h in index.search(q, k=5, tenant="kobenhavn")]
    index.remove_article(extra.id)
    assert index.manifest == ArticleIndex.build(articles, embedder).manifest
    assert "affald_toemning--kobenhavn" not in [h.article_id for h in index.search(q, k=20, tenant="kobenhavn")]


def test_index_replace_article_refuses_another_embedder(articles: list[Article], embedder) -> None:
    index = ArticleIndex.build(articles[:5], embedder)
    with pytest.raises(IndexMismatch):
        index.replace_article(articles[0], LexicalEmbedder(dim=256))
