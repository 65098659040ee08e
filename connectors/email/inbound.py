"""Inbound e-mail: raw RFC 5322 bytes to an `InboundMail`, and the RFC 3834 loop guard.

`parse_mail` never raises for bad mail content. Broken MIME, unknown charsets, garbage bytes and
huge bodies all give an `InboundMail` with whatever could be read, and the problems are listed in
`defects`. Every header value it returns is a single line (CR, LF and other control characters are
replaced), so nothing read from a citizen's mail can inject headers into the mail we send back.

Attachments are described (sanitised name, content type, size, SHA-256) but never stored,
opened or executed here.

Addresses are read per RFC 5322/6532 by `connectors.email.addresses` (a reply goes to the
addr-spec of Reply-To, else From, never to a display name), charsets by
`connectors.email.charsets`. `automatic_reason` is the loop guard (`connectors.email.loopguard`):
it says why a mail was sent by a machine, in which case no auto-reply may be sent to it.
"""

from __future__ import annotations

import email
import hashlib
import re
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

from connectors.email.addresses import Mailbox, mailboxes
from connectors.email.charsets import decode_text
from connectors.email.loopguard import automatic_reason, machine_reason

__all__ = [
    "Attachment",
    "InboundMail",
    "automatic_reason",
    "clean_header",
    "html_to_text",
    "machine_reason",
    "parse_mail",
    "sanitize_filename",
    "strip_quotes_and_signature",
]

GENERATED_ID_DOMAIN = "generated.kontakt.invalid"
MAX_HEADER_CHARS = 4_000  # per header value we keep
MAX_HEADERS = 500
MAX_TEXT_CHARS = 2_000_000  # `text`; a longer body is cut and a defect recorded
MAX_UNDERSTANDING_CHARS = 20_000  # `body_for_understanding`, the part NLU reads
MAX_ATTACHMENTS = 200
MAX_PART_TYPES = 50
MAX_DEFECTS = 50
MAX_FILENAME_CHARS = 120
DEFAULT_FILENAME = "attachment"


@dataclass(frozen=True, slots=True)
class Attachment:
    """What we know about an attachment without storing or opening it."""

    filename: str  # sanitised: no path parts, no "..", no control characters, length-limited
    content_type: str
    size: int  # bytes after transfer decoding
    sha256: str  # hex digest of the decoded bytes
    inline: bool = False  # Content-Disposition: inline (e.g. an embedded logo)


@dataclass(frozen=True, slots=True)
class InboundMail:
    """One parsed mail. Message ids keep their angle brackets (`<local@domain>`)."""

    message_id: str
    message_id_generated: bool  # the mail had no usable Message-ID; ours is a hash of the bytes
    in_reply_to: str | None
    references: tuple[str, ...]  # oldest first, as in the header
    subject: str
    from_addr: str  # lower-cased addr-spec of From (else Sender), "" if none could be read
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None  # lower-cased addr-spec of the first Reply-To mailbox
    date: datetime | None  # aware; None if missing or unreadable
    content_type: str  # of the whole message, e.g. "multipart/alternative"
    text: str  # the body as text (HTML converted), quotes and signatures kept
    body_for_understanding: str  # `text` without quoted replies and signatures, for NLU
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-case name, cleaned value), in order
    defects: tuple[str, ...]
    size: int  # raw bytes
    # Where a reply goes: the addr-spec of Reply-To, else From, as written (case kept); "" if none.
    reply_addr: str = ""
    part_types: tuple[str, ...] = ()  # content types of every MIME part, in walk order (capped)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), cleaned, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)


# --- header hygiene ---------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit bytes in headers come back from the parser as lone surrogates; decode them."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def clean_header(value: object, limit: int = MAX_HEADER_CHARS) -> str:
    """One line of text: surrogates decoded, CR/LF and control characters replaced by spaces,
    runs of whitespace collapsed, length-limited. Use it on every value taken from a mail."""
    text = _fix_surrogates(str(value))
    text = text.encode("utf-8", "replace").decode("utf-8")  # any surrogate left becomes "?"
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text[:limit]


def _header_str(msg: Message, name: str, defects: list[str]) -> str | None:
    """The decoded value of the first `name` header; never raises."""
    try:
        value = msg.get(name)
    except Exception as exc:  # noqa: BLE001 - the stdlib header parser raises many types
        defects.append(f"header {name}: {type(exc).__name__}")
        value = _raw_header(msg, name)
    if value is None:
        return None
    try:
        return clean_header(value)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"header {name}: {type(exc).__name__}")
        return clean_header(_raw_header(msg, name) or "")


