"""A throwaway PostgreSQL cluster for the test session (see shared/research/stack-check.md).

`PostgresCluster.start()` runs initdb into a temporary directory (as the postgres user via
`runuser` when we are root), listens on 127.0.0.1 and a free port with the unix socket in the
same directory and fsync off, and creates one database per call to `create_database()`.
`stop()` / `start_again()` let a test take the server away and bring it back.

Missing binaries are an error, never a skip: scripts/test.sh installs them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_GLOBS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/*/bin")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the cluster did not start."""


def find_pg_bin() -> Path:
    env = os.environ.get("KONTAKT_PG_BIN")
    candidates = [env] if env else []
    for pattern in PG_BIN_GLOBS:
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found in /usr/lib/postgresql/*/bin"
        " or $KONTAKT_PG_BIN. Run scripts/test.sh (it installs the `postgresql` package) or"
        " `apt-get install -y postgresql`; the PostgreSQL tests are never skipped."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    bin_dir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kontakt-pg-")))
    port: int = field(default_factory=free_port)
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{tail}"
            )
        return result

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.start_again()
        return self

    def start_again(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.root / "server.log"),
            "-w", "-t", "30", "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None, name: str | None = None) -> str:
        """A fresh database (empty, or a copy of `template`); returns its SQLAlchemy URL."""
        import psycopg

        self._databases += 1
        name = name or f"kontakt_test_{self._databases}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())
        return self.url(name)

    def destroy(self) -> None:
        try:
            if self.is_running():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
