"""Mailbox addresses read per RFC 5322 §3.4 (UTF-8 allowed per RFC 6532), to decide who a reply
goes to. A reply goes to an addr-spec, never to anything written in a display name.

The header is read structurally on its raw text: quoted strings, comments, <angle-addr>s,
domain literals and groups are tokenised first, and RFC 2047 encoded-words are decoded only in
display names afterwards, so neither an encoded word nor an address-like display name
(`jens@kommune.dk <jens.hansen@gmail.com>`) can ever become the recipient. A mailbox with
exactly one <angle-addr> is that address; a bare addr-spec is itself; anything ambiguous (two
angle-addrs, text after the angle-addr, an unterminated quote) yields no address rather than a
guess. `mailboxes` never raises.

>>> [m.addr_spec for m in mailboxes("jens@kommune.dk <Jens.Hansen@gmail.com>, Anne <anne@x.dk>")]
['Jens.Hansen@gmail.com', 'anne@x.dk']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.header import decode_header, make_header

__all__ = ["Mailbox", "is_addr_spec", "mailboxes", "normalize_addr_spec", "unfold"]

MAX_ADDRESS_CHARS = 320  # the column width; longer is not a deliverable address
MAX_HEADER_SCAN = 20_000  # characters of one address header that are read at all

_ATEXT_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class Mailbox:
    display_name: str  # decoded, one line; for display only
    addr_spec: str  # local-part@domain as written (case kept); a quoted local part is normalised


def unfold(value: str) -> str:
    """A raw header value on one line (RFC 5322 §2.2.3); stray CR/LF become spaces."""
    return _FOLD.sub("", value).replace("\r", " ").replace("\n", " ")


def _atext(ch: str) -> bool:
    if ch in _ATEXT_ASCII:
        return True
    # RFC 6532: any non-ASCII UTF-8 character, but never controls, format or space characters
    return ord(ch) > 127 and unicodedata.category(ch)[0] not in "CZ"


def _dot_atom(text: str) -> bool:
    return bool(text) and all(atom and all(_atext(c) for c in atom) for atom in text.split("."))


def _quote_local(content: str) -> str:
    if _dot_atom(content):
        return content
    return '"' + content.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _without_comments(text: str) -> str | None:
    """`text` with its (nested) comments removed, outside quoted strings; None if unbalanced."""
    out, depth, quoted, i = [], 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            if not depth:
                out.append(text[i : i + 2])
            i += 2
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            quoted = ch == '"'
            out.append(ch)
        i += 1
    return None if depth or quoted else "".join(out)


def normalize_addr_spec(text: str) -> str | None:
    """`local@domain` if `text` is one deliverable addr-spec (dot-atom or quoted local part, a
    dot-atom domain with at least two labels; comments around its parts are allowed), else None.
    An obsolete route (`@a,@b:`) is dropped."""
    text = (_without_comments(text) or "").strip()
    if text.startswith("@") and ":" in text:
        text = text.rsplit(":", 1)[1].strip()
    if not text or len(text) > MAX_ADDRESS_CHARS:
        return None
    if text.startswith('"'):
        end, i, content = None, 1, []
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                content.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                end = i
                break
            content.append(ch)
            i += 1
        if end is None or text[end + 1 : end + 2] != "@":
            return None
        local_text = "".join(content)
        if not local_text or any(unicodedata.category(c)[0] == "C" for c in local_text):
            return None
        local, domain = _quote_local(local_text), text[end + 2 :]
    else:
        local, at, domain = text.rpartition("@")
        if not at or not _dot_atom(local):
            return None
    labels = domain.split(".")
    if len(labels) < 2 or not _dot_atom(domain):
        return None
    return f"{local}@{domain}"


def is_addr_spec(text: str) -> bool:
    return normalize_addr_spec(text) is not None


@dataclass(slots=True)
class _Chunk:
    """One mailbox's raw pieces at top level: ("text"|"quoted"|"comment"|"angle"|"literal", str)."""

    parts: list[tuple[str, str]]
    broken: bool = False