def _decoded_item(msg: Message, key: str, value: str, defects: list[str]) -> tuple[str, str]:
    """(lower-case name, decoded and cleaned value) for one raw header line; never raises."""
    name = clean_header(key, 100).lower()
    try:
        decoded = msg.policy.header_fetch_parse(key, value)  # type: ignore[attr-defined]
        for defect in getattr(decoded, "defects", ()):
            defects.append(f"header {name}: {type(defect).__name__}")
        return name, clean_header(decoded)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"header {name}: {type(exc).__name__}")
        return name, clean_header(value)


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


# --- message ids ------------------------------------------------------------------------------

_MSGID = re.compile(r"<([\x21-\x3b\x3d\x3f-\x7e]{1,250})>")  # printable ASCII, no brackets


def _msg_ids(value: str | None) -> tuple[str, ...]:
    """All `<id>` tokens in a header; a bare token without brackets counts as one id."""
    if not value:
        return ()
    found = tuple(f"<{m}>" for m in _MSGID.findall(value))
    if found:
        return found
    bare = value.strip().split()
    if bare and "@" in bare[0]:
        found = tuple(f"<{m}>" for m in _MSGID.findall(f"<{bare[0].strip('<>')}>"))
    return found


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return tuple(out)


# --- addresses ----------------------------------------------------------------------------------


def _addresses(msg: Message, name: str, defects: list[str]) -> list[Mailbox]:
    """The deliverable mailboxes of the first `name` header, read from its raw text; never raises."""
    raw = _raw_header(msg, name)
    if raw is None:
        return []
    found = mailboxes(_fix_surrogates(raw))
    if not found and raw.strip():
        defects.append(f"header {name}: no readable address")
    return found


def _date(msg: Message, defects: list[str]) -> datetime | None:
    raw = _header_str(msg, "Date", defects)
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("header Date: unreadable date")
        return None
    if parsed.tzinfo is None:  # "-0000": the sender does not know its zone; read it as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- body text --------------------------------------------------------------------------------

def _part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"body: {type(exc).__name__}")
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            payload = raw.encode("utf-8", "surrogateescape")
        else:
            return ""
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    text = decode_text(payload, charset, defects)
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCK_SEP = "\n"

def html_to_text(html: str) -> str:
    """Readable text from HTML: scripts, styles and head dropped; <blockquote> content turned
    into "> " lines so the quote stripper recognises it; blank lines collapsed."""
    from bs4 import BeautifulSoup  # here, not at start-up: most mail has a plain-text part

    with warnings.catch_warnings():  # bs4 warns on markup that looks like a URL or file name
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "noscript", "template"]):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for quote in soup.find_all("blockquote"):
        if quote.find_parent("blockquote") is not None:
            continue
        lines = [ln.strip() for ln in quote.get_text(_BLOCK_SEP).splitlines() if ln.strip()]
        quote.replace_with("\n" + "\n".join("> " + ln for ln in lines) + "\n")
    text = soup.get_text(_BLOCK_SEP)
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# --- quoted replies and signatures ------------------------------------------------------------

_REPLY_HEADER = re.compile(
    r"^\s*(?:den|on|d\.|am|le)\b.{0,300}\b(?:skrev|wrote|schrieb|a écrit)\b.{0,300}:\s*$", re.I
)
_REPLY_HEADER_START = re.compile(r"^\s*(?:den|on|d\.)\s+\S", re.I)
_REPLY_HEADER_END = re.compile(r"\b(?:skrev|wrote)\b.{0,300}:\s*$", re.I)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:oprindelig meddelelse|original message|oprindelig besked)\s*-{2,}\s*$", re.I
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:fra|from)\s*:\*?\s*\S", re.I)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(?:sendt|sent|dato|date|til|to|emne|subject)\s*:", re.I)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_SIG_DASHES = re.compile(r"^--\s*$")
_SENT_FROM = re.compile(
    r"^\s*(?:sendt fra min|sent from my|hent outlook til|get outlook for|sendt fra outlook)\b", re.I
)
_SIGN_OFF = re.compile(
    r"^\s*(?:med venlig hilsen|m\.?v\.?h\.?|venlig hilsen|v\.?h\.?|venligst|de bedste hilsner|"
    r"bedste hilsner|bedste hilsen|mange hilsner|hilsen|kind regards|best regards|regards)"
    r"\b[\s,.!]*(?:\S.{0,60})?$",
    re.I,
)
SIGN_OFF_MAX_TRAILING_LINES = 6  # a sign-off followed by more lines than this is not a signature


