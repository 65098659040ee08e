"""Helpers for the fault tests (issue 6 §2): the real server as a subprocess that a test can
`kill -9` and start again, and an SMTP server on loopback that records what it receives.

    smtp = SmtpRecorder.start()
    server = ServerProcess.start(env, log_path)    # python -m bot serve --host 127.0.0.1 --port P
    server.wait_ready()
    ...
    server.kill9()                                 # SIGKILL: no lifespan shutdown, no flush
    server.stop()                                  # idempotent; always call it (finally)
    smtp.stop()

Everything listens on 127.0.0.1 only. Every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx

from tests.pg import free_port

ROOT = Path(__file__).resolve().parents[1]


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.recorder._add(
            Envelope(
                mail_from=envelope.mail_from,  # type: ignore[attr-defined]
                rcpt_tos=tuple(envelope.rcpt_tos),  # type: ignore[attr-defined]
                data=envelope.original_content or envelope.content,  # type: ignore[attr-defined]
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpRecorder:
    """An aiosmtpd Controller on 127.0.0.1 and a free port that keeps every envelope."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    _received: list[Envelope] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: object | None = None

    @classmethod
    def start(cls) -> SmtpRecorder:
        from aiosmtpd.controller import Controller

        recorder = cls()
        controller = Controller(_Handler(recorder), hostname=recorder.host, port=recorder.port)
        controller.start()
        recorder._controller = controller
        return recorder

    def _add(self, envelope: Envelope) -> None:
        with self._lock:
            self._received.append(envelope)

    @property
    def received(self) -> list[Envelope]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float) -> list[Envelope]:
        """At least `count` envelopes, or AssertionError naming what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received
            if len(got) >= count:
                return got
            time.sleep(0.05)
        got = self.received
        raise AssertionError(
            f"SMTP got {len(got)} message(s) within {timeout} s, expected {count}: "
            f"{[e.message['In-Reply-To'] for e in got]}"
        )

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()  # type: ignore[attr-defined]
            self._controller = None


# --- the server process -------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """`python -m bot serve` (uvicorn, one process) on 127.0.0.1 and a free port."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path) -> ServerProcess:
        port = free_port()
        full_env = {**os.environ, **env}
        with open(log_path, "ab") as log:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return cls(proc, port, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Until GET /health answers 200 (uvicorn accepts connections only after the lifespan
        has loaded the model and migrated the database)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server on port {self.port} not ready within {timeout} s:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL the server (no shutdown, no lifespan exit) and reap it."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL, self.proc.returncode

    def stop(self) -> None:
        """Terminate if still running, SIGKILL after 10 s; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
