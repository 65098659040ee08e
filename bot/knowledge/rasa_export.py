"""Training data out to Rasa: `python -m bot export nlu` writes every file under `nlu_data/` as
one Rasa NLU YAML 3.1 document and proves it by reading it back with our own reader."""

from __future__ import annotations

from collections import Counter

from bot.errors import TrainingDataError
from bot.nlu.training_data import TrainingData, dumps, loads


def differences(a: TrainingData, b: TrainingData) -> list[str]:
    """What differs between two training sets: intents, examples (text and entities), synonyms,
    regexes and lookups. Empty when they hold the same data (order within a block aside)."""
    out: list[str] = []
    if a.intents != b.intents:
        out.append(f"intents differ: only first {sorted(set(a.intents) - set(b.intents))}, "
                   f"only second {sorted(set(b.intents) - set(a.intents))}")
    ea, eb = Counter(a.examples), Counter(b.examples)
    if ea != eb:
        lost, gained = ea - eb, eb - ea
        out.append(f"examples differ: {sum(lost.values())} lost (e.g. {[e.text for e in list(lost)[:3]]}), "
                   f"{sum(gained.values())} gained (e.g. {[e.text for e in list(gained)[:3]]})")
    for name, x, y in (("synonyms", a.synonyms, b.synonyms), ("regexes", a.regexes, b.regexes),
                       ("lookups", a.lookups, b.lookups)):
        if {k: sorted(v) for k, v in x.items()} != {k: sorted(v) for k, v in y.items()}:
            keys = sorted(k for k in set(x) | set(y) if sorted(x.get(k, [])) != sorted(y.get(k, [])))
            out.append(f"{name} differ for {keys[:5]}")
    return out


def export_nlu(data: TrainingData) -> str:
    """The data as Rasa NLU YAML, checked by reading it back: raises `TrainingDataError` naming
    what would be lost rather than writing a file Rasa would read differently."""
    text = dumps(data)
    back = loads(text, "<exported Rasa NLU YAML>")
    problems = differences(data, back)
    if problems:
        raise TrainingDataError("<exported Rasa NLU YAML>", "the export does not read back the same: " + "; ".join(problems))
    return text