def _cut_index(lines: list[str]) -> int | None:
    """Where the quoted history starts (first reply header), or None."""
    for i, line in enumerate(lines):
        if _ORIGINAL_MESSAGE.match(line) or _REPLY_HEADER.match(line):
            return i
        if _REPLY_HEADER_START.match(line) and i + 1 < len(lines) and _REPLY_HEADER_END.search(lines[i + 1]):
            return i  # the header wrapped over two lines
        if _OUTLOOK_FROM.match(line):
            following = [ln for ln in lines[i + 1 : i + 5] if ln.strip()]
            if following and _OUTLOOK_NEXT.match(following[0]):
                if i > 0 and _UNDERSCORES.match(lines[i - 1]):
                    return i - 1
                return i
    return None


def strip_quotes_and_signature(text: str) -> str:
    """The new part of a reply: quoted history, "> " lines and the signature removed.

    Cut at the first reply header ("Den … skrev:", "On … wrote:", "-----Oprindelig
    meddelelse-----", an Outlook "Fra:/Sendt:" block), drop "> " lines, then cut the signature:
    "-- ", "Sendt fra min iPhone", or a sign-off ("Med venlig hilsen", "Mvh", "Venlig hilsen")
    followed by at most a few name lines. Forwarded messages are kept: they are the content.
    If nothing is left, the text with quotes removed (or the whole text) is returned instead.
    """
    lines = text.splitlines()
    cut = _cut_index(lines)
    if cut is not None:
        lines = lines[:cut]
    unquoted = [ln for ln in lines if not ln.lstrip().startswith(">")]
    body = list(unquoted)
    for i, line in enumerate(body):
        if _SIG_DASHES.match(line.rstrip()) or _SENT_FROM.match(line):
            body = body[:i]
            break
    nonempty = [i for i, ln in enumerate(body) if ln.strip()]
    for pos in range(len(nonempty) - 1, -1, -1):
        i = nonempty[pos]
        if len(nonempty) - 1 - pos > SIGN_OFF_MAX_TRAILING_LINES:
            break
        if _SIGN_OFF.match(body[i]):
            body = body[:i]
            break
    result = _collapse_blank("\n".join(ln.rstrip() for ln in body))
    if not result:
        result = _collapse_blank("\n".join(ln.rstrip() for ln in unquoted)) or text.strip()
    return result


def _collapse_blank(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- attachments ------------------------------------------------------------------------------

# control, format (bidi overrides), surrogates, unassigned, private use, line/paragraph separators
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp"})
_WINDOWS_RESERVED = re.compile(r"^(?:con|prn|aux|nul|com\d|lpt\d)(?:\..*)?$", re.I)
_UNSAFE_CHARS = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')


def sanitize_filename(name: object, max_chars: int = MAX_FILENAME_CHARS) -> str:
    """A file name that is safe to show and to use as a last path component.

    No directories (both "/" and "\\" separate), no "..", no control or bidi-formatting
    characters (the "gpj.exe" trick), no Windows-reserved names or characters, no leading dot,
    at most `max_chars` characters with the extension kept. Empty results become "attachment".
    """
    text = "" if name is None else _fix_surrogates(str(name))
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _UNSAFE_CATEGORIES)
    text = text.replace("\\", "/").split("/")[-1]
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = _SPACES.sub(" ", text).strip().lstrip(".").strip()
    if _WINDOWS_RESERVED.match(text):
        text = "_" + text
    if not text:
        return DEFAULT_FILENAME
    if len(text) > max_chars:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            text = stem[: max_chars - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:max_chars]
    return text


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
    except Exception:  # noqa: BLE001
        return True
    if disposition == "attachment" or filename:
        return True
    return part.get_content_maintype() not in ("text", "multipart", "message")


def _attachment(part: Message, defects: list[str]) -> Attachment:
    try:
        filename = part.get_filename()
    except Exception:  # noqa: BLE001
        filename = None
        defects.append("attachment: unreadable file name")
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:  # noqa: BLE001
        disposition = ""
    return Attachment(
        filename=sanitize_filename(filename),
        content_type=clean_header(part.get_content_type(), 100),
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        inline=disposition == "inline",
    )


# --- parse_mail -------------------------------------------------------------------------------


def _defect_names(part: Message) -> list[str]:
    return [f"{type(d).__name__}: {clean_header(d, 200)}" for d in getattr(part, "defects", ())]


