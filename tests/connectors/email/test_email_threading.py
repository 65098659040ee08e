"""Tests for connectors.email.threading: header matching, subject fallback, references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.email.inbound import parse_mail
from connectors.email.threading import (
    MatchKind,
    SubjectQuery,
    make_message_id,
    normalize_subject,
    reply_references,
    thread_key,
    topic_changed,
)

pytestmark = pytest.mark.unit

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
KNOWN = {
    "<citizen-1@example.dk>": "T1",
    "<reply-1@kommune.dk>": "T1",  # our own outgoing auto-reply
    "<other@example.dk>": "T2",
}


def mail(*headers: str, subject: str = "Re: Byggetilladelse", sender: str = "jens@example.dk"):
    lines = [f"From: {sender}", f"Subject: {subject}", "Message-ID: <new@example.dk>", *headers]
    return parse_mail("\r\n".join(lines).encode() + b"\r\n\r\nTekst\r\n")


def test_threading_matches_in_reply_to_first() -> None:
    match = thread_key(mail("In-Reply-To: <reply-1@kommune.dk>", "References: <other@example.dk>"), KNOWN.get)
    assert (match.kind, match.thread_id, match.matched_message_id) == (
        MatchKind.IN_REPLY_TO,
        "T1",
        "<reply-1@kommune.dk>",
    )


def test_threading_unknown_in_reply_to_falls_back_to_references_newest_first() -> None:
    # Outlook/M365 often send an In-Reply-To we never saw (chatwoot#10028, #10091).
    m = mail(
        "In-Reply-To: <outlook-internal@prod.outlook.com>",
        "References: <other@example.dk> <citizen-1@example.dk> <unknown@x.dk>",
    )
    match = thread_key(m, KNOWN.get)
    assert (match.kind, match.thread_id, match.matched_message_id) == (
        MatchKind.REFERENCES,
        "T1",
        "<citizen-1@example.dk>",
    )


def test_threading_subject_fallback_asks_for_same_sender_within_window() -> None:
    queries: list[SubjectQuery] = []

    def by_subject(query: SubjectQuery) -> str | None:
        queries.append(query)
        return "T9" if query.subject_key == "byggetilladelse" and query.sender == "jens@example.dk" else None

    match = thread_key(mail(subject="SV: VS: [EKSTERN] Byggetilladelse"), KNOWN.get, by_subject=by_subject, now=NOW)
    assert (match.kind, match.thread_id) == (MatchKind.SUBJECT, "T9")
    assert queries == [SubjectQuery("byggetilladelse", "jens@example.dk", NOW - timedelta(days=14))]


def test_threading_subject_fallback_requires_now() -> None:
    with pytest.raises(ValueError, match="now"):
        thread_key(mail(), KNOWN.get, by_subject=lambda q: None)


def test_threading_no_evidence_is_a_new_thread() -> None:
    match = thread_key(mail("In-Reply-To: <nobody@x.dk>"), KNOWN.get, by_subject=lambda q: None, now=NOW)
    assert match.is_new and match.thread_id is None
    assert match.subject_key == "byggetilladelse"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Byggetilladelse", "byggetilladelse"),
        ("RE: re: Sv: SV: Byggetilladelse", "byggetilladelse"),
        ("Vs: VS: Fw: FWD: AW: WG: Byggetilladelse", "byggetilladelse"),
        ("Re[2]: Byggetilladelse", "byggetilladelse"),
        ("[EKSTERN] Re: [Sag 2027-123]   Byggetilladelse ", "byggetilladelse"),
        ("Svar på ansøgning", "svar på ansøgning"),  # "Svar" is a word, not a prefix
        ("Reparation af vej", "reparation af vej"),
        ("", ""),
    ],
)
def test_threading_normalize_subject(subject: str, expected: str) -> None:
    assert normalize_subject(subject) == expected


def test_threading_topic_change_is_detected() -> None:
    assert not topic_changed("Sv: Byggetilladelse", "byggetilladelse")
    assert topic_changed("Re: Nu et spørgsmål om parkering", "byggetilladelse")
    assert not topic_changed("Re:", "byggetilladelse")  # an empty subject is not a new topic


def test_threading_reply_references_put_the_root_first() -> None:
    m = mail("References: <a@x.dk> <b@x.dk>")
    assert reply_references(m) == ("<a@x.dk>", "<b@x.dk>", "<new@example.dk>")
    assert reply_references(m, root="<root@kommune.dk>") == (
        "<root@kommune.dk>",
        "<a@x.dk>",
        "<b@x.dk>",
        "<new@example.dk>",
    )


def test_threading_long_reference_chains_keep_root_and_newest() -> None:
    refs = " ".join(f"<r{i}@x.dk>" for i in range(50))
    chain = reply_references(mail(f"References: {refs}"))
    assert len(chain) == 20
    assert chain[0] == "<r0@x.dk>" and chain[-1] == "<new@example.dk>" and chain[-2] == "<r49@x.dk>"


def test_threading_make_message_id_uses_our_domain() -> None:
    first, second = make_message_id("kommune.dk"), make_message_id("kommune.dk")
    assert first != second
    assert first.startswith("<") and first.endswith("@kommune.dk>")


@pytest.mark.parametrize("domain", ["", "a@b.dk", "kommune.dk\r\nBcc: x"])
def test_threading_make_message_id_rejects_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError):
        make_message_id(domain)
