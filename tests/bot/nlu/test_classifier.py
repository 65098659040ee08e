"""Tests for bot.nlu.classifier: the served `TopicModel` (plain numpy) gives the probabilities
scikit-learn gives for the fitted `TopicClassifier`, survives its files, and the known-word check
matches the sets it replaces. Small data, deterministic fake embeddings (the real model is
measured by `python -m eval`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.classifier import (
    ClassifierConfig,
    KnownWords,
    Neighbours,
    TopicClassifier,
    TopicModel,
    vocabulary_coverage,
    with_neighbours,
)
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


def test_classifier_nearest_examples_vote_for_their_topic() -> None:
    # Two topics the linear models nearly tie on; the message is almost an example of the second.
    p = np.array([[0.55, 0.45], [0.55, 0.45]])
    labels = np.array([0, 0, 1, 1], np.int16)
    near_second = np.array([[0.70, 0.71, 0.99, 0.80]])
    far_from_all = np.array([[0.60, 0.61, 0.62, 0.60]])
    nb = Neighbours(k=3)
    close = with_neighbours(p[:1], near_second, labels, nb)
    assert close.argmax() == 1 and close.sum() == pytest.approx(1.0)
    # Far from every example the vote is flat: the linear models decide.
    flat = with_neighbours(p[:1], far_from_all, labels, nb)
    assert flat.argmax() == 0 and np.abs(flat - p[:1]).max() < 0.01
    # Without example labels (a model saved before they were kept) nothing changes.
    assert np.array_equal(with_neighbours(p[:1], near_second, None, nb), p[:1])


def test_classifier_model_saved_without_example_labels_has_no_vote(fitted: TopicClassifier, tmp_path: Path) -> None:
    served = fitted.export()
    arrays = {k: v for k, v in served.arrays().items() if k != "train_label"}
    inscope = served.arrays()["train_label"] != served.labels.index("dialog_uden_for_omraade")
    arrays["train_emb"] = arrays["train_emb"][inscope]
    old = TopicModel(labels=served.labels, answer_threshold=served.answer_threshold, lexical_weight=served.lexical_weight,
                     arrays=arrays, char=served.char, word=served.word, train_words=served.train_words,
                     known=served.known, neighbours=Neighbours())
    assert old.neighbours.weight == 0.0
    texts = ["hvornår kommer skraldebilen til Torvet"]
    probs, oos = old.predict(texts, _fake_embeddings(texts))
    assert probs.shape == (1, len(served.labels)) and 0.0 <= oos[0] <= 1.0
