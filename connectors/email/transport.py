"""Mail transport: an SMTP sender and an IMAP poller, both blocking and stdlib-only.

Neither retries on its own. `SmtpSender.send` either hands the message to the server or raises:
`SmtpUnavailable` (transient: connection refused, timeout, 4xx; keep the message in the outbox
and retry), `SmtpRejected` (permanent 5xx; do not retry as is) or `MailAuthFailed` (fix the
settings). The persistent outbox with retries lives elsewhere.

`ImapPoller` is at-least-once: `fetch_new` reads unseen mail with BODY.PEEK (which does not set
\\Seen), and only `ack(uid)` marks a message seen. If the process or connection dies between
fetch and ack, the mail is fetched again on the next poll; duplicates are recognised upstream
by Message-ID.
"""

from __future__ import annotations

import imaplib
import re
import smtplib
import ssl as ssl_module
from email.message import EmailMessage
from types import TracebackType

from pydantic import SecretStr

from bot.errors import ImapUnavailable, MailAuthFailed, SmtpRejected, SmtpUnavailable

__all__ = ["ImapPoller", "SmtpSender"]


def _secret(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SmtpSender:
    """Send one message per connection.

    >>> SmtpSender("127.0.0.1", 2525)
    SmtpSender(host='127.0.0.1', port=2525, username=None, starttls=False, ssl=False)
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | SecretStr | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
        *,
        ssl: bool = False,
        local_hostname: str | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("SmtpSender: choose starttls (port 587) or ssl (port 465), not both")
        if (username is None) != (password is None):
            raise ValueError("SmtpSender: give both username and password, or neither")
        self.host = host
        self.port = port
        self.username = username
        self._password = SecretStr(_secret(password)) if password is not None else None
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return (
            f"SmtpSender(host={self.host!r}, port={self.port}, username={self.username!r},"
            f" starttls={self.starttls}, ssl={self.ssl})"
        )

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        if self.ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._ssl_context or ssl_module.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)

    def send(self, msg: EmailMessage, *, envelope_from: str | None = None) -> None:
        """Hand `msg` to the server for the recipients in To, Cc and Bcc (Bcc is not sent).

        The envelope sender is `envelope_from` if given. Otherwise it is the null sender "<>" for
        automatic mail (Auto-Submitted other than "no", RFC 3834 §3.3, so that bounces of an
        auto-reply go nowhere) and the From address for everything else.
        """
        if envelope_from is None:
            auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
            envelope_from = "" if auto and auto != "no" else None
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=self._ssl_context or ssl_module.create_default_context())
                if self.username is not None and self._password is not None:
                    smtp.login(self.username, self._password.get_secret_value())
                refused = smtp.send_message(msg, from_addr=envelope_from)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailAuthFailed(
                f"{self._where} refused the login for {self.username!r} ({exc.smtp_code});"
                " check the SMTP user name and password in the settings"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpRejected(f"{self._where} does not support what the settings ask for: {exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise SmtpRejected(
                    f"{self._where} refused every recipient ({_codes(codes)}); the address is probably wrong"
                ) from None
            raise SmtpUnavailable(
                f"{self._where} deferred the recipients ({_codes(codes)}); retry later"
            ) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            if exc.smtp_code >= 500:
                raise SmtpRejected(
                    f"{self._where} refused the message ({exc.smtp_code} {_text(exc.smtp_error)})"
                ) from None
            raise SmtpUnavailable(
                f"{self._where} failed temporarily ({exc.smtp_code} {_text(exc.smtp_error)}); retry later"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, DNS, dropped, TLS
            raise SmtpUnavailable(
                f"{self._where} is unavailable ({type(exc).__name__}: {exc});"
                " keep the message and retry later"
            ) from exc
        if refused:
            codes = [code for code, _ in refused.values()]
            raise SmtpRejected(
                f"{self._where} accepted the message for some recipients but refused {len(refused)}"
                f" ({_codes(codes)}); do not resend it to the accepted ones"
            )


def _codes(codes: list[int]) -> str:
    return ", ".join(str(c) for c in sorted(set(codes)))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_UID = re.compile(rb"\bUID (\d+)\b")


class ImapPoller:
    """Poll one mailbox for unseen mail; mark a message seen only when `ack` is called.

    Keeps one connection open between calls and reconnects after a failure. Not thread-safe:
    use one poller per mailbox and thread. Use it as a context manager or call `close()`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str | SecretStr,
        mailbox: str = "INBOX",
        ssl: bool = False,
        *,
        timeout: float = 30.0,
        batch_size: int = 50,
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"ImapPoller: batch_size must be at least 1, got {batch_size}")
        self.host = host
        self.port = port
        self.user = user
        self._password = SecretStr(_secret(password) or "")
        self.mailbox = mailbox
        self.ssl = ssl
        self.timeout = timeout
        self.batch_size = batch_size
        self._ssl_context = ssl_context
        self._conn: imaplib.IMAP4 | None = None
        self._uidvalidity: bytes | None = None
        self._fetched_uidvalidity: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"ImapPoller(host={self.host!r}, port={self.port}, user={self.user!r},"
            f" mailbox={self.mailbox!r}, ssl={self.ssl})"
        )

    def __enter__(self) -> ImapPoller:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"IMAP server {self.host}:{self.port} (mailbox {self.mailbox!r})"

    def _mailbox_arg(self) -> str:
        name = self.mailbox.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}"'

    def _connection(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        try:
            if self.ssl:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host,
                    self.port,
                    ssl_context=self._ssl_context or ssl_module.create_default_context(),
                    timeout=self.timeout,
                )
            else:
                conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapUnavailable(
                f"{self._where} is unavailable ({type(exc).__name__}: {exc}); un-acked mail stays"
                " unseen and is fetched on the next poll"
            ) from exc
        try:
            conn.login(self.user, self._password.get_secret_value())
        except imaplib.IMAP4.abort as exc:
            _shutdown(conn)
            raise ImapUnavailable(f"{self._where} dropped the connection at login ({exc})") from exc
        except imaplib.IMAP4.error:
            _shutdown(conn)
            raise MailAuthFailed(
                f"{self._where} refused the login for {self.user!r}; check the IMAP user and password"
            ) from None
        except OSError as exc:
            _shutdown(conn)
            raise ImapUnavailable(f"{self._where} failed at login ({type(exc).__name__}: {exc})") from exc
        try:
            typ, data = conn.select(self._mailbox_arg(), readonly=False)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"SELECT answered {typ} {data!r}")
            _, validity = conn.response("UIDVALIDITY")
            self._uidvalidity = validity[0] if validity and validity[0] else None
        except (OSError, imaplib.IMAP4.error) as exc:
            _shutdown(conn)
            raise ImapUnavailable(f"{self._where}: cannot select the mailbox ({exc})") from exc
        self._conn = conn
        return conn

    def _fail(self, action: str, exc: BaseException) -> ImapUnavailable:
        """Drop the connection (the next call reconnects) and describe the failure."""
        if self._conn is not None:
            _shutdown(self._conn)
        self._conn = None
        return ImapUnavailable(
            f"{self._where}: {action} failed ({type(exc).__name__}: {exc}); un-acked mail stays"
            " unseen and is fetched again on the next poll"
        )

    def fetch_new(self) -> list[tuple[int, bytes]]:
        """Up to `batch_size` unseen messages as (uid, raw bytes), oldest first. Not marked seen."""
        conn = self._connection()
        try:
            conn.noop()  # lets the server report mail that arrived since the last poll
            typ, data = conn.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]
            if typ != "OK":
                raise imaplib.IMAP4.error(f"UID SEARCH answered {typ}")
            uids = sorted(int(u) for u in (data[0] or b"").split())[: self.batch_size]
            self._fetched_uidvalidity = self._uidvalidity
            found: list[tuple[int, bytes]] = []
            for uid in uids:
                typ, parts = conn.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
                if typ != "OK":
                    raise imaplib.IMAP4.error(f"UID FETCH {uid} answered {typ}")
                raw = _fetched_body(parts, uid)
                if raw is not None:  # None: expunged meanwhile
                    found.append((uid, raw))
            return found
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._fail("fetching new mail", exc) from exc

    def ack(self, uid: int) -> None:
        """Mark message `uid` seen, after it has been stored safely upstream."""
        conn = self._connection()
        if self._fetched_uidvalidity is not None and self._uidvalidity != self._fetched_uidvalidity:
            raise ImapUnavailable(
                f"{self._where}: UIDVALIDITY changed since the fetch, so uid {uid} may name another"
                " message now; not acked. Fetch again (duplicates are recognised by Message-ID)"
            )
        try:
            typ, data = conn.uid("STORE", str(int(uid)), "+FLAGS.SILENT", "(\\Seen)")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"UID STORE answered {typ} {data!r}")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self._fail(f"acknowledging uid {uid}", exc) from exc

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except (OSError, imaplib.IMAP4.error):
                pass
            _shutdown(conn)


def _fetched_body(parts: list[object], uid: int) -> bytes | None:
    for item in parts:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            match = _UID.search(item[0]) if isinstance(item[0], bytes) else None
            if match is None or int(match.group(1)) == uid:
                return item[1]
    return None


def _shutdown(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        try:
            conn.shutdown()
        except OSError:
            pass
