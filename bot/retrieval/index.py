"""FAISS index over article passages, persisted with a manifest so that a query embedder that
differs from the one that built the index is refused (IndexMismatch) instead of silently wrong."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.errors import IndexMismatch, ModelNotBuilt
from bot.retrieval.articles import Article
from bot.retrieval.embedder import Embedder
from bot.types import ArticleHit

INDEX_FILE = "articles.faiss"
MANIFEST_FILE = "articles.manifest.json"


def content_hash(articles: Sequence[Article]) -> str:
    h = hashlib.sha256()
    for a in sorted(articles, key=lambda a: a.id):
        h.update(a.model_dump_json().encode())
    return h.hexdigest()[:16]


@dataclass
class ArticleIndex:
    index: faiss.Index
    passage_article: list[str]  # row -> article id
    articles: dict[str, Article]
    manifest: dict

    @classmethod
    def build(cls, articles: Sequence[Article], embedder: Embedder, vectors: np.ndarray | None = None) -> ArticleIndex:
        rows, texts = [], []
        for a in articles:
            for p in a.passages():
                rows.append(a.id)
                texts.append(p)
        vecs = embedder.passages(texts) if vectors is None else vectors
        index = faiss.IndexFlatIP(embedder.dim)
        index.add(np.ascontiguousarray(vecs, dtype=np.float32))
        manifest = {
            "embedder": embedder.name,
            "dim": embedder.dim,
            "content_hash": content_hash(articles),
            "articles": len(articles),
            "passages": len(texts),
        }
        return cls(index, rows, {a.id: a for a in articles}, manifest)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        (directory / MANIFEST_FILE).write_text(
            json.dumps({**self.manifest, "rows": self.passage_article}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path, articles: Sequence[Article], embedder: Embedder) -> ArticleIndex:
        try:
            manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
            index = faiss.read_index(str(directory / INDEX_FILE))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelNotBuilt(f"no article index in {directory}: run `python -m bot train` ({exc})") from None
        rows = manifest.pop("rows")
        if manifest["embedder"] != embedder.name or manifest["dim"] != embedder.dim:
            raise IndexMismatch(
                f"index in {directory} was built with {manifest['embedder']} ({manifest['dim']} dims), "
                f"but the configured embedder is {embedder.name} ({embedder.dim} dims): run `python -m bot train`"
            )
        if manifest["content_hash"] != content_hash(articles):
            raise IndexMismatch(f"articles changed since the index in {directory} was built: run `python -m bot train`")
        return cls(index, rows, {a.id: a for a in articles}, manifest)

    def search(
        self, query_vec: np.ndarray, k: int = 5, tenant: str | None = None, topics: Sequence[str] | None = None
    ) -> list[ArticleHit]:
        """Best passage per article, best first. Tenant-specific articles win over shared ones."""
        # A flat index over FAQ passages is cheap to scan whole; filters must never starve the result.
        n = self.index.ntotal if (topics is not None or tenant is not None) else min(self.index.ntotal, max(k * 8, 64))
        scores, idx = self.index.search(np.ascontiguousarray(query_vec.reshape(1, -1), dtype=np.float32), n)
        best: dict[str, float] = {}
        for s, i in zip(scores[0], idx[0], strict=True):
            if i < 0:
                continue
            art = self.articles[self.passage_article[i]]
            if art.tenant not in ("*", tenant):
                continue
            if topics is not None and art.topic not in topics:
                continue
            if s > best.get(art.id, -2.0):
                best[art.id] = float(s)
        hits = [ArticleHit(a, self.articles[a].topic, s) for a, s in best.items()]
        hits.sort(key=lambda h: (-h.score, self.articles[h.article_id].tenant == "*"))
        return hits[:k]
