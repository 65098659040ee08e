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


class _FoldTable(dict[int, str]):
    """Code point → what `fold` keeps of it, filled the first time a character is seen: one
    `str.translate` per text instead of a normalisation per character (a turn folds the message
    and its window about twenty times across the classifiers and the safety layer)."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        kept = ch if ch in "æøå" or not ch.isalpha() else unicodedata.normalize("NFKD", ch)[0]
        if code < _FOLD_CACHED_BELOW:  # bounded: random input must not grow the table without end
            self[code] = kept
        return kept


_FOLD_CACHED_BELOW = 0x3000  # Latin, Greek, Cyrillic, symbols: what citizens write


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lower-case, strip accents other than æøå, collapse whitespace."""
    text = unicodedata.normalize("NFC", text.lower()).translate(_FOLD)
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


@lru_cache(maxsize=64)  # the topic and the safety model both read each message and window
def lexical_form(text: str) -> str:
    """The string lexical models see: stems joined by spaces."""
    return " ".join(stems(text))


# Longest NFKC expansion of a single code point we let through to native code. Most letters map
# to 1–2 code points; ligatures such as U+FDFA expand to 18, which overran the native tokeniser's
# buffer (sized by input bytes). Anything longer becomes a space.
_MAX_EXPANSION = 3
_KEEP_CONTROLS = {"\n", "\t"}


@lru_cache(maxsize=65536)
def _safe_char(ch: str) -> str:
    cat = unicodedata.category(ch)
    if cat == "Cs":  # lone surrogate: cannot be encoded as UTF-8
        return ""
    if cat in ("Cc", "Cf", "Co", "Cn") and ch not in _KEEP_CONTROLS:
        return " " if cat == "Cc" else ""
    if len(unicodedata.normalize("NFKC", ch)) > _MAX_EXPANSION:
        return " "
    return ch


def bounded(text: str, max_chars: int) -> str:
    """The text every model sees: NFKC-normalised, without lone surrogates, control and format
    characters or code points with long compatibility expansions, and at most `max_chars` long.

    Native code (the embedder's tokeniser, spaCy) only ever receives text that went through here,
    so no input can overrun a buffer, and its length bounds the CPU one message can cost. The full
    text is stored elsewhere; only understanding works on the bounded form.
    """
    text = text[: max_chars * 2]  # NFKC can shorten as well as lengthen; cap work up front
    text = unicodedata.normalize("NFKC", "".join(_safe_char(ch) for ch in text))
    # NFKC of the joined text can compose new code points; check once more after it.
    text = "".join(_safe_char(ch) for ch in text)
    return text[:max_chars]
