"""Tests for bot.safety_model: the corpus format, how topic data joins it, threshold choice for a
target recall, and a fit/predict round trip on a small corpus with deterministic fake embeddings
(the real model is measured by `python -m eval`)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.errors import TrainingDataError
from bot.safety import safety_chunks
from bot.safety_model import (
    ACUTE,
    LABELS,
    NONE,
    SENSITIVE,
    SafetyClassifier,
    SafetyConfig,
    SafetyExample,
    SafetyThresholds,
    examples_from_topics,
    loads_corpus,
    merge_examples,
    threshold_for_recall,
    with_none_windows,
)
from tests.small_nlu import fake_embeddings as _fake_embeddings

pytestmark = pytest.mark.unit

SENSITIVE_TOPICS = ("social_vold", "social_hjemloeshed")

GOOD = """
groups:
- kind: gas
  label: acute
  examples: |
    - det lugter voldsomt af gas i kælderen
    - there is a smell of gas
- kind: vold_naer_relation
  label: sensitive
  topic: social_vold
  examples: |
    - min kæreste slog mig i weekenden
- kind: brand_aerinde
  label: none
  examples: |
    - hvornår kommer brandsynet
"""


def test_safety_model_corpus_loads_labels_kinds_and_topics() -> None:
    ex = loads_corpus(GOOD, "good.safety", SENSITIVE_TOPICS)
    assert [(e.label, e.kind, e.topic) for e in ex] == [
        (ACUTE, "gas", None), (ACUTE, "gas", None), (SENSITIVE, "vold_naer_relation", "social_vold"),
        (NONE, "brand_aerinde", None),
    ]
    assert ex[1].text == "there is a smell of gas"
    assert all(e.source == "good.safety" for e in ex)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("groups: []", "non-empty list"),
        ("nlu: []", "`groups`"),
        ("groups:\n- kind: gas\n  label: urgent\n  examples: |\n    - x\n", "`label`"),
        ("groups:\n- kind: Gas Leak\n  label: acute\n  examples: |\n    - x\n", "`kind`"),
        ("groups:\n- kind: vold\n  label: sensitive\n  examples: |\n    - x\n", "needs `topic`"),
        ("groups:\n- kind: vold\n  label: sensitive\n  topic: affald_toemning\n  examples: |\n    - x\n", "needs `topic`"),
        ("groups:\n- kind: gas\n  label: acute\n  topic: social_vold\n  examples: |\n    - x\n", "only sensitive"),
        ("groups:\n- kind: gas\n  label: acute\n  examples: |\n    - x\n    - x\n", "duplicate"),
        ("groups:\n- kind: gas\n  label: acute\n  examples: |\n    x\n", "'- text'"),
        ("groups:\n- kind: gas\n  label: acute\n  examples:\n    - x\n", "literal block"),
        ("groups:\n- kind: gas\n  label: acute\n  note: hi\n  examples: |\n    - x\n", "unknown keys"),
        ("groups: [", "not valid YAML"),
    ],
)
def test_safety_model_corpus_rejects_malformed_files(content: str, complaint: str) -> None:
    with pytest.raises(TrainingDataError, match="bad.safety") as err:
        loads_corpus(content, "bad.safety", SENSITIVE_TOPICS)
    assert complaint in str(err.value)


def test_safety_model_corpus_line_keeps_escaped_line_breaks_of_an_email() -> None:
    content = "groups:\n- kind: epost\n  label: none\n  examples: |\n    - Emne: Storskrald\\n\\nHej\\nMvh Jens\n"
    (ex,) = loads_corpus(content, "mail.safety", SENSITIVE_TOPICS)
    assert ex.text == "Emne: Storskrald\n\nHej\nMvh Jens"


def test_safety_model_long_harmless_examples_add_their_windows_as_none() -> None:
    mail = ("Emne: Ejendomsskat efter brand\n\nGoddag\n\nVores hus brændte i januar, og der er kun fundamentet "
            "tilbage. Alligevel har vi fået en regning for det fulde beløb, som om huset stod der endnu. "
            "Kan I rette det, så vi kun betaler for grunden?\n\nMed venlig hilsen\nEjvind og Grete Holm")
    acute = mail.replace("Goddag", "Goddag, min mand ligger på gulvet og svarer ikke lige nu")
    examples = [SafetyExample(mail, NONE, "brand_aerinde"), SafetyExample(acute, ACUTE, "bevidstloes"),
                SafetyExample("kort besked", NONE, "x")]
    out = with_none_windows(examples, safety_chunks)
    windows = safety_chunks(mail)
    assert len(windows) > 1 and out[:3] == examples
    assert [(e.text, e.label, e.kind) for e in out[3:]] == [(w, NONE, "brand_aerinde") for w in windows]


def test_safety_model_topic_data_maps_to_safety_labels() -> None:
    pairs = [("dialog_noedsituation", "det brænder"), ("social_vold", "han slår mig"), ("affald_toemning", "skrald")]
    ex = examples_from_topics(pairs, "dialog_noedsituation", SENSITIVE_TOPICS)
    assert [(e.label, e.topic) for e in ex] == [(ACUTE, None), (SENSITIVE, "social_vold"), (NONE, None)]


def test_safety_model_corpus_label_wins_over_topic_label() -> None:
    corpus = [SafetyExample("Min far faldt om i går", NONE, "fortid", source="x.safety")]
    topics = examples_from_topics([("dialog_noedsituation", "min far faldt om i går"), ("affald_toemning", "skrald")],
                                  "dialog_noedsituation", ())
    merged = merge_examples(topics, corpus)
    assert sorted((e.text.lower(), e.label) for e in merged) == [("min far faldt om i går", NONE), ("skrald", NONE)]


@pytest.mark.parametrize(
    ("recall", "expected"),
    [(1.0, 0.1), (0.9, 0.2), (0.5, 0.7)],  # the bar sits just under the lowest positive it must keep
)
def test_safety_model_threshold_for_recall(recall: float, expected: float) -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.05, 0.01])
    positive = np.array([True] * 10 + [False] * 2)
    t = threshold_for_recall(scores, positive, recall, lowest=0.0, highest=1.0)
    assert t == pytest.approx(expected, abs=1e-4)
    assert (scores[positive] >= t).mean() >= recall


def test_safety_model_threshold_is_clamped() -> None:
    scores, positive = np.array([0.9, 0.95, 0.01]), np.array([True, True, False])
    assert threshold_for_recall(scores, positive, 1.0) == 0.5  # a clean split never gets a bar above 0.5
    assert threshold_for_recall(np.array([0.01, 0.02]), np.array([True, True]), 1.0) == 0.05


def test_safety_model_thresholds_round_trip_through_a_dict() -> None:
    t = SafetyThresholds(acute=0.12, sensitive=0.34)
    assert SafetyThresholds.from_dict({**t.to_dict(), "unknown": 1}) == t


PLACES = ["køkkenet", "kælderen", "stuen", "garagen", "opgangen", "skuret", "loftet", "haven", "bilen", "huset",
          "værelset", "lejligheden"]


def _small_corpus() -> list[SafetyExample]:
    ex = []
    for p in PLACES:
        ex.append(SafetyExample(f"det brænder i {p} lige nu", ACUTE, "brand", source="t.safety"))
        ex.append(SafetyExample(f"der er flammer i {p}", ACUTE, "brand", source="t.safety"))
        ex.append(SafetyExample(f"jeg har ikke noget sted at sove i {p}", SENSITIVE, "hjem", "social_hjemloeshed",
                                source="t.safety"))
        ex.append(SafetyExample(f"hvornår kommer brandsynet til {p}", NONE, "brandsyn", source="t.safety"))
        ex.append(SafetyExample(f"skal jeg søge tilladelse til at bygge om i {p}", NONE, "byg", source="topics"))
    return ex


def test_safety_model_fits_and_separates_a_small_corpus() -> None:
    corpus = _small_corpus()
    clf = SafetyClassifier(SafetyConfig(folds=3)).fit(corpus, _fake_embeddings([e.text for e in corpus]))
    texts = ["det brænder i carporten lige nu", "hvornår kommer brandsynet til carporten",
             "jeg har ikke noget sted at sove i carporten"]
    probs = clf.predict(texts, _fake_embeddings(texts))
    assert probs.shape == (3, len(LABELS))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert [LABELS[i] for i in probs.argmax(axis=1)] == [ACUTE, NONE, SENSITIVE]
    scores = clf.scores(texts[:1], _fake_embeddings(texts[:1]))[0]
    assert set(scores) == set(LABELS) and scores[ACUTE] >= clf.thresholds.acute
    assert 0.05 <= clf.thresholds.acute <= 0.5 and 0.05 <= clf.thresholds.sensitive <= 0.5
    assert clf.report["acute"] == 2 * len(PLACES) and clf.report["oof_acute_recall"] >= 0.97 - 1e-9


ODD_TEXTS = ["", " ", "ﷺ" * 8, "Ã¦Ã¸Ã¥", "İstanbul ǅ ß ﬁ", "hej\u00a0med\u2003dig", "😀 🚒 brand!!!",
             "det brænder " * 300, "x" * 4000, "\x00\x01", "det braender i koekkenet", "der VAR en brand i går"]


def test_safety_model_served_model_equals_scikit_learn(tmp_path) -> None:
    from bot.safety_model import SafetyModel

    corpus = _small_corpus()
    clf = SafetyClassifier(SafetyConfig(folds=3)).fit(corpus, _fake_embeddings([e.text for e in corpus]))
    texts = ODD_TEXTS + [e.text.replace("i ", "ved ") for e in corpus]
    emb = _fake_embeddings(texts)
    ref = clf.predict(texts, emb)
    served = clf.export()
    served.save(tmp_path)
    loaded = SafetyModel.load(tmp_path)
    for model in (served, loaded):
        assert np.abs(model.predict(texts, emb) - ref).max() < 1e-5
        assert model.thresholds == clf.thresholds and model.report == clf.report
    one = loaded.scores(texts[7:8], emb[7:8])[0]
    assert one == pytest.approx(dict(zip(LABELS, ref[7].tolist(), strict=True)), abs=1e-5)
