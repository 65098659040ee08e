"""Entity extraction: spaCy's blank Danish pipeline (tokenizer + lookup lemmatizer) plus rules.

Regex rules find CPR numbers, phone numbers, e-mail addresses, CVR numbers, case numbers, dates
and street addresses; a PhraseMatcher over the training data's synonyms and lookups finds
benefits and other vocabulary, matching lemmas so that "boligsikringen" maps like "boligsikring".
Values of synonym matches are the canonical value (Rasa's EntitySynonymMapper behaviour).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from bot.nlu.pipeline import danish_nlp
from bot.privacy import CPR_PATTERN, EMAIL_PATTERN, PHONE_PATTERN
from bot.types import Entity

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("januar", "jan"), ("februar", "feb"), ("marts", "mar"), ("april", "apr"), ("maj",),
            ("juni", "jun"), ("juli", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("oktober", "okt"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_RELATIVE_DAYS = r"i\s+dag|i\s+morgen|i\s+overmorgen|i\s+går|i\s+forgårs|næste\s+uge|i\s+næste\s+uge|om\s+\w+\s+(?:dage|uger)"
_WEEKDAYS = r"(?:på\s+|næste\s+|på\s+næste\s+)?(?:mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag)"

_STREET_SUFFIX = (
    "vej|vejen|gade|gaden|allé|alle|stræde|strædet|plads|pladsen|torv|torvet|boulevard|vænge|vænget|"
    "park|parken|have|haven|bakke|bakken|høj|højen|sti|stien|toften|engen|vang|vangen|kær|mark|marken|"
    "gård|gården|skov|skoven|strand|brink|dal|dalen|holm|bro|broen|kaj|kajen|passage|løkke|lund|lunden|"
    "hegn|hegnet|agre|ager|enge|huse|bjerg|bjerget|ring|ringen|tofte|krog|krogen|hus|dige|diget|kvarter"
)
_UPPER_WORD = r"[A-ZÆØÅ][a-zæøåéü\.]*"

# Order matters: earlier patterns win overlaps (a CPR number is never also a phone number).
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # CPR, phone and e-mail: the same patterns as redaction (bot.privacy), so what is found is
    # exactly what is masked, and dates or ids are never read as phone numbers.
    ("email", EMAIL_PATTERN),
    ("cpr", CPR_PATTERN),
    (
        "cvr",
        re.compile(r"(?i)\b(?:cvr|cvr-nr|cvr-nummer|cvrnr|cvr\s*nr)\.?\s*(?:er\s+|:\s*)?(?P<v>\d{2}\s?\d{2}\s?\d{2}\s?\d{2})\b"),
    ),
    (
        "sagsnummer",
        re.compile(
            r"(?i)(?:\b(?:sags?(?:nummer|nr)|sag\s+nr|j\.?\s?nr|journalnummer|journal\s+nr)\.?\s*:?\s*"
            r"(?P<v>[A-Z]{0,3}[-\s]?\d[\d./-]{2,}\d))|\b(?P<w>(?:19|20)\d{2}-\d{4,8})\b"
        ),
    ),
    (
        "telefon",
        PHONE_PATTERN,
    ),
    (
        "dato",
        re.compile(
            rf"(?i)\b(?:\d{{1,2}}\.?\s*(?:{_MONTH_RE})\.?(?:\s+\d{{4}})?|\d{{1,2}}[/.-]\d{{1,2}}(?:[/.-]\d{{2,4}})?"
            rf"|{_RELATIVE_DAYS}|{_WEEKDAYS})\b"
        ),
    ),
    (
        "adresse",
        re.compile(
            rf"(?:\b(?:{_UPPER_WORD}\s){{0,2}}{_UPPER_WORD}(?:{_STREET_SUFFIX})|\b[a-zæøå]+(?:{_STREET_SUFFIX}))"
            r"\s+\d{1,4}\s?[A-Za-z]?\b(?:,?\s*\d{1,2}\.?\s*(?:th|tv|mf|sal)\.?)?"
            r"(?:,?\s*\d{4}(?:\s+[A-ZÆØÅ][a-zæøå]+(?:\s[A-ZÆØÅ][a-zæøå]+)?)?)?"
        ),
    ),
)
_PHONE_CONTEXT = re.compile(r"(?i)(tlf|telefon|mobil|ring|nummer|nr\.?)\W*$")


def _valid_cpr(m: re.Match[str]) -> bool:
    day, month = int(m.group("d")), int(m.group("m"))
    return 1 <= day <= 31 and 1 <= month <= 12


def _date_value(text: str) -> str:
    """ISO date where the text fixes one, ISO 'partial' --MM-DD without a year, else the words."""
    t = text.lower().strip()
    m = re.fullmatch(rf"(\d{{1,2}})\.?\s*({_MONTH_RE})\.?(?:\s+(\d{{4}}))?", t)
    if m:
        day, month, year = int(m.group(1)), _MONTHS[m.group(2)], m.group(3)
    else:
        m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?", t)
        if not m:
            return " ".join(t.split())
        day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if year and len(year) == 2:
            year = "20" + year
    try:
        if year:
            return dt.date(int(year), month, day).isoformat()
        dt.date(2000, month, day)  # leap year: accepts 29/2
        return f"--{month:02d}-{day:02d}"
    except ValueError:
        return " ".join(t.split())


class EntityExtractor:
    """Built once per model from the training data's synonyms and lookups; `extract` is pure."""

    def __init__(self, synonyms: Mapping[str, str] | None = None, lookups: Mapping[str, Iterable[str]] | None = None):
        self.nlp = danish_nlp()
        self._canonical: dict[str, tuple[str, str]] = {}  # lower phrase -> (entity, value)
        self._matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._lemma_matcher = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        phrases: dict[str, list[str]] = {}
        for variant, canonical in (synonyms or {}).items():
            self._canonical[variant.lower()] = ("ydelse", canonical)
            self._canonical.setdefault(canonical.lower(), ("ydelse", canonical))
        for entity, values in (lookups or {}).items():
            for v in values:
                self._canonical.setdefault(v.lower(), (entity, v))
        for phrase, (entity, _) in self._canonical.items():
            phrases.setdefault(entity, []).append(phrase)
        for entity, ps in phrases.items():
            docs = list(self.nlp.pipe(ps))
            self._matcher.add(entity, [self.nlp.make_doc(p) for p in ps])
            self._lemma_matcher.add(entity, docs)

    def tokens(self, text: str) -> tuple[tuple[int, int], ...]:
        return tuple((t.idx, t.idx + len(t.text)) for t in self.nlp.make_doc(text))

    def extract(self, text: str) -> tuple[Entity, ...]:
        found: list[Entity] = []
        taken: list[tuple[int, int]] = []

        def free(s: int, e: int) -> bool:
            return all(e <= a or s >= b for a, b in taken)

        for name, pattern in PATTERNS:
            for m in pattern.finditer(text):
                if name == "cpr" and not _valid_cpr(m):
                    continue
                group = next((g for g in ("v", "w") if name in ("cvr", "sagsnummer") and m.group(g)), None)
                s, e = (m.start(group), m.end(group)) if group else (m.start(), m.end())
                if not free(s, e):
                    continue
                surface = text[s:e]
                if name == "telefon" and not re.search(r"\s|\+|^00", surface) and not _PHONE_CONTEXT.search(text[:s]):
                    # A bare 8-digit number with no phone context is ambiguous (CVR, case number).
                    if re.fullmatch(r"\d{8}", surface) is None:
                        continue
                value = surface
                if name in ("cpr", "cvr", "telefon"):
                    value = re.sub(r"[\s-]", "", surface)
                    if name == "cpr":
                        value = value[:6] + "-" + value[6:]
                elif name == "dato":
                    value = _date_value(surface)
                elif name == "email":
                    value = surface.lower()
                found.append(Entity(name, s, e, value, surface, "RegexEntityExtractor"))
                taken.append((s, e))

        # Lower-case character by character so offsets stay those of the original text
        # ("İ".lower() is two characters); the lookup lemmatizer needs lower case.
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        doc: Doc = self.nlp(lowered)
        spans = []
        for matcher in (self._matcher, self._lemma_matcher):
            for match_id, start, end in matcher(doc):
                spans.append((doc[start:end], self.nlp.vocab.strings[match_id]))
        for span, entity in sorted(spans, key=lambda x: (-(x[0].end_char - x[0].start_char), x[0].start_char)):
            s, e = span.start_char, span.end_char
            if not free(s, e):
                continue
            key = span.text.lower()
            canon = self._canonical.get(key) or self._canonical.get(" ".join(t.lemma_ for t in span).lower())
            if canon is None:
                continue
            value = canon[1]
            processors = ("EntitySynonymMapper",) if value.lower() != text[s:e].lower() else ()
            found.append(Entity(entity, s, e, value, text[s:e], "LookupEntityExtractor", 1.0, processors))
            taken.append((s, e))
        return tuple(sorted(found, key=lambda x: x.start))
