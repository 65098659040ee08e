"""Tests for the incremental fit of bot.train: after a small edit a model keeps the out-of-fold
rows of its previous fit and refits only its final model, warm-started; a large edit, other code
or `--full` fits everything. Small data and deterministic fake embeddings (the real models are
compared with a full retrain by `python -m eval`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.classifier import KnownWords, TopicModel
from bot.nlu.pipeline import CompactLemmas, _hash
from bot.safety_model import ACUTE, LABELS, NONE, SENSITIVE, SafetyExample, SafetyModel
from bot.train import Folds, _fit_safety, _fit_topic, _store_fit, example_keys, plan_reuse
from tests.small_nlu import TOPICS, topic_examples
from tests.small_nlu import fake_embeddings as _fake_embeddings

pytestmark = pytest.mark.unit

# Wording none of the examples has: the previous model reads it as another topic.
NEW = ("huslejehjælp ansøgning", "bolig_stoette")


@pytest.fixture(autouse=True)
def _small_known_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small known-word list instead of the whole Danish lemma table (seconds per fit)."""
    lemmas = CompactLemmas.build({"kommer": "komme", "skraldebilen": "skraldebil", "passet": "pas"})
    known = KnownWords(np.unique(np.array([_hash(w) for w in [*lemmas.lemmas, "hvornår", "jeg"]], np.uint64)), lemmas)
    monkeypatch.setattr("bot.nlu.classifier.danish_vocabulary", lambda: known)


def _folds(keys: list[str], base: str = "base", borrowed: int = 0) -> Folds:
    n = len(keys)
    flags = np.zeros(n, bool)
    flags[:borrowed] = True
    return Folds(base, keys, np.full((n, 3), 1 / 3), np.arange(n, dtype=np.float64), flags)


class Saved:
    def save(self, directory: Path) -> list[str]:
        (directory / "model.txt").write_text("model", encoding="utf-8")
        return ["model.txt"]


def test_train_plan_reuse_takes_the_incremental_path_after_a_small_edit(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(200)]
    _store_fit(tmp_path, "safety", "key1", Saved(), _folds(keys))
    edited = [*keys[:150], "new", *keys[151:], "added"]  # one relabelled (k150 -> new), one added
    reuse, why = plan_reuse(tmp_path, "safety", "base", edited)
    assert reuse is not None, why
    assert reuse.changed == 3  # k150 gone, "new" and "added" come
    assert reuse.rows.tolist() == [*range(150), -1, *range(151, 200), -1]
    composed = reuse.compose(np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([7.0, 8.0]))
    assert composed.rows[150].tolist() == [1.0, 0, 0] and composed.rows[-1].tolist() == [0, 1.0, 0]
    assert composed.rows[3].tolist() == pytest.approx([1 / 3] * 3)
    assert composed.sim[[3, 150, 200]].tolist() == [3.0, 7.0, 8.0]
    assert composed.borrowed.sum() == 2 and composed.borrowed[[150, 200]].all()


@pytest.mark.parametrize(
    ("edit", "borrowed", "base", "full", "why"),
    [
        (lambda k: [*k[:190], *[f"n{i}" for i in range(10)]], 0, "base", False, "changed examples"),
        (lambda k: [*k, "n"], 4, "base", False, "since the last full fit"),
        (lambda k: [*k, "n"], 0, "other code", False, "configuration or code"),
        (lambda k: [*k, "n"], 0, "base", True, "--full"),
    ],
    ids=["large-edit", "drifted", "other-code", "full"],
)
def test_train_plan_reuse_takes_the_full_path(tmp_path: Path, edit, borrowed: int, base: str, full: bool,
                                              why: str) -> None:
    keys = [f"k{i}" for i in range(200)]
    _store_fit(tmp_path, "safety", "key1", Saved(), _folds(keys, borrowed=borrowed))
    reuse, reason = plan_reuse(tmp_path, "safety", base, edit(keys), full=full)
    assert reuse is None and why in reason


def test_train_plan_reuse_needs_kept_rows(tmp_path: Path) -> None:
    assert plan_reuse(tmp_path, "safety", "base", ["a"])[0] is None
    _store_fit(tmp_path, "safety", "key1", Saved())  # a fit stored without its rows
    assert plan_reuse(tmp_path, "safety", "base", ["a"]) == (None, "the previous fit kept no out-of-fold rows")


