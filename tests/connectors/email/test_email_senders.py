"""Who a reply goes to, and who never gets one: RFC 5322 addresses (never a display name), RFC
6532 UTF-8 addresses written as UTF-8, read receipts, reports and list mail, charset labels,
and no personal data in the reply's headers."""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from zoneinfo import ZoneInfo

import pytest

from connectors.email.charsets import codec_for, decode_text
from connectors.email.inbound import automatic_reason, machine_reason, parse_mail
from connectors.email.outbound import auto_reply, wire_bytes
from connectors.email.transport import SmtpSender

pytestmark = pytest.mark.unit

CPH = ZoneInfo("Europe/Copenhagen")
FROM = "kontakt@kommune.dk"


def mail(*headers: str, body: bytes = b"Hvad koster et pas?\r\n", ctype: str = "text/plain; charset=utf-8"):
    lines = ["To: kontakt@kommune.dk", "Subject: Pas", "Message-ID: <m1@example.dk>", f"Content-Type: {ctype}"]
    return parse_mail(("\r\n".join([*headers, *lines]) + "\r\n\r\n").encode() + body)


def reply_to_of(m) -> str:
    msg = auto_reply(m, received_at=datetime(2027, 1, 4, 8, tzinfo=CPH), deadline=datetime(2027, 1, 4, 10, tzinfo=CPH),
                     tenant_name="Kommunen", from_addr=FROM)  # fmt: skip
    back = email.message_from_bytes(wire_bytes(msg), policy=policy.default)
    return str(back["To"])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("From: jens@kommune.dk <jens.hansen@gmail.com>", "jens.hansen@gmail.com"),
        ('From: "jens@kommune.dk" <jens.hansen@gmail.com>', "jens.hansen@gmail.com"),
        ("From: noreply@kommune.dk <jens@gmail.com>", "jens@gmail.com"),
        ("From: =?utf-8?q?anne=40kommune.dk?= <anne@example.dk>", "anne@example.dk"),
        ("From: Jens Hansen, Borgerservice <jens@example.dk>", "jens@example.dk"),
        ("From: Pete(A wonderful \\) chap) <pete(his account)@silly.test(his host)>", "pete@silly.test"),
        ("From: Grp: Jens <Jens.Hansen@Example.dk>;", "Jens.Hansen@Example.dk"),
    ],
)
def test_senders_reply_goes_to_the_addr_spec_never_the_display_name(header: str, expected: str) -> None:
    m = mail(header)
    assert m.reply_addr == expected and machine_reason(m) is None
    assert reply_to_of(m) == expected


def test_senders_reply_to_wins_over_from() -> None:
    m = mail("From: Jens <jens@example.dk>", "Reply-To: Jens privat <jens.privat@example.org>")
    assert reply_to_of(m) == "jens.privat@example.org" and m.from_addr == "jens@example.dk"


def test_senders_utf8_address_is_written_as_utf8_not_encoded_words() -> None:
    m = parse_mail("From: Søren <søren@bøf.dk>\r\nSubject: Hej\r\nMessage-ID: <u@x.dk>\r\n\r\nHej\r\n".encode())
    assert m.reply_addr == "søren@bøf.dk"
    msg = auto_reply(m, received_at=datetime(2027, 1, 4, 8, tzinfo=CPH), deadline=datetime(2027, 1, 4, 10, tzinfo=CPH),
                     tenant_name="Kommunen", from_addr=FROM)  # fmt: skip
    head = wire_bytes(msg).split(b"\r\n\r\n", 1)[0]
    assert "To: søren@bøf.dk".encode() in head and b"=?utf-8?" not in head.split(b"To:", 1)[1].split(b"\r\n")[0]


@pytest.mark.parametrize(
    "header",
    ["From: Jens Hansen", "From: undisclosed-recipients:;", "From: Jens <jens@[192.0.2.1]>", "From: <a@b> <c@d.dk>",
     'From: "Jens <jens@example.dk>'],
)
def test_senders_without_a_usable_sender_nothing_is_guessed(header: str) -> None:
    m = mail(header)
    assert m.reply_addr == "" and machine_reason(m) is None  # a person: still goes to a queue
    assert automatic_reason(m) == "no sender address"  # but gets no auto-reply


