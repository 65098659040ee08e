"""Redaction of personal data, in exactly one place: CPR numbers, Danish phone numbers, e-mail
addresses and spoken digit strings. Everything that leaves kontakt with citizen text in it (logs,
task notes, events, handoff packets, e-mail subjects) goes through `redact` or `redact_data`.

Patterns, and why they look the way they do:

- CPR: DDMMYY-SSSS, with a dash, a space or nothing between; DDMMYY must be a real date (29 February
  only in years divisible by four, as the century is not known); never part of a longer digit run
  or of a hex id.
- Phone: eight digits not starting with 0 (the Danish numbering plan), optionally after +45/0045,
  written together, in pairs ("22 33 44 55", "22-33-44-55") or as 4+4 ("2233 4455"). Dates
  (2026-11-23, 23-11-2026, 23.11.2026), times, UUIDs, hex ids, case numbers (2026-0001234), amounts
  (12.500 kr.) and postcodes are never phone numbers: the pairs need one consistent separator and
  the number may not touch other digits through '.', ':', '/' or '-'.
- E-mail: local@domain.tld.
- Spoken digits: four or more Danish number words in a row, how a CPR or phone number is read
  aloud on a call ("nul et nul et ni nul ...").

The public API is stable: `redact(text: str) -> str`, `redact_data(value)`, `find_cprs`,
`contains_cpr`, `is_cpr`, the patterns (for entity extraction, which must find exactly what is
masked), the masks and `RedactingFilter` for log handlers.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CPR_MASK",
    "CPR_PATTERN",
    "EMAIL_MASK",
    "EMAIL_PATTERN",
    "PHONE_MASK",
    "PHONE_PATTERN",
    "SPOKEN_MASK",
    "RedactingFilter",
    "contains_cpr",
    "find_cprs",
    "is_cpr",
    "redact",
    "redact_data",
]  # fmt: skip

CPR_MASK = "[CPR]"
PHONE_MASK = "[TELEFON]"
EMAIL_MASK = "[E-MAIL]"
SPOKEN_MASK = "[TAL]"

# Not inside a longer digit run nor a hex id (a UUID, a hash): no digit right next to the number,
# nor a hex letter that itself touches a hex character or a UUID's dash. A word glued to the
# number ("tlf22334455", "cpr0101901234") does not look like hex and is still redacted.
_NOT_AFTER_ID = r"(?<![0-9])(?<![0-9A-Fa-f-][A-Fa-f])"
_NOT_BEFORE_ID = r"(?![0-9])(?![A-Fa-f][0-9A-Fa-f])"

CPR_PATTERN = re.compile(
    rf"{_NOT_AFTER_ID}(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d\d)[ \t-]?(?P<s>\d{{4}}){_NOT_BEFORE_ID}"
)
"""CPR candidates; `is_cpr` (or `find_cprs`) applies the date check."""

EMAIL_PATTERN = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")

_SUBSCRIBER = r"[1-9]\d(?:\d{6}|(?: \d\d){3}|(?:-\d\d){3}|\d\d \d{4})"
PHONE_PATTERN = re.compile(
    # Not glued to other digits or hex ids, directly or through a date's or a time's separator,
    # nor the first group of a UUID, nor the date of a compact ISO timestamp (20261123T1015).
    rf"{_NOT_AFTER_ID}(?<!\d-)(?<!\d[.:/])(?:(?:\+|00)45[ -]?)?{_SUBSCRIBER}"
    rf"{_NOT_BEFORE_ID}(?!-\d)(?![.:/]\d)(?!-[0-9A-Fa-f]{{4}}-)(?!T\d)"
)

_UNITS = r"(?:nul|en|et|to|tre|fire|fem|seks|syv|otte|ni)"
_TENS = r"(?:tyve|tredive|fyrre|halvtreds|tres|halvfjerds|firs|halvfems)"
_NUMBER_WORD = (
    rf"(?:{_UNITS}og{_TENS}|{_TENS}|ti|elleve|tolv|tretten|fjorten|femten|seksten|sytten|atten|nitten|{_UNITS})"
)
_SEP = r"(?:[\s,.-]+(?:og\s+|bindestreg\s+|streg\s+|minus\s+)?)"
_SPOKEN_DIGITS = re.compile(rf"(?i)\b{_NUMBER_WORD}(?:{_SEP}{_NUMBER_WORD}){{3,}}\b")


def _real_date(day: int, month: int, yy: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        return yy % 4 == 0  # 1900 was no leap year but 2000 was; the century is unknown
    return day <= calendar.monthrange(2001, month)[1]


def is_cpr(match: re.Match[str]) -> bool:
    """True when a `CPR_PATTERN` match has a real date in its first six digits."""
    return _real_date(int(match.group("d")), int(match.group("m")), int(match.group("y")))


def find_cprs(text: str) -> list[str]:
    """Every CPR number in `text`, as written."""
    return [m.group(0) for m in CPR_PATTERN.finditer(text) if is_cpr(m)]


def contains_cpr(text: str) -> bool:
    return any(is_cpr(m) for m in CPR_PATTERN.finditer(text))


def _mask_cpr(m: re.Match[str]) -> str:
    return CPR_MASK if is_cpr(m) else m.group(0)


# What each pattern cannot match without: most strings redacted (event fields, topic ids,
# bot texts) have no '@', no digit or no separator, and skip that pattern's pass.
_DIGIT = re.compile(r"\d")  # CPR and phone numbers need one (any Unicode digit, as \d in them)
_SPOKEN_SEP = re.compile(r"[\s,.-]")  # spoken digits need four number words apart (_SEP)


def redact(text: str) -> str:
    """Mask e-mail addresses, CPR numbers, phone numbers and spoken digit strings in `text`."""
    if "@" in text:
        text = EMAIL_PATTERN.sub(EMAIL_MASK, text)
    if _DIGIT.search(text):
        text = CPR_PATTERN.sub(_mask_cpr, text)
        text = PHONE_PATTERN.sub(PHONE_MASK, text)
    if _SPOKEN_SEP.search(text):
        text = _SPOKEN_DIGITS.sub(SPOKEN_MASK, text)
    return text


def redact_data(value: Any) -> Any:
    """`value` with every string in it redacted (JSON-like data: mappings, lists, tuples);
    mapping keys and non-string scalars are kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_data(v) for v in value)
    return value


