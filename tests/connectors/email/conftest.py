"""Fixtures for the e-mail channel: real mail servers on loopback.

`smtp_sink` is an aiosmtpd Controller that records every envelope it receives. `mail_devel` is
the mail_devel development server (SMTP and IMAP in one process) started as a subprocess on
free ports. Both run on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd's Controller cannot use port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture
def closed_port() -> int:
    return free_port()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)


class _Recorder:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.sink.received.append(
            Received(
                mail_from=envelope.mail_from,  # type: ignore[attr-defined]
                rcpt_tos=list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                data=envelope.original_content or envelope.content,  # type: ignore[attr-defined]
            )
        )
        return "250 Message accepted for delivery"


def _sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", free_port())
    # SMTPUTF8 as real servers offer it, so replies to UTF-8 addresses (RFC 6531/6532) can be sent.
    controller = Controller(_Recorder(sink), hostname=sink.host, port=sink.port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    yield from _sink()


@pytest.fixture(scope="module")
def smtp_sink_module() -> Iterator[SmtpSink]:
    yield from _sink()


@dataclass(frozen=True)
class MailDevel:
    host: str
    smtp_port: int
    imap_port: int
    user: str
    password: str


@pytest.fixture
def mail_devel(tmp_path: Path) -> Iterator[MailDevel]:
    exe = shutil.which("mail_devel", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("mail_devel is not installed in this virtualenv; pip install -e '.[test]'")
    server = MailDevel("127.0.0.1", free_port(), free_port(), "test@example.org", "test")
    log = (tmp_path / "mail_devel.log").open("wb")
    proc = subprocess.Popen(
        [
            exe, "--host", server.host,
            "--imap-port", str(server.imap_port), "--smtp-port", str(server.smtp_port),
            "--no-http", "--user", server.user, "--password", server.password,
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(server.smtp_port)
        wait_for_port(server.imap_port)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
