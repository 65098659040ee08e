"""Tests for connectors.email.inbound.automatic_reason: the RFC 3834 loop guard."""

from __future__ import annotations

import pytest

from connectors.email.inbound import automatic_reason, parse_mail

pytestmark = pytest.mark.unit


def mail_with(*headers: str, body: bytes = b"Tekst\r\n", content_type: str = "text/plain; charset=utf-8"):
    base = {
        "from": "From: Jens Hansen <jens@example.dk>",
        "to": "To: kontakt@kommune.dk",
        "subject": "Subject: Hvad koster et pas?",
        "message-id": "Message-ID: <m1@example.dk>",
        "content-type": f"Content-Type: {content_type}",
    }
    for header in headers:
        base[header.split(":", 1)[0].lower()] = header
    return parse_mail("\r\n".join(base.values()).encode() + b"\r\n\r\n" + body)


def test_loopguard_a_citizen_mail_is_not_automatic() -> None:
    assert automatic_reason(mail_with()) is None


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: auto-notified; owner-email=x@example.dk",
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
        "List-Id: Nyhedsbrev <nyhed.kommune.dk>",
        "List-Unsubscribe: <mailto:unsub@example.dk>",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, OOF, AutoReply",
        "X-Autoreply: yes",
        "X-Autorespond: Fraværende",
        "Return-Path: <>",
        "From: MAILER-DAEMON@mx.example.dk",
        "From: Mail Delivery System <postmaster@example.dk>",
        "From: Kommunen <noreply@kommune.dk>",
        "From: no-reply@example.dk",
        "From: no_reply+tag@example.dk",
        "From: donotreply@example.dk",
        "From: do-not-reply@example.dk",
        "Subject: Automatisk svar: Hvad koster et pas?",
        "Subject: Autosvar: ferie",
        "Subject: Out of Office: Hvad koster et pas?",
        "Subject: Fraværende: Jens er på ferie",
        "Subject: Undeliverable: Hvad koster et pas?",
        "Subject: Kan ikke leveres: Hvad koster et pas?",
        "Subject: Returned mail: see transcript for details",
        "Subject: Mail delivery failed: returning message to sender",
        "Subject: Delivery Status Notification (Failure)",
    ],
)
def test_loopguard_detects_automatic_mail(header: str) -> None:
    assert automatic_reason(mail_with(header)) is not None


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-Auto-Response-Suppress: DR, RN, NRN",  # only receipts suppressed: a person wrote it
        "From: Jens Noreplysen <jens.noreplysen@example.dk>",
        "Subject: Re: Automatisk betaling af ejendomsskat",
        "Subject: Mit svar om fravær fra skolen",
    ],
)
def test_loopguard_does_not_flag_ordinary_mail(header: str) -> None:
    assert automatic_reason(mail_with(header)) is None


BOUNCE = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: kontakt@kommune.dk
Subject: Delivery Status Notification (Failure)
Message-ID: <dsn@mx.google.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="r1"

--r1
Content-Type: text/plain; charset=utf-8

Adressen blev ikke fundet.
--r1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; jens@example.dk
Action: failed
Status: 5.1.1
--r1
Content-Type: message/rfc822

From: kontakt@kommune.dk
Subject: Re: Pas

Tak for din mail.
--r1--
""".replace(b"\n", b"\r\n")


def test_loopguard_detects_a_bounce_even_from_a_normal_looking_sender() -> None:
    bounce = parse_mail(BOUNCE.replace(b"mailer-daemon@googlemail.com", b"robot@example.dk").replace(
        b"Subject: Delivery Status Notification (Failure)", b"Subject: Besked"
    ))
    assert bounce.content_type == "multipart/report"
    assert bounce.text == "Adressen blev ikke fundet."
    assert automatic_reason(bounce) == "multipart/report (delivery or read report)"


def test_loopguard_own_address_is_a_loop() -> None:
    mail = mail_with("From: Kontaktcenter <Kontakt@Kommune.dk>")
    assert automatic_reason(mail) is None
    assert automatic_reason(mail, own_addresses=["kontakt@kommune.dk"]) == "sent from our own address"


def test_loopguard_mail_without_sender_is_not_answered() -> None:
    mail = parse_mail(b"Subject: Hej\r\n\r\nTekst\r\n")
    assert automatic_reason(mail) == "no sender address"