def test_train_incremental_topic_fit_learns_the_new_example(tmp_path: Path) -> None:
    texts, labels = topic_examples()
    model, folds, _ = _fit_topic(texts, labels, _fake_embeddings(texts), "base", None, n_jobs=None)
    assert not folds.borrowed.any() and folds.keys == example_keys(labels, texts)
    _store_fit(tmp_path, "classifier", "key1", model, folds)
    previous = TopicModel.load(next((tmp_path / "fits").iterdir()))
    assert previous.labels[int(previous.probabilities([NEW[0]], _fake_embeddings([NEW[0]])).argmax())] != NEW[1]

    texts2, labels2 = [*texts, NEW[0]], [*labels, NEW[1]]
    keys2 = example_keys(labels2, texts2)
    assert plan_reuse(tmp_path, "classifier", "base", keys2, topics=["other", *sorted(TOPICS)])[1] == "the topics changed"
    reuse, why = plan_reuse(tmp_path, "classifier", "base", keys2, topics=sorted(TOPICS))
    assert reuse is not None and reuse.changed == 1, why
    x2 = _fake_embeddings(texts2)
    inc, inc_folds, iterations = _fit_topic(texts2, labels2, x2, "base", reuse, n_jobs=None)
    full, full_folds, _ = _fit_topic(texts2, labels2, x2, "base", None, n_jobs=None)
    assert iterations["lexical"] > 0  # the warm start still moved
    assert inc_folds.borrowed.tolist() == [False] * len(texts) + [True]
    # The kept rows are the previous fit's; the new one is the previous model's prediction.
    assert np.array_equal(inc_folds.rows[: len(texts)], folds.rows)
    probe = [NEW[0], *texts2[::7]]
    p_inc, p_full = inc.probabilities(probe, _fake_embeddings(probe)), full.probabilities(probe, _fake_embeddings(probe))
    assert inc.labels[int(p_inc[0].argmax())] == NEW[1]
    assert (p_inc.argmax(axis=1) == p_full.argmax(axis=1)).all()
    assert np.abs(p_inc - p_full).max() < 0.05


def _safety_corpus() -> list[SafetyExample]:
    acute = ["der er brand i køkkenet lige nu", "min mand trækker ikke vejret", "der lugter af gas i opgangen",
             "han har et knivstik og bløder meget", "røgen vælter ud under døren", "hun er faldet om og svarer ikke"]
    sensitive = ["min kæreste slår mig når han drikker", "jeg tænker på at tage mit eget liv",
                 "min far rører mig på en måde jeg ikke kan lide", "jeg tør ikke gå hjem til ham",
                 "jeg har ingen steder at sove i nat", "jeg skader mig selv for at klare dagen"]
    none = ["hvornår kommer skraldebilen", "jeg skal have nyt pas", "kan jeg få boligstøtte",
            "brandstationen holder åbent hus", "vi havde en brand sidste år, hvad med forsikringen",
            "hvordan søger jeg om parkeringslicens"]
    out = []
    for variant in ("", " i dag", " nu her", " hjælp", " på Parkvej", " igen", " hurtigt", " tak"):
        out += [SafetyExample(t + variant, ACUTE, "akut", source="x.safety") for t in acute]
        out += [SafetyExample(t + variant, SENSITIVE, "svaer", "vold", source="x.safety") for t in sensitive]
        out += [SafetyExample(t + variant, NONE, "andet", source="x.safety") for t in none]
    return out


def test_train_incremental_safety_fit_learns_the_new_example(tmp_path: Path) -> None:
    corpus = _safety_corpus()
    model, folds, _ = _fit_safety(corpus, _fake_embeddings([e.text for e in corpus]), "base", None)
    _store_fit(tmp_path, "safety", "key1", model, folds)
    new = SafetyExample("min søn har slugt opvasketabs", ACUTE, "forgiftning", source="x.safety")
    previous = SafetyModel.load(next((tmp_path / "fits").iterdir()))
    assert LABELS[int(previous.predict([new.text], _fake_embeddings([new.text]))[0].argmax())] != ACUTE
    corpus2 = [*corpus, new]
    labels = [f"{e.label}|{e.source == 'topics'}|{e.weight}" for e in corpus2]
    reuse, why = plan_reuse(tmp_path, "safety", "base", example_keys(labels, [e.text for e in corpus2]), share=0.02)
    assert reuse is not None and reuse.changed == 1, why
    x2 = _fake_embeddings([e.text for e in corpus2])
    inc, inc_folds, _ = _fit_safety(corpus2, x2, "base", reuse)
    full, _, _ = _fit_safety(corpus2, x2, "base", None)
    assert isinstance(inc, SafetyModel) and inc_folds.borrowed.sum() == 1
    p_inc, p_full = inc.predict([new.text], x2[-1:]), full.predict([new.text], x2[-1:])
    assert LABELS[int(p_inc[0].argmax())] == ACUTE == LABELS[int(p_full[0].argmax())]
    assert inc.thresholds.acute >= inc.thresholds.acute_floor


def test_train_incremental_safety_fit_in_a_thread_equals_the_second_process(tmp_path: Path) -> None:
    # After a small edit `train` fits the safety model in a thread beside the topic fit, under one
    # BLAS/OpenMP thread for both, instead of in a spawned process: the model must be the same.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    corpus = _safety_corpus()
    model, folds, _ = _fit_safety(corpus, _fake_embeddings([e.text for e in corpus]), "base", None)
    _store_fit(tmp_path, "safety", "key1", model, folds)
    corpus2 = [*corpus, SafetyExample("min søn har slugt opvasketabs", ACUTE, "forgiftning", source="x.safety")]
    labels = [f"{e.label}|{e.source == 'topics'}|{e.weight}" for e in corpus2]
    reuse, _ = plan_reuse(tmp_path, "safety", "base", example_keys(labels, [e.text for e in corpus2]), share=0.02)
    x2 = _fake_embeddings([e.text for e in corpus2])
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_process = pool.submit(_fit_safety, corpus2, x2, "base", reuse).result()[0]
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=1) as side:
        in_thread = side.submit(_fit_safety, corpus2, x2, "base", reuse, None).result()[0]
    a, b = in_process.arrays(), in_thread.arrays()
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert in_process.thresholds == in_thread.thresholds
