"""Tests for bot.nlu.classifier: the served `TopicModel` (plain numpy) gives the probabilities
scikit-learn gives for the fitted `TopicClassifier`, survives its files, and the known-word check
matches the sets it replaces. Small data, deterministic fake embeddings (the real model is
measured by `python -m eval`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.classifier import ClassifierConfig, KnownWords, TopicClassifier, TopicModel, vocabulary_coverage
from bot.nlu.pipeline import CompactLemmas, _hash
from tests.small_nlu import TOPICS, topic_examples
from tests.small_nlu import fake_embeddings as _fake_embeddings

pytestmark = pytest.mark.unit

PROBES = [
    "", " ", "a", "ﷺ" * 8, "Ã¦Ã¸Ã¥ mojibake", "İstanbul ǅ ß ﬁ", "hej\u00a0med\u2003dig", "😀 🚒 brand!!!",
    "skraldebilen kom ikke " * 200, "x" * 4000, "hvornaar kommer skraldebilen", "BOLIGSTØTTE??", "pas",
    "hvornår kommer skraldebilen til Torvet", "fodbold", "123 456 789", "\x00\x01 kontrol",
]


def _known() -> KnownWords:
    lemmas = CompactLemmas.build({"kommer": "komme", "skraldebilen": "skraldebil", "passet": "pas"})
    # As KnownWords.build does: the table's lemmas and the other word lists hashed, forms looked up.
    words = [*lemmas.lemmas, "hvornår", "til", "jeg", "skal", "have", "nyt", "the", "is", "kan", "få"]
    return KnownWords(np.unique(np.array([_hash(w) for w in words], np.uint64)), lemmas)


@pytest.fixture(scope="module")
def fitted() -> TopicClassifier:
    texts, labels = topic_examples()
    return TopicClassifier(ClassifierConfig(folds=3)).fit(texts, labels, _fake_embeddings(texts), known=_known())


def test_classifier_served_model_equals_scikit_learn(fitted: TopicClassifier, tmp_path: Path) -> None:
    texts = PROBES + [t.format(p="Torvet") for ts in TOPICS.values() for t in ts]
    emb = _fake_embeddings(texts)
    ref_probs, ref_oos = fitted.predict(texts, emb)
    served = fitted.export()
    served.save(tmp_path)
    loaded = TopicModel.load(tmp_path, danish=served.known.danish)
    for model in (served, loaded):
        probs, oos = model.predict(texts, emb)
        assert model.labels == fitted.labels
        assert np.abs(probs - ref_probs).max() < 1e-5
        assert np.abs(oos - ref_oos).max() < 1e-5
    assert loaded.answer_threshold == fitted.answer_threshold
    # One text at a time (as the server asks) gives the same rows as the batch.
    for i in (0, 3, 8, 13):
        one, one_oos = loaded.predict(texts[i : i + 1], emb[i : i + 1])
        assert np.abs(one[0] - ref_probs[i]).max() < 1e-5 and abs(one_oos[0] - ref_oos[i]) < 1e-5


def test_classifier_served_model_still_separates_topics(fitted: TopicClassifier) -> None:
    texts = ["hvornår kommer skraldebilen til Torvet", "kan jeg få boligstøtte til Torvet"]
    probs, _ = fitted.export().predict(texts, _fake_embeddings(texts))
    assert [fitted.labels[i] for i in probs.argmax(axis=1)] == ["affald_toemning", "bolig_stoette"]


def test_classifier_known_words_match_the_word_sets() -> None:
    known = _known()
    for word in ("kommer", "komme", "skraldebil", "hvornår", "the", "pas"):
        assert word in known
    for word in ("skraldebiler", "qwerty", "", "Hvornår"):
        assert word not in known
    assert vocabulary_coverage("Hvornår kommer qwerty?", vocab=known) == pytest.approx(2 / 3)
    assert vocabulary_coverage("qwerty zxcv", frozenset({"zxcv"}), vocab=known) == 0.5
    assert vocabulary_coverage("123 !!", vocab=known) == 0.0
