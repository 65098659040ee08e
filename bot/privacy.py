"""Redaction of personal data, in exactly one place. Recall first: anything that looks like a
CPR number is masked even if it is not a valid date, and spoken CPR digits in voice transcripts
("nul et nul et ni nul ...") are masked too."""

from __future__ import annotations

import logging
import re

_CPR = re.compile(r"(?<!\d)\d{6}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\d-])(?:(?:\+|00)45[\s-]?)?(?:\d{2}[\s-]?){3}\d{2}(?![\d-])")
_UNITS = r"(?:nul|en|et|to|tre|fire|fem|seks|syv|otte|ni)"
_TENS = r"(?:tyve|tredive|fyrre|halvtreds|tres|halvfjerds|firs|halvfems)"
_NUMBER_WORD = (
    rf"(?:{_UNITS}og{_TENS}|{_TENS}|ti|elleve|tolv|tretten|fjorten|femten|seksten|sytten|atten|nitten|{_UNITS})"
)
_SEP = r"(?:[\s,.-]+(?:og\s+|bindestreg\s+|streg\s+|minus\s+)?)"
# Four or more number words in a row: a CPR or phone number read aloud, digit by digit or in pairs.
_SPOKEN_DIGITS = re.compile(rf"(?i)\b{_NUMBER_WORD}(?:{_SEP}{_NUMBER_WORD}){{3,}}\b")

CPR_MASK = "[CPR]"


def redact(text: str) -> str:
    """Mask CPR numbers, e-mail addresses and phone numbers (also spoken digit strings)."""
    text = _CPR.sub(CPR_MASK, text)
    text = _EMAIL.sub("[E-MAIL]", text)
    text = _PHONE.sub("[TELEFON]", text)
    return _SPOKEN_DIGITS.sub("[TAL]", text)


def contains_cpr(text: str) -> bool:
    return _CPR.search(text) is not None


class RedactingFilter(logging.Filter):
    """Installed on kontakt's log handlers so no record leaves the process with a CPR number."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        if record.exc_info:
            # Exceptions carry citizen text too: format once, redact, and drop the raw exception.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
