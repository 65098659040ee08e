"""Metrics as pure functions over (expected, predicted) pairs, so they have tests of their own."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


def accuracy(expected: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(e == p for e, p in zip(expected, predicted, strict=True)) / len(expected) if expected else 0.0


def top_k_accuracy(expected: Sequence[str], rankings: Sequence[Sequence[str]], k: int) -> float:
    return sum(e in r[:k] for e, r in zip(expected, rankings, strict=True)) / len(expected) if expected else 0.0


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    support: int


def prf(expected: Sequence[bool], predicted: Sequence[bool]) -> PRF:
    tp = sum(e and p for e, p in zip(expected, predicted, strict=True))
    fp = sum(p and not e for e, p in zip(expected, predicted, strict=True))
    fn = sum(e and not p for e, p in zip(expected, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1, tp + fn)


def per_class(expected: Sequence[str], predicted: Sequence[str]) -> dict[str, PRF]:
    labels = sorted(set(expected))
    return {c: prf([e == c for e in expected], [p == c for p in predicted]) for c in labels}


def macro_f1(expected: Sequence[str], predicted: Sequence[str]) -> float:
    scores = per_class(expected, predicted)
    return sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0


def recall_of(expected: Sequence[bool], caught: Sequence[bool]) -> float:
    pos = [c for e, c in zip(expected, caught, strict=True) if e]
    return sum(pos) / len(pos) if pos else 1.0


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank; `None` = not found (contributes 0). Ranks are 1-based."""
    return sum(1 / r for r in ranks if r) / len(ranks) if ranks else 0.0


def confusions(expected: Sequence[str], predicted: Sequence[str], worst: int = 8) -> list[tuple[str, float, list[tuple[str, int]]]]:
    """The `worst` classes by F1, each with its most frequent wrong predictions."""
    wrong: dict[str, Counter] = defaultdict(Counter)
    for e, p in zip(expected, predicted, strict=True):
        if e != p:
            wrong[e][p] += 1
    scores = per_class(expected, predicted)
    ordered = sorted(scores.items(), key=lambda kv: (kv[1].f1, kv[0]))[:worst]
    return [(c, s.f1, wrong[c].most_common(3)) for c, s in ordered if s.f1 < 1.0]