def _chunks(value: str) -> list[_Chunk]:
    """Split an address list at top-level commas, semicolons and group colons."""
    out: list[_Chunk] = []
    cur = _Chunk([])
    i, n = 0, len(value)

    def flush() -> None:
        nonlocal cur
        if any(kind != "comment" and text.strip() for kind, text in cur.parts) or cur.broken:
            out.append(cur)
        cur = _Chunk([])

    while i < n:
        ch = value[i]
        if ch == '"':
            j, buf = i + 1, ['"']
            while j < n and value[j] != '"':
                if value[j] == "\\" and j + 1 < n:
                    buf.append(value[j : j + 2])
                    j += 2
                    continue
                buf.append(value[j])
                j += 1
            if j >= n:
                cur.broken = True
            cur.parts.append(("quoted", "".join(buf) + '"'))
            i = j + 1
        elif ch == "(":
            depth, j = 1, i + 1
            while j < n and depth:
                if value[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(value[j], 0)
                j += 1
            cur.broken = cur.broken or depth > 0
            cur.parts.append(("comment", value[i:j]))
            i = j
        elif ch in "<[":
            close = ">" if ch == "<" else "]"
            j, quoted = i + 1, False
            while j < n and (quoted or value[j] != close):
                if value[j] == "\\" and j + 1 < n:
                    j += 2
                    continue
                if value[j] == '"':
                    quoted = not quoted
                j += 1
            if j >= n:
                cur.broken = True
            cur.parts.append(("angle" if ch == "<" else "literal", value[i + 1 : j]))
            i = j + 1
        elif ch in ",;:":
            if ch == ":":
                cur = _Chunk([])  # a group's display name ("Kollegaer: a@b.dk, c@d.dk;") is not a mailbox
            else:
                flush()
            i += 1
        else:
            j = i
            while j < n and value[j] not in '"(<[,;:':
                j += 1
            cur.parts.append(("text", value[i:j]))
            i = j
    flush()
    return out


def _display(parts: list[tuple[str, str]]) -> str:
    words = []
    for kind, text in parts:
        if kind == "quoted":
            words.append(re.sub(r"\\(.)", r"\1", text[1:-1]))
        elif kind == "text":
            words.append(text)
    raw = " ".join(w.strip() for w in words if w.strip())
    try:
        decoded = str(make_header(decode_header(raw)))
    except Exception:  # noqa: BLE001 - a broken encoded word is shown as written
        decoded = raw
    return " ".join("".join(c if unicodedata.category(c)[0] != "C" else " " for c in decoded).split())[:200]


def _mailbox(chunk: _Chunk) -> Mailbox | None:
    if chunk.broken:
        return None
    parts = chunk.parts
    angles = [i for i, (kind, _) in enumerate(parts) if kind == "angle"]
    if len(angles) > 1:
        return None
    if angles:
        at = angles[0]
        if any(kind != "comment" and text.strip() for kind, text in parts[at + 1 :]):
            return None  # text after the angle-addr: not a mailbox we can read with certainty
        addr = normalize_addr_spec(parts[at][1])
        return Mailbox(_display(parts[:at]), addr) if addr else None
    if any(kind == "literal" for kind, _ in parts):
        return None  # a domain literal ([192.0.2.1]) is no address to answer
    bare = "".join(text for kind, text in parts if kind != "comment").strip()
    if not bare or any(c.isspace() for c in bare.replace('\\ ', "")) and not bare.startswith('"'):
        return None
    addr = normalize_addr_spec(bare)
    return Mailbox("", addr) if addr else None


def mailboxes(value: str | None) -> list[Mailbox]:
    """The deliverable mailboxes of an address header's raw value, in order; never raises."""
    if not value:
        return []
    try:
        text = unfold(str(value))[:MAX_HEADER_SCAN]
        return [m for m in (_mailbox(c) for c in _chunks(text)) if m is not None]
    except Exception:  # noqa: BLE001 - an unreadable header has no address we could trust
        return []
