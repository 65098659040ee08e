"""Tests for the caches of bot.train: embeddings per text and fitted models per content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bot.retrieval.embedder import LexicalEmbedder
from bot.train import _cached_fit, _store_fit, embed_cached, fit_key

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class SavedText:
    """A model that saves itself as one file, as the served models do with theirs."""

    text: str

    def save(self, directory: Path) -> list[str]:
        (directory / "model.txt").write_text(self.text, encoding="utf-8")
        return ["model.txt"]

    @classmethod
    def load(cls, directory: Path) -> SavedText:
        return cls((directory / "model.txt").read_text(encoding="utf-8"))


class CountingEmbedder:
    """The lexical embedder, counting the texts it is asked to embed."""

    name = "fake.counting-lexical.v1"

    def __init__(self) -> None:
        self._inner = LexicalEmbedder(dim=64)
        self.dim = 64
        self.seen: list[str] = []

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self._inner.queries(texts)

    passages = queries


def test_train_embed_cached_embeds_each_text_once(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    texts = ["hej", "hvornår kommer skraldebilen", "hej", "nyt pas", "hvornår kommer skraldebilen"]
    first = embed_cached(emb, texts, tmp_path, "query", "test", batch=2)
    assert sorted(emb.seen) == sorted(set(texts))
    assert np.allclose(first, emb._inner.queries(texts), atol=1e-6)
    emb.seen.clear()
    again = embed_cached(emb, [*texts, "boligstøtte"], tmp_path, "query", "test")
    assert emb.seen == ["boligstøtte"]
    assert np.array_equal(again[: len(texts)], first)


def test_train_embed_cached_survives_a_damaged_cache(tmp_path: Path) -> None:
    emb = CountingEmbedder()
    (tmp_path / f"{emb.name}.query.npz").write_bytes(b"not a zip file")
    out = embed_cached(emb, ["hej"], tmp_path, "query", "test")
    assert out.shape == (1, 64)


def test_train_fit_key_follows_texts_labels_and_config(tmp_path: Path) -> None:
    base = fit_key("k", "e", ["a", "b"], ["x", "y"], {"c": 1}, ("bot.nlu.text",))
    assert base == fit_key("k", "e", ["a", "b"], ["x", "y"], {"c": 1}, ("bot.nlu.text",))
    assert base != fit_key("k", "e", ["a", "b!"], ["x", "y"], {"c": 1}, ("bot.nlu.text",))
    assert base != fit_key("k", "e", ["a", "b"], ["x", "x"], {"c": 1}, ("bot.nlu.text",))
    assert base != fit_key("k", "e", ["a", "b"], ["x", "y"], {"c": 2}, ("bot.nlu.text",))
    assert base != fit_key("k", "e2", ["a", "b"], ["x", "y"], {"c": 1}, ("bot.nlu.text",))
    _store_fit(tmp_path, "k", base, SavedText("model 1"))
    assert _cached_fit(tmp_path, "k", base, SavedText.load) == SavedText("model 1")
    _store_fit(tmp_path, "k", "other", SavedText("model 2"))
    assert _cached_fit(tmp_path, "k", base, SavedText.load) is None  # one entry per kind
    assert _cached_fit(tmp_path, "k", "other", SavedText.load) == SavedText("model 2")
    assert [p.name for p in (tmp_path / "fits").iterdir()] == ["k.other"]


def test_train_fit_cache_refits_a_damaged_entry(tmp_path: Path) -> None:
    _store_fit(tmp_path, "k", "key", SavedText("model"))
    (tmp_path / "fits" / "k.key" / "model.txt").unlink()
    assert _cached_fit(tmp_path, "k", "key", SavedText.load) is None
