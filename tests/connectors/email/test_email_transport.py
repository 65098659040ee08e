"""Tests for connectors.email.transport against real servers on loopback: aiosmtpd receives our
auto-replies, mail_devel (SMTP + IMAP) holds the mailbox the poller reads."""

from __future__ import annotations

import email
import smtplib
import socket
from datetime import datetime
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest

from bot.errors import ImapUnavailable, MailAuthFailed, SmtpUnavailable
from bot.routing.calendar import COPENHAGEN, default_schedule
from connectors.email.inbound import automatic_reason, parse_mail
from connectors.email.outbound import agent_reply, auto_reply, reply_deadline
from connectors.email.transport import ImapPoller, SmtpSender

if TYPE_CHECKING:  # fixtures' types; conftest is not imported at run time
    from conftest import MailDevel, SmtpSink

pytestmark = pytest.mark.integration

CITIZEN = (
    "From: Søren Østergaard <soren@example.dk>\r\n"
    "To: kontakt@kommune.dk\r\n"
    "Subject: =?utf-8?q?Sp=C3=B8rgsm=C3=A5l_om_pas=0D=0ABcc:_victim@example.com?=\r\n"
    "Message-ID: <citizen-1@example.dk>\r\n"
    "Date: Fri, 02 Jan 2026 17:30:00 +0100\r\n"
    "\r\n"
    "Hvad koster et pas?\r\n\r\nMvh\r\nSøren\r\n"
).encode()


def test_transport_auto_reply_arrives_with_its_headers(smtp_sink: SmtpSink) -> None:
    mail = parse_mail(CITIZEN)
    received_at = datetime(2026, 1, 2, 17, 30, tzinfo=COPENHAGEN)
    msg = auto_reply(
        mail,
        received_at=received_at,
        deadline=reply_deadline(received_at, default_schedule()),
        tenant_name="Københavns Kommune",
        from_addr="kontakt@kommune.dk",
    )
    SmtpSender(smtp_sink.host, smtp_sink.port, timeout=5).send(msg)

    (got,) = smtp_sink.received
    assert got.mail_from == "<>"  # null envelope sender for automatic mail (RFC 3834 §3.3)
    assert got.rcpt_tos == ["soren@example.dk"]  # never the Bcc smuggled into the subject
    sent = email.message_from_bytes(got.data, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["In-Reply-To"] == "<citizen-1@example.dk>"
    assert sent["References"] == "<citizen-1@example.dk>"
    assert sent["Subject"] == "Re: Spørgsmål om pas Bcc: [E-MAIL]"  # one line; the address masked
    assert sent["Bcc"] is None
    assert sent["Message-ID"] == msg["Message-ID"] and sent["Message-ID"].endswith("@kommune.dk>")
    assert sent["From"].addresses[0].display_name == "Københavns Kommune"
    text = str(sent.get_content()).replace("\r\n", "\n")
    assert "Du får svar senest mandag den 5. januar kl. 09.30." in text
    # Our own auto-reply, if it ever came back to us, is recognised as automatic.
    assert automatic_reason(parse_mail(got.data)) == "Auto-Submitted: auto-replied"


def test_transport_agent_reply_uses_the_from_address_as_envelope_sender(smtp_sink: SmtpSink) -> None:
    msg = agent_reply(
        parse_mail(CITIZEN), body="Et pas koster 688 kr.", agent_name="Mette", tenant_name="Københavns Kommune",
        from_addr="kontakt@kommune.dk", sent_at=datetime(2026, 1, 5, 9, 0, tzinfo=COPENHAGEN),
    )  # fmt: skip
    SmtpSender(smtp_sink.host, smtp_sink.port, timeout=5).send(msg)
    (got,) = smtp_sink.received
    assert got.mail_from == "kontakt@kommune.dk"
    assert b"Auto-Submitted" not in got.data


def test_transport_closed_port_raises_smtp_unavailable(closed_port: int) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "kontakt@kommune.dk", "jens@example.dk", "Hej"
    msg.set_content("Hej")
    with pytest.raises(SmtpUnavailable, match=f"127.0.0.1:{closed_port}.*retry"):
        SmtpSender("127.0.0.1", closed_port, timeout=2).send(msg)


def test_transport_repr_hides_the_password() -> None:
    sender = SmtpSender("smtp.example.dk", 587, username="bot", password="hemmelig", starttls=True)
    poller = ImapPoller("imap.example.dk", 993, "bot", "hemmelig", ssl=True)
    assert "hemmelig" not in repr(sender) and "hemmelig" not in repr(poller)


def _deliver(server: MailDevel, message_id: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "Jens Hansen <jens@example.dk>"
    msg["To"] = server.user
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content("Hvornår bliver storskrald hentet på Amager?")
    with smtplib.SMTP(server.host, server.smtp_port, timeout=5) as smtp:
        smtp.send_message(msg)


def test_transport_imap_fetches_until_acked(mail_devel: MailDevel) -> None:
    _deliver(mail_devel, "<storskrald-1@example.dk>", "Storskrald")
    with ImapPoller(mail_devel.host, mail_devel.imap_port, mail_devel.user, mail_devel.password, timeout=5) as poller:
        first = poller.fetch_new()
        assert len(first) == 1
        uid, raw = first[0]
        mail = parse_mail(raw)
        assert (mail.message_id, mail.subject) == ("<storskrald-1@example.dk>", "Storskrald")
        assert mail.text == "Hvornår bliver storskrald hentet på Amager?"

        assert poller.fetch_new() == first  # not acked: the same mail again

    # A new connection (as after a crash between fetch and ack) still sees it.
    with ImapPoller(mail_devel.host, mail_devel.imap_port, mail_devel.user, mail_devel.password, timeout=5) as poller:
        assert poller.fetch_new() == first
        poller.ack(uid)
        assert poller.fetch_new() == []

        _deliver(mail_devel, "<storskrald-2@example.dk>", "Storskrald igen")
        (second,) = poller.fetch_new()
        assert second[0] != uid
        assert parse_mail(second[1]).message_id == "<storskrald-2@example.dk>"


def test_transport_imap_wrong_password_is_an_auth_error(mail_devel: MailDevel) -> None:
    with pytest.raises(MailAuthFailed, match="login"):
        ImapPoller(mail_devel.host, mail_devel.imap_port, mail_devel.user, "forkert", timeout=5).fetch_new()


def test_transport_imap_closed_port_raises_imap_unavailable(closed_port: int) -> None:
    with pytest.raises(ImapUnavailable, match="fetched on the next poll"):
        ImapPoller("127.0.0.1", closed_port, "test@example.org", "test", timeout=2).fetch_new()


def test_transport_imap_dropped_connection_raises_and_reconnects(mail_devel: MailDevel) -> None:
    _deliver(mail_devel, "<drop-1@example.dk>", "Forbindelse")
    poller = ImapPoller(mail_devel.host, mail_devel.imap_port, mail_devel.user, mail_devel.password, timeout=5)
    try:
        (fetched,) = poller.fetch_new()
        assert poller._conn is not None
        poller._conn.sock.shutdown(socket.SHUT_RDWR)  # the network drops the connection
        with pytest.raises(ImapUnavailable):
            poller.fetch_new()
        assert poller.fetch_new() == [fetched]  # reconnected; nothing was lost
    finally:
        poller.close()
