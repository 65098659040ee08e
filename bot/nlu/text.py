"""Danish text normalisation shared by the lexical features, the safety layer and retrieval.

Citizens write "boligstotte", "aeldrebolig", "SKRALDEBIL!!!" and voice transcripts have no
punctuation; lexical matching should see past that, while the embedder gets the original text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[a-zæøå0-9]+", re.IGNORECASE)
# Fold ASCII transliterations onto æøå so "boligstotte" and "boligstøtte" share n-grams.
_ASCII_FOLD = (("aa", "å"), ("ae", "æ"), ("oe", "ø"))


def fold(text: str) -> str:
    """Lower-case, strip accents other than æøå, collapse whitespace."""
    text = unicodedata.normalize("NFC", text.lower())
    keep = {"æ", "ø", "å"}
    text = "".join(
        ch if ch in keep else unicodedata.normalize("NFKD", ch)[0] if ch.isalpha() else ch for ch in text
    )
    return " ".join(text.split())


def ascii_fold(text: str) -> str:
    """Map æ/ø/å and their two-letter spellings onto one form: "ae", "oe", "aa"."""
    t = fold(text)
    return t.replace("æ", "ae").replace("ø", "oe").replace("å", "aa")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("danish")


def stems(text: str) -> list[str]:
    """Snowball-stemmed words of the ASCII-folded text (one form for "støtte" and "stotte")."""
    ws = _WORD.findall(ascii_fold(text))
    return _stemmer().stemWords(ws)


def lexical_form(text: str) -> str:
    """The string lexical models see: stems joined by spaces."""
    return " ".join(stems(text))