# --- logging ---------------------------------------------------------------------------------------


def _redact_args(args: tuple[Any, ...] | Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
    """Redact string arguments in place of the originals, keeping their number and the other
    types, so formatters that read `record.args` themselves (uvicorn's access formatter unpacks
    five of them) still work."""
    if isinstance(args, Mapping):
        return {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
    return tuple(redact(a) if isinstance(a, str) else a for a in args)


class RedactingFilter(logging.Filter):
    """On kontakt's log handlers: every record leaves the process redacted, and none is lost.

    A record whose formatted message holds personal data gets redacted string arguments (same
    count and types, so any formatter still works); when that is not enough (the data is in the
    format string, spans arguments or sits in a non-string argument), the message is formatted,
    redacted and stored as the message with no arguments. The filter never raises and never
    drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact_message(record)
        except Exception:  # noqa: BLE001 - a log call must never fail because of redaction
            record.msg, record.args = redact(_safe_str(record.msg)) + " " + redact(_safe_str(record.args)), ()
        try:
            self._redact_exception(record)
        except Exception:  # noqa: BLE001
            record.exc_info, record.exc_text = None, "(exception text withheld: it could not be redacted)"
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord) -> None:
        try:
            full = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep its parts, redacted
            record.msg, record.args = redact(_safe_str(record.msg)) + " " + redact(_safe_str(record.args)), ()
            return
        clean = redact(full)
        if clean == full:
            return
        if record.args and isinstance(record.msg, str):
            msg, args = redact(record.msg), _redact_args(record.args)
            try:
                trial = msg % args
            except Exception:  # noqa: BLE001 - the redacted format no longer fits: flatten below
                trial = None
            if trial is not None and redact(trial) == trial:
                record.msg, record.args = msg, args
                return
        record.msg, record.args = clean, ()

    @staticmethod
    def _redact_exception(record: logging.LogRecord) -> None:
        if record.exc_info:
            # Exceptions carry citizen text too: format once, redact, and drop the raw exception.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return f"<unprintable {type(value).__name__}>"
