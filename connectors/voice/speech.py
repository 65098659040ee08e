"""Normalise spoken Danish transcripts (Twilio <Gather input="speech"> SpeechResult) before the
understanding core reads them.

- fillers ("øh", "øhm", "altså", "hmm") are removed;
- number words become digits with text2num ("tre og tredive" -> "33", "seksogtres" -> "66");
- a run of digit groups that makes 8 digits is written as a Danish phone number ("33 66 12 34"),
  one of 10 digits as a CPR number ("120380-1234"), so the entity rules and the CPR redaction in
  `bot.privacy` see them in their usual shape.

    >>> normalise_transcript("øh mit nummer er tre og tredive seksogtres tolv fireogtredive")
    'mit nummer er 33 66 12 34'
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

_FILLERS = re.compile(r"(?i)(?<!\w)(?:ø+h+m*|æ+h+m*|e+h+m+|h+m{1,}|m{2,}|altså)(?!\w)[,.]?")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.?!])")
_RUN = re.compile(r"(?<![\d+])(?:(?:\+|plus\s+)?45[\s,\-]+)?\d{1,4}(?:[\s,\-]+\d{1,4})+(?!\d)", re.IGNORECASE)
_DIGIT_WORDS = {
    "nul": "0", "en": "1", "et": "1", "ét": "1", "én": "1", "to": "2", "tre": "3", "fire": "4",
    "fem": "5", "seks": "6", "syv": "7", "otte": "8", "ni": "9",
}  # fmt: skip
_YES = frozenset(["ja", "jo", "jep", "yes", "yeah", "korrekt", "rigtigt", "bekræft", "bekræfter"])
_NO = frozenset(["nej", "no", "medarbejder", "menneske", "person"])


def strip_fillers(text: str) -> str:
    """Remove hesitation words; keep everything else as it was said."""
    text = _FILLERS.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()
    return text.lstrip(",. ").strip()


def _digits_to_words(text: str) -> str:
    """Digits text2num leaves as words when they stand alone ("nul", "to")."""
    return " ".join(_DIGIT_WORDS.get(w.lower(), w) for w in text.split())


def format_phone(digits: str) -> str:
    """'33661234' -> '33 66 12 34' (how Danes say and read phone numbers)."""
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _collapse(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    international = bool(re.match(r"(?i)\s*(?:\+|plus)", raw))
    if international and len(digits) == 10 and digits.startswith("45"):
        return "+45 " + format_phone(digits[2:])
    if len(digits) == 8:
        return format_phone(digits)
    if len(digits) == 10:
        return f"{digits[:6]}-{digits[6:]}"
    return raw


def collapse_digit_runs(text: str) -> str:
    """Join digit groups said one after another into a phone (8) or CPR (10) number."""
    return _RUN.sub(_collapse, text)


def normalise_transcript(text: str) -> str:
    """Fillers out, number words to digits, phone and CPR digit runs joined. Idempotent."""
    text = strip_fillers(text)
    if not text:
        return ""
    try:
        text = alpha2digit(text, "da")
    except (ValueError, IndexError):  # text2num gives up on odd input; the words are still useful
        pass
    return collapse_digit_runs(text)


def phone_number(text: str, digits: int = 8) -> str | None:
    """The phone number in a keypad entry or a spoken answer, as bare digits, or None.

    Accepts "33661234", "33 66 12 34", "+45 33 66 12 34" and spoken forms such as
    "tre og tredive seksogtres tolv fireogtredive" or "tre tre seks seks nul en to tre".
    """
    text = strip_fillers(text)
    try:
        text = alpha2digit(text, "da")
    except (ValueError, IndexError):
        pass
    found = re.sub(r"\D", "", _digits_to_words(text))
    if len(found) == digits + 2 and found.startswith("45"):
        found = found[2:]
    return found if len(found) == digits else None


def yes_no(text: str) -> bool | None:
    """True for a spoken yes, False for no or "a person", None when neither is clear."""
    words = set(re.findall(r"[a-zæøå]+", strip_fillers(text).lower()))
    yes, no = bool(words & _YES), bool(words & _NO)
    if yes == no:
        return None
    return yes
