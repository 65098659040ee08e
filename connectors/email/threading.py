"""Mail threading: which conversation does an inbound mail belong to? Pure functions.

Header evidence first: In-Reply-To, then References from newest to oldest, looked up among the
message ids we know (the citizen's earlier mails and our own outgoing replies). Outlook and
Microsoft 365 often send an In-Reply-To we never saw (chatwoot/chatwoot#10028, #10091), so every
References entry is tried before giving up. Without header evidence, the fallback is the
normalised subject from the same sender within a window of days, which the caller's lookup
enforces. A thread found by headers whose subject changed may be a new topic
(chatwoot/chatwoot#15869): `topic_changed` tells the caller to re-triage.

Our outgoing mails get ids from `make_message_id(domain)`, and their References start with the
thread root, so a citizen's reply to any of our mails carries the root along.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid

from connectors.email.inbound import InboundMail, clean_header

__all__ = [
    "MatchKind",
    "SubjectQuery",
    "ThreadMatch",
    "make_message_id",
    "normalize_subject",
    "reply_references",
    "thread_key",
    "topic_changed",
]

SUBJECT_WINDOW = timedelta(days=14)
MAX_REFERENCES = 20  # the root plus the newest ids; keeps the header a sane length

KnownLookup = Callable[[str], str | None]


class MatchKind(enum.StrEnum):
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SUBJECT = "subject"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class SubjectQuery:
    """What the subject fallback asks the caller: a thread with this normalised subject, from
    this sender, with a message at or after `since`."""

    subject_key: str
    sender: str
    since: datetime


SubjectLookup = Callable[[SubjectQuery], str | None]


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    kind: MatchKind
    thread_id: str | None  # None for MatchKind.NEW
    matched_message_id: str | None  # the header id that matched (None for subject/new)
    subject_key: str  # normalize_subject(mail.subject), stored with the thread for the fallback

    @property
    def is_new(self) -> bool:
        return self.kind is MatchKind.NEW


_PREFIX = re.compile(
    r"^\s*(?:re|sv|vs|aw|antw|fw|fwd|vb|wg|tr|rv|enc|videresend|videresendt)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.I,
)
_BRACKETS = re.compile(r"\[[^\[\]]{0,80}\]")
_SPACES = re.compile(r"\s+")


def normalize_subject(subject: str) -> str:
    """A subject reduced to what stays the same across a thread.

    Reply and forward prefixes in Danish, English and German (Re:, Sv:, Vs:, VS:, Fw:, Fwd:,
    AW:, WG:, also "Re[2]:") are removed repeatedly, bracketed tags ("[EKSTERN]", "[Sag 12]")
    removed, whitespace collapsed, case folded.

    >>> normalize_subject("SV: VS: [EKSTERN] Re:  Byggetilladelse  Hovedgaden 3")
    'byggetilladelse hovedgaden 3'
    """
    text = unicodedata.normalize("NFKC", clean_header(subject))
    while True:
        stripped = _BRACKETS.sub(" ", text)
        stripped = _PREFIX.sub("", stripped.strip())
        if stripped == text:
            break
        text = stripped
    return _SPACES.sub(" ", text).strip().casefold()


def thread_key(
    mail: InboundMail,
    known: KnownLookup,
    *,
    by_subject: SubjectLookup | None = None,
    now: datetime | None = None,
    window: timedelta = SUBJECT_WINDOW,
) -> ThreadMatch:
    """The thread `mail` belongs to.

    `known(message_id)` returns the thread id of a message id we have seen (inbound or our own
    outgoing), else None. `by_subject(query)` is the optional fallback: it returns the thread of
    the same sender with the same normalised subject active since `query.since`, else None.
    `now` is required with `by_subject` (the window ends now, not at the sender's Date header).
    """
    key = normalize_subject(mail.subject)
    if mail.in_reply_to:
        found = known(mail.in_reply_to)
        if found is not None:
            return ThreadMatch(MatchKind.IN_REPLY_TO, found, mail.in_reply_to, key)
    for ref in reversed(mail.references):
        found = known(ref)
        if found is not None:
            return ThreadMatch(MatchKind.REFERENCES, found, ref, key)
    if by_subject is not None and key and mail.from_addr:
        if now is None:
            raise ValueError("thread_key: pass now= together with by_subject")
        found = by_subject(SubjectQuery(key, mail.from_addr, now - window))
        if found is not None:
            return ThreadMatch(MatchKind.SUBJECT, found, None, key)
    return ThreadMatch(MatchKind.NEW, None, None, key)


def topic_changed(mail_subject: str, thread_subject_key: str) -> bool:
    """True when a reply found by headers has a different subject than its thread: the citizen
    may have started a new errand in an old thread, so triage it again (chatwoot#15869)."""
    key = normalize_subject(mail_subject)
    return bool(key) and key != thread_subject_key


def make_message_id(domain: str) -> str:
    """A fresh `<...@domain>` id for an outgoing mail. Pass our mail domain explicitly, so the
    machine's host name never leaks into headers."""
    if not domain or any(ch in domain for ch in "<>@ \r\n"):
        raise ValueError(f"make_message_id needs a bare mail domain like 'kommune.dk', got {domain!r}")
    return make_msgid(domain=domain)


def reply_references(mail: InboundMail, root: str | None = None) -> tuple[str, ...]:
    """References for a reply to `mail` (RFC 5322 §3.6.4): its References plus its Message-ID,
    with the thread `root` first if given. Long chains keep the root and the newest ids."""
    chain = [*mail.references, mail.message_id]
    if root and root not in chain:
        chain.insert(0, root)
    seen: set[str] = set()
    ordered = [i for i in chain if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
    if len(ordered) > MAX_REFERENCES:
        ordered = [ordered[0], *ordered[-(MAX_REFERENCES - 1) :]]
    return tuple(ordered)
