"""The served app in its own process, for fuzzing: `connectors.app.build_app` with explicit
settings (SQLite in a work directory, the trained model, an e-mail inbound secret, a Twilio auth
token and agents with known tokens), under uvicorn on a free loopback port.

A native crash in the model (an abort in a tokeniser, a segfault) ends that process; the fuzzer
sees the exit, counts it and starts a new server on the same database. The server's CPU time is
read from /proc/<pid>/stat, so the cost of one request is exact when requests are sent one at a
time. The child runs with no KONTAKT_* variables and in the work directory, where there is no
.env file: nothing but the explicit settings reaches it.

    python -m eval.fuzz.server CONFIG.json   # the child side; ServerProcess starts it
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.fuzz.cases import AGENT_PEPPER, AGENTS, EMAIL_SECRET, PUBLIC_BASE_URL, TWILIO_TOKEN

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerDied(RuntimeError):
    """The server process could not be started or is gone; the message holds its log tail."""


def fuzz_settings(base: Any | None, workdir: Path) -> Any:
    """The settings of a fuzz server: `base`'s model and data paths (the repository's when None),
    a fresh SQLite database in `workdir`, a known agent-token pepper and the default limits."""
    from pydantic import SecretStr

    from bot.config import Settings

    names = ("topics_file", "nlu_data_dir", "articles_dir", "model_dir", "cache_dir", "tenants_file", "embedder")
    fields = {n: getattr(base, n) if base is not None else Settings.model_fields[n].default for n in names}
    return Settings(_env_file=None, **fields, database_url=f"sqlite:///{workdir / 'kontakt.sqlite3'}",
                    agent_token_pepper=SecretStr(AGENT_PEPPER))  # fmt: skip


def prepare_database(settings: Any) -> None:
    """Migrate, create the tenants of tenants.yaml and the fuzz agents (known tokens), as
    `python -m bot agent add` would. Idempotent: a restarted server finds them in place."""
    from datetime import UTC, datetime

    from bot.agent_accounts import hash_token, token_pepper
    from bot.engine import ConversationEngine
    from bot.errors import KontaktError
    from bot.storage import Database
    from bot.storage.models import AgentRole
    from bot.tenants import load_tenants
    from bot.topics import load_contract

    db = Database(settings.database_url)
    try:
        db.migrate()
        contract = load_contract(settings.topics_file)
        engine = ConversationEngine(db, contract, clock=lambda: datetime.now(UTC))
        for t in load_tenants(settings.tenants_file).tenants:
            engine.set_up_tenant(t)
        pepper = token_pepper(settings)
        for a in AGENTS:
            try:
                engine.add_agent(a.tenant, a.id, a.id, role=AgentRole(a.role), token_hash=hash_token(a.token, pepper),
                                 skills={"borgerservice_basis": 5})  # fmt: skip
            except KontaktError:
                pass  # exists already
    finally:
        db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One uvicorn process serving the real app; `start()` again after it died."""

    def __init__(self, settings: Any, workdir: Path, startup_timeout: float = 300.0,
                 command: Sequence[str] = (sys.executable, "-m", "eval.fuzz.server")) -> None:
        self.settings = settings
        self.command = list(command)  # run with the config file's path as last argument
        self.workdir = workdir
        self.startup_timeout = startup_timeout
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.port = free_port()
        config = self.workdir / "server.json"
        config.write_text(json.dumps({"settings": self.settings.model_dump(mode="json", exclude={"agent_token_pepper"}),
                                      "port": self.port}))  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("KONTAKT_")}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*self.command, str(config)], cwd=self.workdir,
                                         env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        self.starts += 1
        self._wait_ready()
        self.read_log()  # start-up output is not any case's

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerDied(f"the fuzz server exited with {self.exit_status()} while starting:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=5).json().get("status") == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        self.stop()
        raise ServerDied(f"the fuzz server was not ready in {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> str:
        code = self.proc.poll() if self.proc else None
        if code is None:
            return "running"
        if code < 0:
            return f"signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads) so far."""
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def read_log(self) -> str:
        """What the server wrote since the last call."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self._log_offset += len(data)
        return data.decode("utf-8", "replace")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the child process ------------------------------------------------------------------------------------


def build_fuzz_app(settings: Any) -> Any:
    """The app `python -m bot serve` runs, with the fuzz credentials and no rate limit (the fuzzer
    sends thousands of requests from one address on purpose; limits are tested elsewhere)."""
    from pydantic import SecretStr

    from bot.api.ratelimit import RateLimit, RateLimitSettings
    from connectors.app import build_app
    from connectors.email.settings import EmailSettings
    from connectors.voice.config import VoiceSettings

    app = build_app(settings)
    for m in app.user_middleware:
        if m.cls is RateLimit:
            m.kwargs["settings"] = RateLimitSettings(_env_file=None, enabled=False)
    app.state.voice_settings = VoiceSettings(_env_file=None, twilio_auth_token=SecretStr(TWILIO_TOKEN),
                                             public_base_url=PUBLIC_BASE_URL)  # fmt: skip
    # No SMTP or IMAP; the deadline checker wakes rarely so its CPU is not charged to a request.
    app.state.email_settings = EmailSettings(_env_file=None, inbound_secret=SecretStr(EMAIL_SECRET), smtp_host=None,
                                             imap_host=None, deadline_check_seconds=3600.0)  # fmt: skip
    return app


def main(argv: list[str]) -> None:
    import uvicorn
    from pydantic import SecretStr

    from bot.config import Settings

    config = json.loads(Path(argv[0]).read_text())
    settings = Settings(_env_file=None, **config["settings"], agent_token_pepper=SecretStr(AGENT_PEPPER))
    uvicorn.Server(uvicorn.Config(build_fuzz_app(settings), host="127.0.0.1", port=config["port"],
                                  log_level="warning", access_log=False)).run()  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
