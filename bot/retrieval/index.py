"""FAISS index over article passages, persisted with a manifest so that a query embedder that
differs from the one that built the index is refused (IndexMismatch) instead of silently wrong.

The passages of one article are contiguous rows. A search scores every row with one
matrix-vector product over FAISS's own storage (no second copy of the vectors), takes the best
passage per article with `np.maximum.reduceat`, and filters tenants and topics per article in
numpy: at 10,000 passages that is about a millisecond, where a Python loop over the rows was ten.
`replace_article` swaps one article's passages in without rebuilding the rest; the new state is
built aside and swapped in with one assignment, so a search running at the same time sees either
the old index or the new one, never half of each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from bot.errors import IndexMismatch, ModelNotBuilt
from bot.retrieval.articles import Article
from bot.retrieval.embedder import Embedder
from bot.types import ArticleHit

INDEX_FILE = "articles.faiss"
MANIFEST_FILE = "articles.manifest.json"
BUILD_BATCH = 256  # passages per embedding call


def content_hash(articles: Sequence[Article]) -> str:
    h = hashlib.sha256()
    for a in sorted(articles, key=lambda a: a.id):
        h.update(a.model_dump_json().encode())
    return h.hexdigest()[:16]


def embed_passages(
    embedder: Embedder, texts: Sequence[str], progress: Callable[[int], None] | None = None, batch: int = BUILD_BATCH
) -> np.ndarray:
    """Passage vectors in batches (the native engine streams its weights once per batch), shortest
    first so a batch holds texts of similar length; rows come back in the order of `texts`."""
    out = np.zeros((len(texts), embedder.dim), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        out[idx] = embedder.passages([texts[i] for i in idx])
        if progress is not None:
            progress(len(idx))
    return out


@dataclass(frozen=True)
class _Layout:
    """Per-article view of the rows: article i owns rows starts[i] .. starts[i+1]-1."""

    ids: tuple[str, ...]
    starts: np.ndarray  # int64, one per article
    tenants: np.ndarray  # str, one per article
    topics: np.ndarray  # str, one per article

    @classmethod
    def of(cls, passage_article: Sequence[str], articles: dict[str, Article]) -> _Layout:
        ids: list[str] = []
        starts: list[int] = []
        for row, aid in enumerate(passage_article):
            if not ids or ids[-1] != aid:
                if aid in ids:
                    raise ValueError(f"passages of article {aid!r} are not contiguous in the index")
                ids.append(aid)
                starts.append(row)
        return cls(tuple(ids), np.asarray(starts, dtype=np.int64),
                   np.asarray([articles[a].tenant for a in ids], dtype=str),
                   np.asarray([articles[a].topic for a in ids], dtype=str))  # fmt: skip


@dataclass
class ArticleIndex:
    index: faiss.Index
    passage_article: list[str]  # row -> article id
    articles: dict[str, Article]
    manifest: dict
    _layout: _Layout = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._layout = _Layout.of(self.passage_article, self.articles)

    @classmethod
    def build(
        cls,
        articles: Sequence[Article],
        embedder: Embedder,
        vectors: np.ndarray | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ArticleIndex:
        """`vectors`: precomputed passage vectors in the order of `Article.passages()` (training
        caches them); `progress(n)` is called after each batch of n passages is embedded."""
        rows, texts = [], []
        for a in articles:
            for p in a.passages():
                rows.append(a.id)
                texts.append(p)
        vecs = embed_passages(embedder, texts, progress) if vectors is None else vectors
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

    def copy(self) -> ArticleIndex:
        """An index that starts with the same passages; `replace_article` on either leaves the
        other as it was (a swap builds new storage, it never writes into the old)."""
        return ArticleIndex(self.index, list(self.passage_article), dict(self.articles), dict(self.manifest))

    def replace_article(self, article: Article, embedder: Embedder, vectors: np.ndarray | None = None) -> None:
        """Add `article`, or replace the passages of the article with its id: embeds only its own
        passages. The manifest's content hash follows, so `save` then `load` accepts the result."""
        self._check_embedder(embedder)
        texts = article.passages()
        vecs = embed_passages(embedder, texts) if vectors is None else np.asarray(vectors, np.float32)
        keep = np.array([aid != article.id for aid in self.passage_article], dtype=bool)
        self._swap({**self.articles, article.id: article}, keep, vecs, [article.id] * len(texts))

    def remove_article(self, article_id: str) -> None:
        if article_id not in self.articles:
            raise KeyError(f"no article {article_id!r} in the index")
        keep = np.array([aid != article_id for aid in self.passage_article], dtype=bool)
        articles = {k: v for k, v in self.articles.items() if k != article_id}
        self._swap(articles, keep, np.zeros((0, self.index.d), np.float32), [])

    def _swap(self, articles: dict[str, Article], keep: np.ndarray, new_vecs: np.ndarray, new_rows: list[str]) -> None:
        old = self._vectors()
        index = faiss.IndexFlatIP(self.index.d)
        index.add(np.ascontiguousarray(np.vstack([old[keep], new_vecs]), dtype=np.float32))
        rows = [aid for aid, k in zip(self.passage_article, keep, strict=True) if k] + new_rows
        manifest = {**self.manifest, "content_hash": content_hash(list(articles.values())),
                    "articles": len(articles), "passages": len(rows)}  # fmt: skip
        layout = _Layout.of(rows, articles)
        # One assignment each; search() reads self.__dict__ once (see there).
        self.__dict__.update(index=index, passage_article=rows, articles=articles, manifest=manifest, _layout=layout)

    def _vectors(self, index: faiss.Index | None = None) -> np.ndarray:
        """A read-only view of the flat index's own storage (no copy)."""
        index = self.index if index is None else index
        n, d = index.ntotal, index.d
        if n == 0:
            return np.zeros((0, d), np.float32)
        flat = faiss.rev_swig_ptr(faiss.downcast_index(index).get_xb(), n * d)
        view = np.asarray(flat).reshape(n, d)
        view.flags.writeable = False
        return view

    def _check_embedder(self, embedder: Embedder) -> None:
        if self.manifest["embedder"] != embedder.name or self.manifest["dim"] != embedder.dim:
            raise IndexMismatch(
                f"index was built with {self.manifest['embedder']} ({self.manifest['dim']} dims), "
                f"but the embedder is {embedder.name} ({embedder.dim} dims): run `python -m bot train`"
            )

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
        state = self.__dict__  # one consistent snapshot, even while replace_article swaps
        index, layout, articles = state["index"], state["_layout"], state["articles"]
        if index.ntotal == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(np.asarray(query_vec, dtype=np.float32).reshape(-1))
        scores = self._vectors(index) @ q
        best = np.maximum.reduceat(scores, layout.starts)
        if tenant is not None or topics is not None:
            allowed = (layout.tenants == "*") | (layout.tenants == (tenant or "*"))
            if topics is not None:
                allowed &= np.isin(layout.topics, list(topics))
            best = np.where(allowed, best, -np.inf)
        else:
            best = np.where(layout.tenants == "*", best, -np.inf)
        n = min(len(best), k * 2)
        top = np.argpartition(-best, n - 1)[:n] if n < len(best) else np.arange(len(best))
        top = top[np.isfinite(best[top])]
        top = top[np.argsort(-best[top], kind="stable")]
        hits = [ArticleHit(layout.ids[i], articles[layout.ids[i]].topic, float(best[i])) for i in top]
        hits.sort(key=lambda h: (-h.score, articles[h.article_id].tenant == "*"))
        return hits[:k]
