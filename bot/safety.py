"""The safety layer: acute danger and sensitive situations, apart from the topic classifier.

Indirect wording ("hun vil ikke vågne") and context spread over several messages are common, so
evidence comes from (1) a Danish lexicon of patterns, (2) the topic classifier's probabilities for
the emergency and sensitive classes with thresholds far below the normal ones, (3) the safety
classifier (`bot.safety_model`), trained for this one question on its own corpus, and (4) the
whole recent conversation, not just the last message. Any one strong source is enough for an
emergency, and so are two weaker ones that agree: recall over precision. A lexicon hit in a
message about the past, an errand or a worry about the future ("i sidste uge", "regning for
falsk alarm", "hvad gør man hvis") does not count alone unless the message also says it is
happening now; the classifiers, which learned such contrasts, still count. Figures of speech
("drukner i papirer", "kvalt i rykkere", "nær fik et hjerteanfald") are blanked out before the
emergency patterns are matched, so only the real danger words in the same message count.

A long message (an e-mail about an errand) is also read sentence by sentence (`safety_chunks`):
danger reported in one sentence of a long text is diluted in the embedding of the whole, so each
short window gets its own safety-model score and lexicon read, with its own past/errand
discounting, and the strongest acute signal counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bot.nlu.text import fold
from bot.regex_cache import compile_all
from bot.safety_model import ACUTE, SENSITIVE, SafetyThresholds
from bot.topics import EMERGENCY
from bot.types import SafetySignal
from bot.yaml_safe import safe_load

CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "cache"

_FOLDS = (("æ", "(?:æ|ae|a)"), ("ø", "(?:ø|oe|o)"), ("å", "(?:å|aa|a)"))


def _tolerant(pattern: str) -> str:
    for ch, alt in _FOLDS:
        pattern = pattern.replace(ch, alt)
    return pattern


_CONTEXT_NOT_NOW = "context_not_now"
_CONTEXT_NOW = "context_now"
_FIGURATIVE = "figurative"
_CONTEXT_SAFE = "context_safe"


def _joined(patterns: Sequence[str]) -> str:
    """The alternation of `patterns`: it matches somewhere exactly when one of them does, so a
    text it misses needs no pattern-by-pattern pass."""
    return "|".join(f"(?:{p})" for p in patterns)


def _any_of(patterns: Sequence[re.Pattern[str]]) -> re.Pattern[str] | None:
    """`patterns` joined into one (`_joined`); None when there is nothing to join."""
    if not patterns:
        return None
    try:
        return re.compile(_joined([p.pattern for p in patterns]))
    except re.error:  # a pattern that cannot be joined (a backreference): read one by one
        return None


_SHORT = 2000  # characters: answers about texts up to this long are remembered (a chat message, its window)
_REMEMBERED = 64  # texts per answer remembered: a few parses' worth


@lru_cache(maxsize=_REMEMBERED)
def _fold_short(text: str) -> str:
    return fold(text)


def _folded(text: str) -> str:
    """`fold(text)`, remembered for short texts: one assessment folds the same message and
    window several times (lexicon hits, past-or-now, figures of speech)."""
    return _fold_short(text) if len(text) <= _SHORT else fold(text)


@dataclass(frozen=True)
class Lexicon:
    patterns: Mapping[str, tuple[re.Pattern[str], ...]]  # category -> compiled patterns
    not_now: tuple[re.Pattern[str], ...] = ()  # past events, errands, hypothetical worries
    now: tuple[re.Pattern[str], ...] = ()  # "it is happening now": overrides not_now
    figurative: tuple[re.Pattern[str], ...] = ()  # idioms blanked out before emergency patterns
    safe: tuple[re.Pattern[str], ...] = ()  # "not in danger right now", said in so many words
    # Each list joined into one pattern that is tried first (`_joined`): most messages match none
    # of a category, and one search then replaces dozens. What is matched stays the same. By
    # category, and under the lists' own keys (_CONTEXT_NOT_NOW, _CONTEXT_NOW, _FIGURATIVE); what
    # is not given is compiled here.
    joined: Mapping[str, re.Pattern[str] | None] = field(default_factory=dict, repr=False, compare=False)
    _gates: Mapping[str, re.Pattern[str] | None] = field(init=False, repr=False, compare=False, default_factory=dict)
    _not_now_any: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _now_any: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _figurative_any: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _is_now_remembered: Callable[[str], bool] = field(init=False, repr=False, compare=False)
    _is_not_now_remembered: Callable[[str], bool] = field(init=False, repr=False, compare=False)
    _literal_remembered: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def gate(key: str, pats: Sequence[re.Pattern[str]]) -> re.Pattern[str] | None:
            return self.joined[key] if key in self.joined else _any_of(pats)

        object.__setattr__(self, "_gates", {category: gate(category, pats) for category, pats in self.patterns.items()})
        object.__setattr__(self, "_not_now_any", gate(_CONTEXT_NOT_NOW, self.not_now))
        object.__setattr__(self, "_now_any", gate(_CONTEXT_NOW, self.now))
        object.__setattr__(self, "_figurative_any", gate(_FIGURATIVE, self.figurative))
        # One parse asks these of the same texts several times (the safety model's context
        # columns, then `assess`, then the sentence windows): each answer is worked out once.
        object.__setattr__(self, "_is_now_remembered", lru_cache(maxsize=_REMEMBERED)(self._is_now))
        object.__setattr__(self, "_is_not_now_remembered", lru_cache(maxsize=_REMEMBERED)(self._is_not_now))
        object.__setattr__(self, "_literal_remembered", lru_cache(maxsize=_REMEMBERED)(self._literal))

    @staticmethod
    def _found(gate: re.Pattern[str] | None, pats: Sequence[re.Pattern[str]], t: str) -> bool:
        if gate is not None:
            return gate.search(t) is not None
        return any(p.search(t) for p in pats)

    def is_now(self, text: str) -> bool:
        return self._is_now_remembered(text) if len(text) <= _SHORT else self._is_now(text)

    def _is_now(self, text: str) -> bool:
        return self._found(self._now_any, self.now, _folded(text))

    def is_safe(self, text: str) -> bool:
        """The writer says in so many words that nobody is in danger now ("er ikke i fare lige
        nu", "nu er der stille")."""
        t = _folded(text)
        return any(p.search(t) for p in self.safe)

    def is_not_now(self, text: str) -> bool:
        """The text speaks of the past, an errand or a worry, and nothing says it happens now."""
        return self._is_not_now_remembered(text) if len(text) <= _SHORT else self._is_not_now(text)

    def _is_not_now(self, text: str) -> bool:
        t = _folded(text)
        return self._found(self._not_now_any, self.not_now, t) and not self.is_now(text)

    def literal(self, text: str) -> str:
        """The folded text with figures of speech ("drukner i arbejde") blanked out."""
        return self._literal_remembered(text) if len(text) <= _SHORT else self._literal(text)

    def _literal(self, text: str) -> str:
        t = _folded(text)
        if self._figurative_any is not None and self._figurative_any.search(t) is None:
            return t  # no figure of speech: every substitution below would leave it as it is
        for p in self.figurative:
            t = p.sub(" ", t)
        return t

    def matches(self, text: str) -> dict[str, list[str]]:
        t = _folded(text)
        plain = self.literal(text) if self.figurative else t
        hits: dict[str, list[str]] = {}
        for category, pats in self.patterns.items():
            source = plain if category == "emergency" else t
            gate = self._gates.get(category)
            if gate is not None and gate.search(source) is None:
                continue
            for p in pats:
                m = p.search(source)
                if m:
                    hits.setdefault(category, []).append(m.group(0))
        return hits


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    raw = safe_load(resources.files("bot.resources").joinpath("safety_da.yml").read_text("utf-8"))
    sources = {k: [_tolerant(p) for p in v] for k, v in raw.items()}
    # Every pattern, then every list's joined pattern, compiled at once: kept compiled in the
    # cache directory between starts (bot/regex_cache.py).
    gated = [k for k, v in sources.items() if k != _CONTEXT_SAFE and v]
    flat = [p for v in sources.values() for p in v]
    done = compile_all([*flat, *(_joined(sources[k]) for k in gated)], CACHE_DIR, "safety_da")
    joined = dict(zip(gated, done[len(flat) :], strict=True))
    found = iter(done)
    compiled = {k: tuple(next(found) or re.compile(p) for p in v) for k, v in sources.items()}  # re.error as before
    not_now, now = compiled.pop(_CONTEXT_NOT_NOW, ()), compiled.pop(_CONTEXT_NOW, ())
    figurative, safe = compiled.pop(_FIGURATIVE, ()), compiled.pop(_CONTEXT_SAFE, ())
    return Lexicon(compiled, not_now, now, figurative, safe, joined=joined)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\s*\n\s*")


def safety_chunks(text: str, min_chars: int = 200, max_chunks: int = 8, size: int = 180) -> tuple[str, ...]:
    """Short windows of a long message for a sentence-level safety read; () for a short one.

    Sentences (or lines) are packed in order into windows of about `size` characters; a run-on
    sentence without punctuation (a voice transcript) is cut at word boundaries. The window grows
    with the text so there are never more than `max_chunks`, which bounds the cost per message.
    """
    text = text.strip()
    if len(text) <= min_chars:
        return ()
    size = max(size, -(-len(text) // max_chunks))
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        while words:  # cut sentences longer than a window at word boundaries
            piece: list[str] = []
            while words and (not piece or len(" ".join([*piece, words[0]])) <= size):
                piece.append(words.pop(0))
            pieces.append(" ".join(piece))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    while len(chunks) > max_chunks:  # rare: many pieces just over half a window; join the shortest pair
        i = min(range(len(chunks) - 1), key=lambda k: len(chunks[k]) + len(chunks[k + 1]))
        chunks[i : i + 2] = [f"{chunks[i]} {chunks[i + 1]}"]
    return tuple(chunks) if len(chunks) > 1 else ()


@dataclass(frozen=True)
class SafetyPolicy:
    """Thresholds of the safety layer. The safety classifier's two are fitted at training time
    (`bot.safety_model.SafetyThresholds`, saved in the model manifest) and passed in here."""

    emergency_threshold: float = 0.25  # topic classifier's emergency probability; normal decisions use ~0.5+
    distress_threshold: float = 0.30
    window: int = 3  # recent citizen messages read together
    model_acute_threshold: float = SafetyThresholds.acute
    model_sensitive_threshold: float = SafetyThresholds.sensitive
    # Two signals that each reach this share of their own threshold raise the alarm together.
    agreement: float = 0.5
    # Sentence-level read of long messages: a window's acute score must reach the model's acute
    # threshold times this ...
    chunk_factor: float = SafetyThresholds.chunk_factor
    # ... and a stricter one still when the window itself speaks of the past or an errand.
    chunk_not_now_factor: float = SafetyThresholds.chunk_not_now_factor
    # The safety model's bar, times this, for a message (or conversation) whose wording says the
    # danger words are about the past, an errand, equipment or a recurring nuisance.
    not_now_factor: float = SafetyThresholds.not_now_factor
    # A safety model that is sure a person should take the message needs less agreement from the
    # topic classifier, which spreads indirect or English wording thin over many topics.
    model_sensitive_strong: float = 0.8
    strong_agreement: float = 0.25
    # Choosing the specialist for a sensitive situation: a lexicon hit adds this to its topic's
    # probability (see `_sensitive_topic`).
    lexicon_topic_bonus: float = 0.1


def assess(
    text: str,
    probabilities: Mapping[str, float],
    sensitive_topics: Sequence[str],
    history: Sequence[str] = (),
    window_probabilities: Mapping[str, float] | None = None,
    lexicon: Lexicon | None = None,
    policy: SafetyPolicy = SafetyPolicy(),
    model_scores: Mapping[str, float] | None = None,
    window_model_scores: Mapping[str, float] | None = None,
    chunk_scores: Sequence[tuple[str, Mapping[str, float]]] = (),
) -> SafetySignal:
    """Combine lexicon hits and classifier probabilities for the message and its recent context.

    `probabilities` are the topic classifier's for `text`; `window_probabilities` (optional) are
    for the last `policy.window` messages joined, so slowly revealed distress is caught.
    `model_scores` / `window_model_scores` are the safety classifier's (acute, sensitive, none)
    for the same two texts. `chunk_scores` are (window, safety-model scores) pairs for the
    sentence windows of a long message (`safety_chunks`); the strongest acute window counts.
    """
    lexicon = lexicon or default_lexicon()
    reasons: list[str] = []
    window_text = " \n ".join([*history[-(policy.window - 1) :], text]) if policy.window > 1 else text
    sources = (
        ("message", text, probabilities, model_scores or {}),
        ("conversation", window_text, window_probabilities or {}, window_model_scores or {}),
    )
    hits: dict[str, list[str]] = {}
    discounted: list[str] = []
    for _, source_text, _, _ in sources:
        found = lexicon.matches(source_text)
        if "emergency" in found and lexicon.is_not_now(source_text):
            discounted.append(found.pop("emergency")[0])
        for cat, pats in found.items():
            hits.setdefault(cat, pats)

    emergency = 0.0
    if "emergency" in hits:
        emergency = 0.95
        reasons.append(f"lexicon:emergency:{hits['emergency'][0]!r}")
    elif discounted:
        reasons.append(f"lexicon:emergency:{discounted[0]!r} not now")
    for source, source_text, probs, scores in sources:
        p = probs.get(EMERGENCY, 0.0)
        if p >= policy.emergency_threshold and p > emergency:
            emergency = p
            reasons.append(f"classifier:{source}:emergency={p:.2f}")
        m = scores.get(ACUTE, 0.0)
        bar = policy.model_acute_threshold
        if scores and policy.not_now_factor != 1.0 and lexicon.is_not_now(source_text):
            bar = min(bar * policy.not_now_factor, 0.99)
        if m >= bar:
            # Reported at least at the emergency threshold, so triage acts on the model's verdict.
            emergency = max(emergency, max(m, policy.emergency_threshold))
            reasons.append(f"safety_model:{source}:acute={m:.2f}")
        elif (
            emergency < policy.emergency_threshold
            and m >= policy.agreement * bar
            and (p >= policy.agreement * policy.emergency_threshold or discounted)
        ):
            emergency = policy.emergency_threshold
            reasons.append(f"agreement:{source}:acute={m:.2f},emergency={p:.2f}")
    chunk_alarm = _strongest_chunk(text, chunk_scores, lexicon, policy)
    if chunk_alarm is not None and chunk_alarm[0] > emergency:
        emergency = chunk_alarm[0]
        reasons.append(chunk_alarm[1])

    distress, topic = 0.0, None
    for cat in sensitive_topics:
        if cat in hits:
            score = 0.9
            if score > distress:
                distress, topic = score, cat
            reasons.append(f"lexicon:{cat}:{hits[cat][0]!r}")
    for source, _, probs, scores in sources:
        sens = {t: probs.get(t, 0.0) for t in sensitive_topics}
        total = sum(sens.values())
        if not sens:
            continue
        best = max(sens, key=sens.get)
        if total >= policy.distress_threshold:
            if total > distress or topic is None:
                distress, topic = max(distress, total), best if distress < 0.9 else topic
            reasons.append(f"classifier:{source}:{best}={sens[best]:.2f}")
        m = scores.get(SENSITIVE, 0.0)
        if (m >= policy.model_sensitive_threshold and total >= policy.agreement * policy.distress_threshold) or (
            m >= policy.model_sensitive_strong and total >= policy.strong_agreement * policy.distress_threshold
        ):
            # The safety model says "a person should take this", the topic classifier says which person.
            if topic is None or m > distress:
                distress, topic = max(distress, m), topic or best
            reasons.append(f"safety_model:{source}:sensitive={m:.2f},{best}={sens[best]:.2f}")
    if topic is not None:
        topic = _sensitive_topic(sensitive_topics, hits, probabilities, window_probabilities, policy)
    return SafetySignal(emergency=emergency, distress=distress, topic=topic, reasons=tuple(reasons))


def _sensitive_topic(
    sensitive_topics: Sequence[str],
    hits: Mapping[str, list[str]],
    probabilities: Mapping[str, float],
    window_probabilities: Mapping[str, float] | None,
    policy: SafetyPolicy,
) -> str:
    """Which specialist takes a sensitive situation: the topic classifier's best sensitive topic,
    which reads the whole message, nudged towards the lexicon's categories. A lexicon word names
    a theme, not whose situation it is ("hendes far slår hende" is about a child, not partner
    violence; "min ekskone tager stoffer når børnene er hos hende" is a worry for the children)."""
    window = window_probabilities or {}

    def score(t: str) -> float:
        p = max(probabilities.get(t, 0.0), window.get(t, 0.0))
        return p + (policy.lexicon_topic_bonus if t in hits else 0.0)

    return max(sensitive_topics, key=score)


def _strongest_chunk(
    text: str, chunk_scores: Sequence[tuple[str, Mapping[str, float]]], lexicon: Lexicon, policy: SafetyPolicy
) -> tuple[float, str] | None:
    """The strongest acute signal among the sentence windows of a long message, if any.

    Each window is discounted on its own: one that speaks of the past or an errand needs a
    higher acute score, and so does every window of a message whose writer says in so many words
    that nobody is in danger now ("han er ikke i fare lige nu"), unless the window itself says it
    happens now: the situation told in the other windows is the one the writer has just called
    safe. A lexicon hit in a window counts when the window is not about the past
    and either the whole message is not, or the window says it happens now, or the safety model
    half agrees; an alarm word in an errand e-mail is not enough alone."""
    best: tuple[float, str] | None = None
    message_not_now = lexicon.is_not_now(text)
    message_safe = lexicon.is_safe(text)
    for i, (chunk, scores) in enumerate(chunk_scores):
        not_now = lexicon.is_not_now(chunk)
        model_not_now = not_now or (message_safe and not lexicon.is_now(chunk))
        m = scores.get(ACUTE, 0.0)
        found = lexicon.matches(chunk).get("emergency")
        if found and not not_now and (
            not message_not_now or lexicon.is_now(chunk) or m >= policy.agreement * policy.model_acute_threshold
        ):
            candidate = (0.95, f"lexicon:sentence {i + 1}:emergency:{found[0]!r}")
        else:
            bar = policy.model_acute_threshold * (policy.chunk_not_now_factor if model_not_now else policy.chunk_factor)
            if m < min(bar, 0.99):
                continue
            candidate = (max(m, policy.emergency_threshold), f"safety_model:sentence {i + 1}:acute={m:.2f}")
        if best is None or candidate[0] > best[0]:
            best = candidate
    return best
