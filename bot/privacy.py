"""Redaction of personal data, in exactly one place. Recall first: anything that looks like a
CPR number is masked even if it is not a valid date, and spoken CPR digits in voice transcripts
("nul et nul et ni nul ...") are masked too."""

from __future__ import annotations

import logging
import re

_CPR = re.compile(r"(?<!\d)\d{6}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\d-])(?:(?:\+|00)45[\s-]?)?(?:\d{2}[\s-]?){3}\d{2}(?![\d-])")
_DIGIT_WORDS = r"(?:nul|en|et|to|tre|fire|fem|seks|syv|otte|ni)"
_SPOKEN_DIGITS = re.compile(rf"(?i)\b{_DIGIT_WORDS}(?:[\s,-]+{_DIGIT_WORDS}){{7,}}\b")

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
        return True
