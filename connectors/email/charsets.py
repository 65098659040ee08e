"""Charset labels from mail to Python codecs, the way mail clients and browsers read them.

Labels are mapped to their supersets (a "gb2312" mail is really GBK/GB18030, "iso-8859-1" and
"us-ascii" are really windows-1252, "ks_c_5601-1987" is cp949), Mac labels to Python's Mac codecs
(`x-mac-cyrillic` → `mac_cyrillic`), and anything bogus (NUL bytes, junk, binary codecs such as
"base64", codecs that always fail such as "undefined") to a safe fallback: UTF-8 if the bytes
are valid UTF-8, else windows-1252. `decode_text` never raises.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["codec_for", "decode_text"]

FALLBACK = "cp1252"
_LABEL_OK = re.compile(r"^[a-z0-9][a-z0-9_.:+-]{0,39}$")

# Read as their supersets: what senders mean, not what they say.
SUPERSETS = {
    "iso-8859-1": FALLBACK, "iso8859-1": FALLBACK, "iso_8859-1": FALLBACK, "latin-1": FALLBACK,
    "latin1": FALLBACK, "l1": FALLBACK, "us-ascii": FALLBACK, "ascii": FALLBACK, "ansi_x3.4-1968": FALLBACK,
    "x-user-defined": FALLBACK, "iso-8859-9": "cp1254", "latin5": "cp1254", "iso-8859-11": "cp874",
    "tis-620": "cp874", "windows-874": "cp874", "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "cp936": "gb18030", "euc-cn": "gb18030", "csgb2312": "gb18030", "chinese": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "euc-kr": "cp949", "korean": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "big5": "big5hkscs", "x-x-big5": "big5hkscs", "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6", "utf8": "utf-8", "utf8mb4": "utf-8", "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8", "unicode-1-1-utf-7": "utf-7", "unicode": "utf-16", "ucs-2": "utf-16",
    "macintosh": "mac_roman", "mac": "mac_roman", "x-mac-roman": "mac_roman", "x-mac-ce": "mac_latin2",
    "x-mac-centraleurroman": "mac_latin2", "x-mac-cyrillic": "mac_cyrillic", "x-mac-ukrainian": "mac_cyrillic",
    "x-mac-greek": "mac_greek", "x-mac-icelandic": "mac_iceland", "x-mac-turkish": "mac_turkish",
    "x-mac-croatian": "mac_croatian", "x-mac-romanian": "mac_romanian", "x-mac-farsi": "mac_farsi",
    "x-mac-arabic": "mac_arabic",
}  # fmt: skip

# Codecs that are text encodings to Python but must never read mail: they raise on ordinary
# bytes whatever the error handler, or interpret the text instead of decoding it.
_REFUSED = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"})


def codec_for(label: object) -> str | None:
    """The Python codec to read `label` with, or None for "no usable label" (use the fallback)."""
    if not isinstance(label, str):
        return None
    text = label.strip().strip("\"'").strip().lower()
    if not _LABEL_OK.match(text):
        return None  # NULs, spaces, quotes, control characters, absurd lengths
    text = SUPERSETS.get(text, text)
    if text.startswith(("cp-", "windows-")) and text.split("-", 1)[1].isdigit():
        text = "cp" + text.split("-", 1)[1]
    if text.startswith("x-mac-"):
        text = "mac_" + text[6:]
    try:
        info = codecs.lookup(text)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return info.name


def _fallback(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode(FALLBACK, "replace")


def decode_text(payload: bytes, charset: object, defects: list[str]) -> str:
    """Decode a body part by its charset label; unknown or bogus labels fall back (see module)."""
    label = charset.strip() if isinstance(charset, str) else ""
    codec = codec_for(label) if label else None
    if label and codec is None:
        shown = "".join(c if c.isprintable() else "?" for c in label)[:40]
        defects.append(f"unknown charset {shown!r}; decoded as UTF-8 or windows-1252")
    if codec is None:
        return _fallback(payload)
    if codec == FALLBACK:
        # Latin-1 and ASCII labels: a common lie on UTF-8 text, so UTF-8 is tried first.
        try:
            return payload.decode("ascii")
        except UnicodeDecodeError:
            return _fallback(payload)
    try:
        return payload.decode(codec)
    except UnicodeDecodeError:
        defects.append(f"text is not valid {codec}; decoded with replacement")
    except Exception as exc:  # noqa: BLE001 - a codec may raise other errors on hostile bytes
        defects.append(f"charset {codec}: {type(exc).__name__}; decoded as UTF-8 or windows-1252")
        return _fallback(payload)
    try:
        return payload.decode(codec, "replace")
    except Exception:  # noqa: BLE001
        return _fallback(payload)
