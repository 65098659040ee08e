"""The safety layer: acute danger and sensitive situations, apart from the topic classifier.

Indirect wording ("hun vil ikke vågne") and context spread over several messages are common, so
evidence comes from (1) a Danish lexicon of patterns, (2) the topic classifier's probabilities for
the emergency and sensitive classes with thresholds far below the normal ones, and (3) the whole
recent conversation, not just the last message. Any one source is enough: recall over precision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from bot.nlu.text import fold
from bot.topics import EMERGENCY
from bot.types import SafetySignal

_FOLDS = (("æ", "(?:æ|ae|a)"), ("ø", "(?:ø|oe|o)"), ("å", "(?:å|aa|a)"))


def _tolerant(pattern: str) -> str:
    for ch, alt in _FOLDS:
        pattern = pattern.replace(ch, alt)
    return pattern


@dataclass(frozen=True)
class Lexicon:
    patterns: Mapping[str, tuple[re.Pattern[str], ...]]  # category -> compiled patterns

    def matches(self, text: str) -> dict[str, list[str]]:
        t = fold(text)
        hits: dict[str, list[str]] = {}
        for category, pats in self.patterns.items():
            for p in pats:
                m = p.search(t)
                if m:
                    hits.setdefault(category, []).append(m.group(0))
        return hits


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    raw = yaml.safe_load(resources.files("bot.resources").joinpath("safety_da.yml").read_text("utf-8"))
    return Lexicon({k: tuple(re.compile(_tolerant(p)) for p in v) for k, v in raw.items()})


@dataclass(frozen=True)
class SafetyPolicy:
    emergency_threshold: float = 0.25  # classifier probability; normal decisions use ~0.5+
    distress_threshold: float = 0.30
    window: int = 3  # recent citizen messages read together


def assess(
    text: str,
    probabilities: Mapping[str, float],
    sensitive_topics: Sequence[str],
    history: Sequence[str] = (),
    window_probabilities: Mapping[str, float] | None = None,
    lexicon: Lexicon | None = None,
    policy: SafetyPolicy = SafetyPolicy(),
) -> SafetySignal:
    """Combine lexicon hits and classifier probabilities for the message and its recent context.

    `probabilities` are the classifier's for `text`; `window_probabilities` (optional) are for
    the last `policy.window` messages joined, so slowly revealed distress is caught.
    """
    lexicon = lexicon or default_lexicon()
    reasons: list[str] = []
    window_text = " \n ".join([*history[-(policy.window - 1) :], text]) if policy.window > 1 else text
    hits = lexicon.matches(text)
    for cat, found in lexicon.matches(window_text).items():
        hits.setdefault(cat, found)

    emergency = 0.0
    if "emergency" in hits:
        emergency = 0.95
        reasons.append(f"lexicon:emergency:{hits['emergency'][0]!r}")
    for source, probs in (("message", probabilities), ("conversation", window_probabilities or {})):
        p = probs.get(EMERGENCY, 0.0)
        if p >= policy.emergency_threshold and p > emergency:
            emergency = p
            reasons.append(f"classifier:{source}:emergency={p:.2f}")

    distress, topic = 0.0, None
    for cat in sensitive_topics:
        if cat in hits:
            score = 0.9
            if score > distress:
                distress, topic = score, cat
            reasons.append(f"lexicon:{cat}:{hits[cat][0]!r}")
    for source, probs in (("message", probabilities), ("conversation", window_probabilities or {})):
        sens = {t: probs.get(t, 0.0) for t in sensitive_topics}
        total = sum(sens.values())
        if total >= policy.distress_threshold:
            best = max(sens, key=sens.get)
            if total > distress or topic is None:
                distress, topic = max(distress, total), best if distress < 0.9 else topic
            reasons.append(f"classifier:{source}:{best}={sens[best]:.2f}")
    return SafetySignal(emergency=emergency, distress=distress, topic=topic, reasons=tuple(reasons))