def _body_part(msg: EmailMessage, defects: list[str]) -> Message | None:
    try:
        found = msg.get_body(preferencelist=("plain", "html"))
    except Exception as exc:  # noqa: BLE001
        defects.append(f"body: {type(exc).__name__}")
        found = None
    if found is not None:
        return found
    for part in msg.walk():  # e.g. a text part marked inline inside odd structure
        if part.get_content_maintype() == "text" and not part.is_multipart():
            try:
                if (part.get_content_disposition() or "") != "attachment":
                    return part
            except Exception:  # noqa: BLE001
                return part
    return None


def parse_mail(raw: bytes) -> InboundMail:
    """Parse one raw RFC 5322 message. Raises TypeError only if `raw` is not bytes.

    >>> m = parse_mail(b"From: Jens <jens@example.dk>\\r\\nSubject: Hej\\r\\n\\r\\nHvad koster et pas?\\r\\n")
    >>> (m.from_addr, m.subject, m.text)
    ('jens@example.dk', 'Hej', 'Hvad koster et pas?')
    """
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"parse_mail needs the raw message as bytes, got {type(raw).__name__}")
    defects: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # noqa: BLE001 - the feed parser is lenient, but be sure
        defects.append(f"unparseable message: {type(exc).__name__}")
        msg = email.message_from_bytes(b"\r\n\r\n" + raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)

    raw_items = list(msg.raw_items())
    headers = tuple(_decoded_item(msg, key, value, defects) for key, value in raw_items[:MAX_HEADERS])
    if len(raw_items) > MAX_HEADERS:
        defects.append(f"more than {MAX_HEADERS} headers; the rest were ignored")

    message_ids = _msg_ids(_header_str(msg, "Message-ID", defects))
    generated = not message_ids
    message_id = (
        message_ids[0] if message_ids else f"<{hashlib.sha256(raw).hexdigest()[:40]}@{GENERATED_ID_DOMAIN}>"
    )
    if generated:
        defects.append("no Message-ID; generated one from the raw bytes")
    in_reply_to_ids = _msg_ids(_header_str(msg, "In-Reply-To", defects))
    references = _dedupe(_msg_ids(_header_str(msg, "References", defects)))

    authors = _addresses(msg, "From", defects)
    senders = authors or _addresses(msg, "Sender", defects)
    from_name, from_addr = (senders[0].display_name, senders[0].addr_spec.lower()) if senders else ("", "")
    if not senders:
        defects.append("no readable From address")
    reply_to = _addresses(msg, "Reply-To", defects)
    reply_addr = (reply_to or authors)[0].addr_spec if (reply_to or authors) else ""

    try:
        content_type = msg.get_content_type()
    except Exception:  # noqa: BLE001
        content_type = "text/plain"

    body = _body_part(msg, defects)
    text = ""
    if body is not None:
        text = _part_text(body, defects)
        if body.get_content_subtype() == "html":
            text = html_to_text(text)
    text = text.replace("\x00", "")
    if len(text) > MAX_TEXT_CHARS:
        defects.append(f"text longer than {MAX_TEXT_CHARS} characters; cut")
        text = text[:MAX_TEXT_CHARS]
    text = text.strip()

    attachments: list[Attachment] = []
    part_defects: list[str] = []
    part_types: list[str] = []
    for part in msg.walk():
        part_defects.extend(_defect_names(part))
        if len(part_types) < MAX_PART_TYPES:
            try:
                part_types.append(clean_header(part.get_content_type(), 100).lower())
            except Exception:  # noqa: BLE001
                part_types.append("application/octet-stream")
        if part is body or part.is_multipart() or not _is_attachment(part):
            continue
        if len(attachments) >= MAX_ATTACHMENTS:
            defects.append(f"more than {MAX_ATTACHMENTS} attachments; the rest were not recorded")
            break
        attachments.append(_attachment(part, defects))

    return InboundMail(
        message_id=message_id,
        message_id_generated=generated,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        subject=_header_str(msg, "Subject", defects) or "",
        from_addr=from_addr,
        from_name=from_name,
        to=tuple(m.addr_spec.lower() for m in _addresses(msg, "To", defects)),
        cc=tuple(m.addr_spec.lower() for m in _addresses(msg, "Cc", defects)),
        reply_to=reply_to[0].addr_spec.lower() if reply_to else None,
        date=_date(msg, defects),
        content_type=clean_header(content_type, 100),
        text=text,
        body_for_understanding=strip_quotes_and_signature(text[: MAX_UNDERSTANDING_CHARS * 5])[
            :MAX_UNDERSTANDING_CHARS
        ],
        attachments=tuple(attachments),
        headers=headers,
        defects=_dedupe(part_defects + defects)[:MAX_DEFECTS],
        size=len(raw),
        reply_addr=reply_addr,
        part_types=tuple(part_types),
    )