@pytest.mark.parametrize(
    ("headers", "ctype", "body"),
    [
        ((), "multipart/report; report-type=disposition-notification; boundary=b",
         b"--b\r\nContent-Type: text/plain\r\n\r\nLaest\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
         b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n"),
        (("Subject: Read: Pas", "X-MS-TNEF-Correlator: <00000000@x>"), "application/ms-tnef", b"\x78\x9f\x3e\x22"),
        (("Subject: Læst: Pas",), "multipart/mixed; boundary=b",
         b"--b\r\nContent-Type: application/ms-tnef\r\n\r\nxx\r\n--b--\r\n"),
        (("Content-Class: urn:content-classes:mdn",), "text/plain", b"Laest\r\n"),
        ((), "multipart/mixed; boundary=b", b"--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--b--\r\n"),
        (("List-Help: <mailto:help@lists.example.dk>",), "text/plain", b"x\r\n"),
        (("List-Archive: <https://lists.example.dk/>",), "text/plain", b"x\r\n"),
        (("Mailing-List: contact nyheder-help@example.dk; run by ezmlm",), "text/plain", b"x\r\n"),
        (("Delivered-To: mailing list nyheder@example.dk",), "text/plain", b"x\r\n"),
        (("X-Mailman-Version: 2.1.39",), "text/plain", b"x\r\n"),
        (("X-Auto-Response-Suppress: OOF",), "text/plain", b"x\r\n"),
        (("X-Failed-Recipients: jens@example.dk",), "text/plain", b"x\r\n"),
        (("Feedback-Type: abuse",), "text/plain", b"x\r\n"),
        (("Subject: Læsekvittering: Pas",), "text/plain", b"x\r\n"),
    ],
)
def test_senders_receipts_reports_and_lists_get_no_auto_reply(headers: tuple[str, ...], ctype: str, body: bytes) -> None:
    m = mail("From: Jens <jens@example.dk>", *headers, body=body, ctype=ctype)
    assert machine_reason(m) is not None


def test_senders_a_subject_starting_with_read_alone_is_a_person() -> None:
    assert machine_reason(mail("From: Jens <jens@example.dk>", "Subject: Read: min ansøgning")) is None


@pytest.mark.parametrize(
    ("label", "codec"),
    [("gb2312", "gb18030"), ("GBK", "gb18030"), ("x-mac-cyrillic", "mac-cyrillic"), ("x-mac-ce", "mac-latin2"),
     ("ks_c_5601-1987", "cp949"), ("windows-874", "cp874"), ("iso-8859-8-i", "iso8859-8"), ("utf-8\0", None),
     ("utf-8\0junk", None), ("base64", None), ("idna", None), ("undefined", None), ('"utf-8"', "utf-8"),
     ("x-klingon", None), ("", None), ("a" * 200, None)],
)
def test_senders_charset_labels_map_to_supersets_or_a_safe_fallback(label: str, codec: str | None) -> None:
    assert codec_for(label) == codec


def test_senders_bogus_charsets_never_raise() -> None:
    text = "Flytning til Århus".encode("cp1252")
    for label in ("utf-8\0", "idna", "undefined", "unicode_escape", "utf-7", "\x00\x01", "cp-850"):
        assert decode_text(text, label, []).startswith("Flytning til")
    raw = b'From: j@example.dk\r\nContent-Type: text/plain; charset="utf-8\x00"\r\n\r\nHej S\xc3\xb8ren\r\n'
    assert parse_mail(raw).text == "Hej Søren"


def test_senders_reply_subject_carries_no_cpr_number() -> None:
    parsed = parse_mail(b"From: Jens <jens@example.dk>\r\nSubject: Flytning CPR 131285-4821\r\nMessage-ID: <c@x.dk>"
                        b"\r\n\r\nJeg flytter.\r\n")  # fmt: skip
    msg = auto_reply(parsed, received_at=datetime(2027, 1, 4, 8, tzinfo=CPH),
                     deadline=datetime(2027, 1, 4, 10, tzinfo=CPH), tenant_name="Kommunen", from_addr=FROM)  # fmt: skip
    assert msg["Subject"] == "Re: Flytning CPR [CPR]" and b"131285" not in wire_bytes(msg)


def test_senders_utf8_reply_reaches_an_smtputf8_server(smtp_sink) -> None:
    m = parse_mail("From: Søren <søren@bøf.dk>\r\nSubject: Hej\r\nMessage-ID: <u2@x.dk>\r\n\r\nHej\r\n".encode())
    msg = auto_reply(m, received_at=datetime(2027, 1, 4, 8, tzinfo=CPH), deadline=datetime(2027, 1, 4, 10, tzinfo=CPH),
                     tenant_name="Kommunen", from_addr=FROM)  # fmt: skip
    again = email.message_from_bytes(wire_bytes(msg), policy=policy.default)  # as the outbox stores it
    SmtpSender(smtp_sink.host, smtp_sink.port, timeout=5).send(again)  # type: ignore[arg-type]
    (got,) = smtp_sink.received
    assert got.rcpt_tos == ["søren@bøf.dk"]
    assert "To: søren@bøf.dk".encode() in got.data
