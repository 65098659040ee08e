"""Hostile text and JSON for the fuzz cases: strings that have broken parsers somewhere, Unicode
whose NFKC form is much longer than the input (native tokenisers size buffers from the input),
lone surrogates, control characters, long texts that cost CPU, deep and oddly typed JSON."""

from __future__ import annotations

import functools
import json
import random
import sys
import unicodedata
from typing import Any

NASTY = [
    "", " ", "\x00", "\u0000\u0001\u001f", "\r\n\r\n", "\t", "\u2028\u2029", "\ufeff", "\ud7ff", "\uffff",
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "</Say><Hangup/>", "<![CDATA[x]]>",
    "]]>", "&amp;&lt;&#0;&#x110000;", "{{7*7}}", "${jndi:ldap://x}", "'; DROP TABLE contacts; --",
    "%s%s%n", "../../../etc/passwd", "..\\..\\boot.ini", "C:\\CON\\AUX", "\u202etxt.exe",
    "æøå ÆØÅ é ü ß", "🙂" * 50, "\U0010ffff", "ｍｉｔ ＣＰＲ", "010190-1234", "0101901234", "nul et nul et ni nul",
    "Hvornår kommer skraldebilen?", "jeg vil tale med et menneske", "jeg vil slå mig selv ihjel",
    "\x1b[31mred", "null", "true", "[]", "{}", "NaN", "-0", "1e309", "²", "٣", "Ⅻ", "𝟗", "\u0301" * 30,
    "\ufdfa", "\ufdfa" * 8, "ﷺ" * 3, "\u3300" * 10,
]
WORDS = ("Hej jeg har et spørgsmål om boligstøtte pas kørekort affald storskrald sygedagpenge flytning "
         "menneske hjælp ring mig op hvornår").split()
# Numbers that overflow int64 columns, or are not numbers to a strict parser.
HUGE_NUMBERS = ["9223372036854775807", "9223372036854775808", "18446744073709551616", "-9223372036854775809",
                "1" + "0" * 40, "1" * 5000, "-1", "0", "00", "1e3", "0x10", "²", "١٢", "+1", " 1", "1 ", "NaN", "Infinity"]


@functools.cache
def long_nfkc_chars() -> tuple[str, ...]:
    """Every code point whose NFKC normalisation is at least 4 characters long (72 in
    Unicode 15: ligatures such as U+FDFA, which becomes 18 characters, squared katakana, ...)."""
    return tuple(
        chr(c) for c in range(sys.maxunicode + 1)
        if not 0xD800 <= c <= 0xDFFF and len(unicodedata.normalize("NFKC", chr(c))) >= 4
    )


def nfkc_bomb(rng: random.Random) -> str:
    """A short text that grows a lot under NFKC: repeats of one or a few long-expansion chars."""
    chars = long_nfkc_chars()
    if rng.random() < 0.4:
        return "\ufdfa" * rng.choice([1, 2, 8, 16, 64, 500])
    picked = rng.sample(chars, k=rng.randint(1, 4))
    return "".join(rng.choice(picked) for _ in range(rng.choice([4, 8, 24, 100])))


def lone_surrogates(rng: random.Random) -> str:
    return "".join(chr(rng.randint(0xD800, 0xDFFF)) for _ in range(rng.randint(1, 5)))


def control_chars(rng: random.Random) -> str:
    return "".join(chr(rng.choice([*range(0, 32), 0x7F, *range(0x80, 0xA0), 0x200B, 0x202E, 0xFEFF]))
                   for _ in range(rng.randint(1, 30)))


def long_text(rng: random.Random) -> str:
    """Texts that cost CPU: long runs of a multi-token character, many short words."""
    return rng.choice([
        lambda: "Ω" * 10_000, lambda: "hej " * 2000, lambda: "Ω" * 4000, lambda: "hej " * 800,
        lambda: "ø" * 4001, lambda: "a" * 5000, lambda: " ".join(rng.choices(WORDS, k=1500)),
        lambda: "🙂" * 3000, lambda: "\u0301" * 5000,
    ])()


def rand_text(rng: random.Random, max_len: int = 300) -> str:
    """Mixed Danish words, nasty strings and random code points (surrogates included)."""
    parts = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.30:
            parts.append(rng.choice(NASTY))
        elif kind < 0.55:
            parts.append(" ".join(rng.choices(WORDS, k=rng.randint(1, 8))))
        elif kind < 0.78:
            parts.append("".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(1, 40))))
        elif kind < 0.86:
            parts.append("".join(chr(rng.randint(0x3000, 0x10FFFF)) for _ in range(rng.randint(1, 10))))
        elif kind < 0.90:
            parts.append(lone_surrogates(rng))
        elif kind < 0.95:
            parts.append(control_chars(rng))
        else:
            parts.append(nfkc_bomb(rng))
    text = "".join(parts)
    return text[: rng.randint(0, max_len)] if rng.random() < 0.5 else text


def hostile_text(rng: random.Random) -> str:
    """What goes into a text field: mostly `rand_text`, sometimes a long or NFKC-heavy text."""
    r = rng.random()
    if r < 0.02:
        return long_text(rng)
    if r < 0.05:
        return nfkc_bomb(rng)
    return rand_text(rng)


def rand_json_value(rng: random.Random, depth: int = 0) -> Any:
    """A value of any JSON type, for fields that expect another."""
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice([None, True, False, 0, -1, 2**63, 2**70, -(2**63) - 1, 1.5, 1e300, -0.0,
                           rand_text(rng, 60), "", [], {}])
    if r < 0.7:
        return [rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rand_text(rng, 10): rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def deep_json(depth: int, kind: str = "[") -> bytes:
    """`[[[...]]]` or `{"a":{"a":...1}}` nested `depth` levels: recursion limits in parsers."""
    if kind == "[":
        return ("[" * depth + "]" * depth).encode()
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def to_json(obj: Any) -> bytes:
    """JSON with `ensure_ascii`: lone surrogates travel as `\\udXXX` escapes, valid JSON that
    decodes to a string Python cannot encode as UTF-8."""
    return json.dumps(obj, ensure_ascii=True).encode()


def form_safe(text: str) -> str:
    """What can travel in a urlencoded form: lone surrogates become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


def raw_bytes(rng: random.Random, max_len: int = 2000) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, max_len)))
