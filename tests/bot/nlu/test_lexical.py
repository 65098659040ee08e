"""Tests for bot.nlu.lexical: the numpy n-gram analysers and tf-idf rows give what scikit-learn's
fitted `TfidfVectorizer` gives, on ordinary Danish and on odd text (the served models rely on it)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu.lexical import CountedTexts, TfidfFeatures, Vocabulary, sigmoid, softmax, sparse_scores

pytestmark = pytest.mark.unit

TRAIN = [
    "hvornår kommer skraldebilen", "jeg skal have nyt pas", "boligstøtte til min lejlighed",
    "min mor er faldet og kan ikke rejse sig", "hvornaar kommer skraldebilen", "pas pas pas fornyelse",
    "det brænder i køkkenet", "Kan jeg få tilskud til husleje?", "hvor er genbrugspladsen",
    "jeg vil klage over snerydningen", "ÆØÅ æøå aa ae oe", "x",
]
ODD = [
    "", " ", "   \t\n  ", "a", "ab", "ø", "?!", "ﷺ" * 8, "Ã¦Ã¸Ã¥ mojibake", "İstanbul ǅungla ß ﬁne",
    "hej\u00a0med\u2003dig\u2028og\u3000dig", "😀 🚒 brand!!!", "٣٤٥ ١٢ arabic digits", "\u0301combining",
    "ПРИВЕТ мир", "boligstøtte " * 300, "x" * 5000, "skralde-bilen/kommer_ikke", "tab\tand\r\nnewline",
    "Hvornår KOMMER skraldebilen??", "pas pas", "kommer skraldebilen", "\x00\x01 control",
]


def _fitted(**kw) -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **kw).fit(TRAIN)


VECTORISERS = {
    "char_wb 2-5 min_df 2": dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2),
    "char_wb 1-3": dict(analyzer="char_wb", ngram_range=(1, 3)),
    "word 1-2": dict(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+"),
    "word 1-3 default pattern": dict(analyzer="word", ngram_range=(1, 3)),
    "word 2-2": dict(analyzer="word", ngram_range=(2, 2), token_pattern=r"\S+"),
}


@pytest.mark.parametrize("name", sorted(VECTORISERS))
def test_lexical_rows_equal_scikit_learn(name: str) -> None:
    vec = _fitted(**VECTORISERS[name])
    ours = TfidfFeatures.from_sklearn(vec)
    texts = TRAIN + ODD
    ref = vec.transform(texts).toarray()
    for i, text in enumerate(texts):
        row = np.zeros(ours.size, np.float64)
        cols, vals = ours.row(text)
        row[cols] = vals
        assert np.allclose(row, ref[i], atol=1e-6), text[:40]


def test_lexical_terms_equal_the_scikit_learn_analyser() -> None:
    for kw in VECTORISERS.values():
        vec = _fitted(**kw)
        analyse = vec.build_analyzer()
        ours = TfidfFeatures.from_sklearn(vec)
        for text in TRAIN + ODD:
            assert ours.terms(text) == analyse(text)


def test_lexical_features_survive_json() -> None:
    vec = _fitted(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+")
    ours = TfidfFeatures.from_sklearn(vec)
    back = TfidfFeatures.from_json(ours.to_json(), ours.idf)
    assert back.vocabulary == ours.vocabulary and back.terms("pas pas fornyelse") == ours.terms("pas pas fornyelse")


def test_lexical_export_refuses_options_it_does_not_compute() -> None:
    with pytest.raises(ValueError, match="strip_accents"):
        TfidfFeatures.from_sklearn(_fitted(analyzer="word", strip_accents="unicode"))
    with pytest.raises(ValueError, match="analyzer"):
        TfidfFeatures.from_sklearn(_fitted(analyzer="char", ngram_range=(2, 3)))


def test_lexical_sparse_scores_equal_a_dense_product() -> None:
    char = TfidfFeatures.from_sklearn(_fitted(analyzer="char_wb", ngram_range=(2, 4)))
    word = TfidfFeatures.from_sklearn(_fitted(analyzer="word", token_pattern=r"\S+"))
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(5 + char.size + word.size, 4)).astype(np.float32)
    texts = ["kommer skraldebilen", "", "ø pas"]
    got = sparse_scores([(char, texts), (word, texts)], weights, offset=5)
    for i, t in enumerate(texts):
        dense = np.zeros(weights.shape[0])
        c, v = char.row(t)
        dense[5 + c] = v
        c, v = word.row(t)
        dense[5 + char.size + c] = v
        assert np.allclose(got[i], dense @ weights, atol=1e-5)


def test_lexical_softmax_and_sigmoid_are_stable() -> None:
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert np.allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    assert np.allclose(sigmoid(np.array([0.0, 40.0])), [0.5, 1.0])


def test_lexical_vocabulary_finds_each_term_and_nothing_else() -> None:
    terms = ["aa", "ab", "boligstøtte", "ø", "😀x", "\udcff"]
    vocab = Vocabulary(terms)
    assert [vocab.get(t) for t in terms] == list(range(len(terms)))
    assert list(vocab) == terms and len(vocab) == len(terms) and dict(vocab) == {t: j for j, t in enumerate(terms)}
    assert vocab.columns(["ab", "zz", "", "ø", "aa "]).tolist() == [1, -1, -1, 3, -1]


def test_lexical_vocabulary_lets_the_text_decide_between_equal_hashes() -> None:
    # Every string hashes alike: each lookup must still find its own term, or none.
    vocab = Vocabulary(["b", "a", "c"], key=lambda _: 7)
    assert vocab.columns(["a", "c", "b", "d", "a"]).tolist() == [1, 2, 0, -1, 1]
    assert vocab.get("d") is None and vocab["c"] == 2


@pytest.mark.parametrize("name", sorted(VECTORISERS))
def test_lexical_counted_texts_equal_a_vectoriser_fitted_on_the_rows(name: str) -> None:
    texts = TRAIN + ODD
    counted = CountedTexts(TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **VECTORISERS[name]), texts)
    rng = np.random.default_rng(3)
    for _ in range(4):
        rows = rng.permutation(len(texts))
        fit_rows, other_rows = np.sort(rows[:20]), rows[20:]
        vec = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **VECTORISERS[name])
        expected_fit = vec.fit_transform([texts[i] for i in fit_rows])
        expected_other = vec.transform([texts[i] for i in other_rows])
        got_fit, got_other = counted.tfidf(fit_rows, other_rows)
        assert got_fit.shape == expected_fit.shape and got_other.shape == expected_other.shape
        assert got_fit.dtype == np.float32
        assert abs(got_fit - expected_fit).max() == 0 and abs(got_other - expected_other).max() == 0


def test_lexical_counted_texts_refuse_limits_they_do_not_recompute() -> None:
    with pytest.raises(ValueError, match="max_features"):
        CountedTexts(TfidfVectorizer(max_features=10), TRAIN)
    with pytest.raises(ValueError, match="min_df"):
        CountedTexts(TfidfVectorizer(min_df=0.1), TRAIN)
