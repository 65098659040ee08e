"""Tests for connectors.email.inbound.parse_mail: bodies, charsets, quotes, attachments, bad mail."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.email.inbound import (
    GENERATED_ID_DOMAIN,
    InboundMail,
    clean_header,
    parse_mail,
    sanitize_filename,
    strip_quotes_and_signature,
)

pytestmark = pytest.mark.unit

CRLF = b"\r\n"


def raw_mail(body: bytes, *headers: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    base = [
        "From: Jens Hansen <jens@example.dk>",
        "To: kontakt@kommune.dk",
        "Subject: Pas",
        "Date: Mon, 04 Jan 2027 08:12:00 +0100",
        "Message-ID: <m1@example.dk>",
    ]
    names = {h.split(":", 1)[0].lower() for h in headers}
    lines = [h for h in base if h.split(":", 1)[0].lower() not in names] + list(headers)
    if "content-type" not in names:
        lines.append(f"Content-Type: {content_type}")
    return CRLF.join(line.encode("utf-8") for line in lines) + CRLF + CRLF + body


# --- headers ---------------------------------------------------------------------------------


def test_inbound_reads_the_basic_headers() -> None:
    mail = parse_mail(
        raw_mail(
            b"Hvad koster et pas?\r\n",
            "From: =?utf-8?q?S=C3=B8ren_=C3=98stergaard?= <Soren@Example.DK>",
            "To: Kontakt <kontakt@kommune.dk>, post@kommune.dk",
            "Cc: anne@example.dk",
            "Subject: =?iso-8859-1?q?Sp=F8rgsm=E5l_om_pas?=",
            "In-Reply-To: <parent@kommune.dk>",
            "References: <root@kommune.dk>\r\n <parent@kommune.dk>",
        )
    )
    assert mail.message_id == "<m1@example.dk>"
    assert not mail.message_id_generated
    assert mail.from_addr == "soren@example.dk"
    assert mail.from_name == "Søren Østergaard"
    assert mail.to == ("kontakt@kommune.dk", "post@kommune.dk")
    assert mail.cc == ("anne@example.dk",)
    assert mail.subject == "Spørgsmål om pas"
    assert mail.in_reply_to == "<parent@kommune.dk>"
    assert mail.references == ("<root@kommune.dk>", "<parent@kommune.dk>")
    assert mail.date == datetime(2027, 1, 4, 8, 12, tzinfo=timezone(timedelta(hours=1)))
    assert mail.text == "Hvad koster et pas?"
    assert mail.defects == ()
    assert isinstance(mail, InboundMail)


def test_inbound_missing_message_id_gets_a_stable_generated_one() -> None:
    raw = b"From: jens@example.dk\r\nSubject: Hej\r\n\r\nTekst\r\n"
    first, again = parse_mail(raw), parse_mail(raw)
    assert first.message_id_generated
    assert first.message_id == again.message_id
    assert first.message_id.endswith(f"@{GENERATED_ID_DOMAIN}>")
    assert parse_mail(raw + b"x").message_id != first.message_id
    assert any("Message-ID" in d for d in first.defects)


@pytest.mark.parametrize(
    "header",
    [
        "Subject: =?utf-8?q?Hej=0D=0ABcc:_evil@example.com?=",
        "Subject: =?utf-8?b?" + base64.b64encode(b"Hej\r\nX-Injected: yes").decode() + "?=",
        "Subject: Hej\x00\x1b[31m\x0bX",
    ],
)
def test_inbound_header_values_never_contain_line_breaks(header: str) -> None:
    mail = parse_mail(raw_mail(b"Tekst\r\n", header))
    assert mail.subject.startswith("Hej")
    for name, value in mail.headers:
        assert not any(ch in value for ch in "\r\n\x00\x0b"), (name, value)
    assert "\n" not in mail.subject and "\r" not in mail.subject


@pytest.mark.parametrize(
    "from_header",
    [
        "From: =?utf-8?q?Jens=0D=0ABcc:_victim@example.com?= <jens@example.dk>",
        "From: =?utf-8?q?victim@example.com?= <jens@example.dk>",
        'From: "victim@example.com" <jens@example.dk>',
    ],
)
def test_inbound_forged_display_name_never_changes_the_sender(from_header: str) -> None:
    mail = parse_mail(raw_mail(b"Tekst\r\n", from_header))
    assert mail.from_addr == "jens@example.dk"


def test_inbound_unreadable_date_is_none_with_a_defect() -> None:
    mail = parse_mail(raw_mail(b"Tekst\r\n", "Date: i går ved middagstid"))
    assert mail.date is None
    assert any("Date" in d for d in mail.defects)


def test_inbound_date_without_zone_is_read_as_utc() -> None:
    mail = parse_mail(raw_mail(b"Tekst\r\n", "Date: Mon, 04 Jan 2027 08:12:00 -0000"))
    assert mail.date == datetime(2027, 1, 4, 8, 12, tzinfo=UTC)


# --- bodies and charsets -----------------------------------------------------------------------

ALTERNATIVE = b"""From: Jens <jens@example.dk>
Subject: Affald
Message-ID: <alt@example.dk>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<p>HTML-versionen <b>skal ikke</b> bruges</p>
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hvorn=C3=A5r bliver storskrald hentet p=C3=A5 Amager?
--b1--
""".replace(b"\n", b"\r\n")


def test_inbound_prefers_text_plain_in_multipart_alternative() -> None:
    mail = parse_mail(ALTERNATIVE)
    assert mail.text == "Hvornår bliver storskrald hentet på Amager?"
    assert mail.content_type == "multipart/alternative"
    assert mail.attachments == ()


def test_inbound_html_only_becomes_text_without_script_and_style() -> None:
    html = (
        "<html><head><title>Titel</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><p>Hej kommune,</p><p>Hvornår åbner <b>Borgerservice</b>?</p>"
        "<br>Tak</body></html>"
    )
    mail = parse_mail(raw_mail(html.encode("utf-8"), content_type="text/html; charset=utf-8"))
    assert "alert" not in mail.text and "color" not in mail.text and "Titel" not in mail.text
    assert "Hej kommune," in mail.text
    assert "Borgerservice" in mail.text and "Hvornår åbner" in mail.text


def test_inbound_html_blockquote_is_treated_as_a_quote() -> None:
    html = (
        "<div>Ja, den er på Amager.</div><div>Den man. 4. jan. 2027 kl. 10.00 skrev Kommune:</div>"
        "<blockquote><p>Hvor ligger ejendommen?</p></blockquote>"
    )
    mail = parse_mail(raw_mail(html.encode(), content_type="text/html; charset=utf-8"))
    assert "> Hvor ligger ejendommen?" in mail.text
    assert mail.body_for_understanding == "Ja, den er på Amager."


@pytest.mark.parametrize(
    ("charset", "payload", "expected"),
    [
        ("iso-8859-1", "Flytning til Århus og Søborg".encode("latin-1"), "Flytning til Århus og Søborg"),
        ("windows-1252", "Prisen er 100 € – “ca.”".encode("cp1252"), "Prisen er 100 € – “ca.”"),
        # Outlook labels cp1252 text as latin-1; read it the way browsers do.
        ("iso-8859-1", "Prisen er 100 € – ok".encode("cp1252"), "Prisen er 100 € – ok"),
        ("iso-8859-15", "Beløb i €".encode("iso-8859-15"), "Beløb i €"),
        ("utf-8", "Æblegrød på Ærø".encode(), "Æblegrød på Ærø"),
        ("us-ascii", "Flytning til Århus".encode(), "Flytning til Århus"),  # a lie: it is UTF-8
    ],
)
def test_inbound_decodes_danish_text_in_any_charset(charset: str, payload: bytes, expected: str) -> None:
    mail = parse_mail(raw_mail(payload + CRLF, content_type=f"text/plain; charset={charset}"))
    assert mail.text == expected


def test_inbound_unknown_charset_decodes_with_replacement() -> None:
    mail = parse_mail(raw_mail("Hej Søren".encode() + b" \xff\xfe\r\n", content_type="text/plain; charset=x-klingon"))
    assert mail.text.startswith("Hej S")
    assert any("x-klingon" in d for d in mail.defects)


def test_inbound_raw_8bit_headers_are_decoded() -> None:
    raw = "From: Søren <soren@example.dk>\r\nSubject: Flytning på Nørrebro\r\n\r\nTekst\r\n".encode()
    mail = parse_mail(raw)
    assert mail.subject == "Flytning på Nørrebro"
    assert mail.from_name == "Søren"


# --- quoted replies and signatures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Tak, det hjalp.\n\nDen man. 4. jan. 2027 kl. 10.00 skrev Kontaktcenter <kontakt@kommune.dk>:\n"
            "> Du kan bestille tid på borger.dk\n> Venlig hilsen",
            "Tak, det hjalp.",
        ),
        (
            "Thanks.\n\nOn Mon, 4 Jan 2027 at 10:00, Kontakt <kontakt@kommune.dk> wrote:\n> Hej",
            "Thanks.",
        ),
        (
            "Tak.\n\nOn Mon, 4 Jan 2027 at 10:00, Kontaktcenter Københavns Kommune <kontakt@kommune.dk>\n"
            "wrote:\n> Hej",
            "Tak.",
        ),
        (
            "Hermed tegningerne.\n\n-----Oprindelig meddelelse-----\nFra: Kontakt\nSendt: 4. januar 2027\n"
            "Emne: Byggesag\n\nSend venligst tegningerne.",
            "Hermed tegningerne.",
        ),
        (
            "Se vedhæftede.\n\n________________________________\nFra: Kontakt <kontakt@kommune.dk>\n"
            "Sendt: 4. januar 2027 10:00\nTil: Jens\nEmne: Sag 123\n\nHej Jens",
            "Se vedhæftede.",
        ),
        (
            "Se vedhæftede.\n\n*From:* Kontakt <kontakt@kommune.dk>\n*Sent:* Monday\n*To:* Jens\n\nHej",
            "Se vedhæftede.",
        ),
        ("> Hvad koster det?\nDet koster 100 kr.\n> Og hvornår?\nI morgen.", "Det koster 100 kr.\nI morgen."),
        ("Hvornår tømmes skraldet?\n\nMed venlig hilsen\nJens Hansen\nNørregade 1", "Hvornår tømmes skraldet?"),
        ("Hvornår tømmes skraldet?\n\nMvh Jens", "Hvornår tømmes skraldet?"),
        ("Hvornår tømmes skraldet?\n\nVenlig hilsen,\nJens", "Hvornår tømmes skraldet?"),
        ("Hvornår tømmes skraldet?\n\nSendt fra min iPhone", "Hvornår tømmes skraldet?"),
        ("Hvornår tømmes skraldet?\n-- \nJens Hansen\nTlf. 12345678", "Hvornår tømmes skraldet?"),
        (
            # A sign-off far from the end is a sentence, not a signature.
            "Hilsen fra os alle, vi har et spørgsmål.\nA\nB\nC\nD\nE\nF\nG\nH",
            "Hilsen fra os alle, vi har et spørgsmål.\nA\nB\nC\nD\nE\nF\nG\nH",
        ),
        ("Mvh\nJens", "Mvh\nJens"),  # nothing else left: keep the text rather than nothing
    ],
)
def test_inbound_strips_quotes_and_signatures(text: str, expected: str) -> None:
    assert strip_quotes_and_signature(text) == expected


def test_inbound_body_for_understanding_keeps_forwarded_content() -> None:
    text = "Til orientering.\n\n---------- Videresendt meddelelse ---------\nFra: Naboen\n\nDer er rotter i gården."
    assert "rotter i gården" in strip_quotes_and_signature(text)


def test_inbound_full_reply_mail_keeps_text_and_strips_for_understanding() -> None:
    body = (
        "Vi har fået rotter i kælderen igen.\r\n\r\nMed venlig hilsen\r\nJens Hansen\r\n\r\n"
        "Den fre. 1. jan. 2027 kl. 12.00 skrev Kommune <kontakt@kommune.dk>:\r\n> Tak for din mail.\r\n"
    ).encode()
    mail = parse_mail(raw_mail(body))
    assert "> Tak for din mail." in mail.text
    assert mail.body_for_understanding == "Vi har fået rotter i kælderen igen."


# --- attachments ------------------------------------------------------------------------------

PDF = b"%PDF-1.4 fake tegning"


def mixed_with_attachments(*parts: bytes) -> bytes:
    head = (
        b"From: jens@example.dk\r\nSubject: Tegninger\r\nMessage-ID: <att@example.dk>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
        b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHermed tegningerne.\r\n"
    )
    return head + b"".join(b"--zz\r\n" + p + b"\r\n" for p in parts) + b"--zz--\r\n"


def attachment_part(filename_header: str, payload: bytes = PDF, ctype: str = "application/pdf") -> bytes:
    return (
        f"Content-Type: {ctype}\r\nContent-Disposition: attachment; {filename_header}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(payload)


def test_inbound_records_attachments_without_keeping_them() -> None:
    mail = parse_mail(mixed_with_attachments(attachment_part('filename="tegning.pdf"')))
    assert mail.text == "Hermed tegningerne."
    (att,) = mail.attachments
    assert att.filename == "tegning.pdf"
    assert att.content_type == "application/pdf"
    assert att.size == len(PDF)
    assert att.sha256 == hashlib.sha256(PDF).hexdigest()
    assert not hasattr(att, "data")


@pytest.mark.parametrize(
    ("filename_header", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ('filename="..\\\\..\\\\windows\\\\system32\\\\evil.dll"', "evil.dll"),
        ('filename="..."', "attachment"),
        ('filename="a..b....pdf"', "a.b.pdf"),
        ("filename*=utf-8''tegning%0D%0Aknap%00.pdf", "tegningknap.pdf"),
        ("filename*=utf-8''faktura%E2%80%AEfdp.exe", "fakturafdp.exe"),  # right-to-left override
        ("filename*=utf-8''sk%C3%B8de.pdf", "skøde.pdf"),
        ('filename="con.txt"', "_con.txt"),
        ('filename=".bashrc"', "bashrc"),
        ('filename=""', "attachment"),
    ],
)
def test_inbound_attachment_names_are_sanitised(filename_header: str, expected: str) -> None:
    mail = parse_mail(mixed_with_attachments(attachment_part(filename_header)))
    assert [a.filename for a in mail.attachments] == [expected]


def test_inbound_attachment_name_length_is_limited_and_extension_kept() -> None:
    name = sanitize_filename("a" * 500 + ".pdf")
    assert len(name) == 120 and name.endswith(".pdf")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_inbound_sanitize_filename_is_always_a_safe_last_path_component(name: str) -> None:
    clean = sanitize_filename(name)
    assert clean and len(clean) <= 120
    assert "/" not in clean and "\\" not in clean and ".." not in clean
    assert not clean.startswith(".")
    assert all(ch.isprintable() for ch in clean)


# --- malformed and huge mail --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x81\x82",
        b"Subject: nothing else",
        b"no headers at all, just Danish text: Hvorn\xe5r?\r\n",
        (
            b'Content-Type: multipart/mixed; boundary="missing"\r\nSubject: Broken\r\n\r\n'
            b"Rotter i k\xc3\xa6lderen\r\n--wrong\r\nContent-Type: text/plain\r\n\r\nx\r\n"
        ),
        b"Content-Type: multipart/alternative\r\n\r\nNo boundary parameter: Hvad koster et pas?\r\n",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n",
        b"From: <<<@@@>>>, ,,\r\nTo: ;;;\r\nMessage-ID: not-an-id\r\nReferences: <a@b> junk <c@d\r\n\r\nText\r\n",
        b"Subject: " + b"x" * 100_000 + b"\r\n\r\nbody\r\n",
    ],
)
def test_inbound_malformed_mail_never_raises(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert isinstance(mail, InboundMail)
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    for _, value in mail.headers:
        assert "\n" not in value and "\r" not in value


def test_inbound_broken_boundary_keeps_the_text() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="missing"\r\nSubject: Broken\r\n\r\n'
        b"--missing\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRotter i k\xc3\xa6lderen\r\n"
    )  # the closing boundary never comes
    mail = parse_mail(raw)
    assert mail.text == "Rotter i kælderen"
    assert mail.defects  # the missing end boundary is listed


@pytest.mark.parametrize("value", ["text", 123, None, ["From: x"]])
def test_inbound_rejects_non_bytes(value: object) -> None:
    with pytest.raises(TypeError, match="bytes"):
        parse_mail(value)  # type: ignore[arg-type]


@pytest.mark.slow
def test_inbound_20_mb_text_body_parses_and_keeps_its_text() -> None:
    body = b"Hvorn\xc3\xa5r kommer skraldebilen?\r\n" + (b"x" * 76 + b"\r\n") * (20 * 1024 * 1024 // 78)
    mail = parse_mail(raw_mail(body))
    assert mail.text.startswith("Hvornår kommer skraldebilen?")
    assert mail.body_for_understanding.startswith("Hvornår kommer skraldebilen?")
    assert len(mail.body_for_understanding) <= 20_000
    assert mail.size > 20 * 1024 * 1024 - 100
    assert any("cut" in d for d in mail.defects)


@pytest.mark.slow
def test_inbound_20_mb_attachment_is_recorded() -> None:
    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    mail = parse_mail(mixed_with_attachments(attachment_part('filename="scan.tif"', payload, "image/tiff")))
    assert mail.text == "Hermed tegningerne."
    (att,) = mail.attachments
    assert att.size == len(payload)
    assert att.sha256 == hashlib.sha256(payload).hexdigest()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2_000))
def test_inbound_random_bytes_never_raise(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert all("\n" not in v and "\r" not in v for _, v in mail.headers)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_inbound_clean_header_is_one_line(value: str) -> None:
    cleaned = clean_header(value)
    assert "\n" not in cleaned and "\r" not in cleaned
    cleaned.encode("utf-8")  # no lone surrogates
