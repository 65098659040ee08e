"""Tests for eval.metrics on small examples computed by hand."""

from __future__ import annotations

import pytest

from eval.metrics import PRF, accuracy, confusions, macro_f1, mrr, per_class, prf, recall_of, top_k_accuracy

pytestmark = pytest.mark.unit

EXPECTED = ["pas", "pas", "affald", "affald", "boligstøtte"]
PREDICTED = ["pas", "affald", "affald", "affald", "pas"]


def test_metrics_accuracy() -> None:
    assert accuracy(EXPECTED, PREDICTED) == pytest.approx(3 / 5)
    assert accuracy(["a"], ["a"]) == 1.0
    assert accuracy([], []) == 0.0


def test_metrics_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        accuracy(["a", "b"], ["a"])


def test_metrics_top_k_accuracy() -> None:
    expected = ["pas", "affald", "boligstøtte"]
    rankings = [["pas", "affald"], ["pas", "affald", "x"], ["x", "y", "boligstøtte"]]
    assert top_k_accuracy(expected, rankings, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(expected, rankings, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(expected, rankings, 3) == pytest.approx(1.0)
    assert top_k_accuracy([], [], 3) == 0.0


def test_metrics_prf() -> None:
    # tp = 2 (idx 0, 3), fp = 1 (idx 1), fn = 1 (idx 2), tn = 1 (idx 4)
    expected = [True, False, True, True, False]
    predicted = [True, True, False, True, False]
    result = prf(expected, predicted)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(2 / 3)
    assert result.support == 3


def test_metrics_prf_asymmetric() -> None:
    # tp = 1, fp = 3, fn = 0: precision 1/4, recall 1, f1 = 2 * 0.25 / 1.25 = 0.4
    result = prf([True, False, False, False], [True, True, True, True])
    assert (result.precision, result.recall, result.f1, result.support) == pytest.approx((0.25, 1.0, 0.4, 1))


def test_metrics_prf_without_positives() -> None:
    assert prf([False, False], [False, False]) == PRF(0.0, 0.0, 0.0, 0)


def test_metrics_per_class() -> None:
    scores = per_class(EXPECTED, PREDICTED)
    assert set(scores) == {"pas", "affald", "boligstøtte"}
    # pas: tp 1, fp 1 (boligstøtte -> pas), fn 1 (pas -> affald)
    assert (scores["pas"].precision, scores["pas"].recall, scores["pas"].f1) == pytest.approx((0.5, 0.5, 0.5))
    # affald: tp 2, fp 1, fn 0 -> p 2/3, r 1, f1 0.8
    assert (scores["affald"].precision, scores["affald"].recall, scores["affald"].f1) == pytest.approx((2 / 3, 1.0, 0.8))
    assert scores["boligstøtte"] == PRF(0.0, 0.0, 0.0, 1)


def test_metrics_macro_f1() -> None:
    assert macro_f1(EXPECTED, PREDICTED) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0
    assert macro_f1([], []) == 0.0


def test_metrics_macro_f1_ignores_classes_only_predicted() -> None:
    # "c" is never expected, so it is not averaged in (it only lowers a's precision)
    assert macro_f1(["a", "a"], ["a", "c"]) == pytest.approx(2 / 3)


def test_metrics_recall_of() -> None:
    # three emergencies, two caught; the false alarm on a non-emergency does not count
    expected = [True, True, True, False]
    caught = [True, False, True, True]
    assert recall_of(expected, caught) == pytest.approx(2 / 3)
    assert recall_of([False, False], [True, False]) == 1.0  # nothing to catch, nothing missed


def test_metrics_mrr() -> None:
    assert mrr([1, 2, None, 4]) == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert mrr([1, 1]) == 1.0
    assert mrr([None]) == 0.0
    assert mrr([]) == 0.0


def test_metrics_confusions() -> None:
    result = confusions(EXPECTED, PREDICTED)
    assert result == [
        ("boligstøtte", 0.0, [("pas", 1)]),
        ("pas", pytest.approx(0.5), [("affald", 1)]),
        ("affald", pytest.approx(0.8), []),
    ]


def test_metrics_confusions_worst_and_perfect_classes() -> None:
    expected = ["a", "a", "a", "b", "b", "c"]
    predicted = ["b", "b", "c", "b", "b", "c"]
    # a: f1 0; b: tp 2 fp 2 -> p .5 r 1 f1 2/3; c: tp 1 fp 1 -> p .5 r 1 f1 2/3
    assert confusions(expected, predicted, worst=1) == [("a", 0.0, [("b", 2), ("c", 1)])]
    assert confusions(["a", "b"], ["a", "b"]) == []  # perfect classes are not listed
