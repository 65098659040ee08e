"""Cross-worker delivery: which contacts have something new to show.

With several server processes sharing one database, an agent reply stored through worker B must
reach the citizen whose WebSocket is held by worker A. Every writer calls `notify(db, contact_id)`
after its transaction committed (the web chat backend does after each citizen turn; the agent
API must after `engine.agent_reply`, `transfer` and `close`). Each worker runs one `ChangeFeed`:

* PostgreSQL: `PgListener` holds one psycopg 3 connection in autocommit with
  `LISTEN kontakt_messages` and bumps the contact's version for every NOTIFY (payload = the
  contact id). A lost connection bumps every version (readers refresh) and reconnects.
* SQLite (no NOTIFY): `PollingFeed` reads the newest message and event ids every second, which
  sees writes of every process, including writers that never call `notify`.

Readers compare `version(contact_id)` with the version they last rendered, or block in
`wait(contact_id, seen, timeout)`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from sqlalchemy import make_url

from bot.storage import changes
from bot.storage.db import Database

log = logging.getLogger("kontakt.webchat.notify")

CHANNEL = "kontakt_messages"
POLL_SECONDS = 1.0


def notify(db: Database, contact_id: str) -> None:
    """Tell every worker that `contact_id` has new messages or events. Call after the write
    committed. PostgreSQL: NOTIFY kontakt_messages; SQLite: nothing (the feeds poll)."""
    if not db.is_postgresql:
        return
    changes.pg_notify(db, CHANNEL, contact_id)


class ChangeFeed(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def version(self, contact_id: str) -> int:
        """Grows whenever the contact may have changed (0 = nothing seen yet)."""
        ...

    def wait(self, contact_id: str, seen: int, timeout: float) -> int:
        """Block until version(contact_id) != seen or the timeout passed; the current version."""
        ...


class _Versions:
    """Thread-safe per-contact counters plus a generation that bumps everything at once."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._generation = 0
        self._cond = threading.Condition()

    def bump(self, contact_ids: set[str] | list[str]) -> None:
        with self._cond:
            for cid in contact_ids:
                self._versions[cid] = self._versions.get(cid, 0) + 1
            self._cond.notify_all()

    def bump_all(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def version(self, contact_id: str) -> int:
        with self._cond:
            return self._generation * 1_000_000 + self._versions.get(contact_id, 0)

    def wait(self, contact_id: str, seen: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                current = self._generation * 1_000_000 + self._versions.get(contact_id, 0)
                left = deadline - time.monotonic()
                if current != seen or left <= 0:
                    return current
                self._cond.wait(left)


class PgListener(_Versions):
    """LISTEN kontakt_messages on a dedicated autocommit psycopg connection, in a daemon thread."""

    def __init__(self, url: str, *, reconnect_seconds: float = 1.0) -> None:
        super().__init__()
        parsed = make_url(url)
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.reconnect_seconds = reconnect_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is active (tests wait for it)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kontakt-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.bump_all()  # anything written while we were not listening
                    while not self._stop.is_set():
                        ids = {n.payload for n in conn.notifies(timeout=0.5) if n.payload}
                        if ids:
                            self.bump(ids)
            except psycopg.Error as exc:
                log.warning("LISTEN %s lost (%s); reconnecting", CHANNEL, type(exc).__name__)
            finally:
                self.listening.clear()
            self.bump_all()
            self._stop.wait(self.reconnect_seconds)


class PollingFeed(_Versions):
    """For SQLite: every `interval` seconds, the contacts with messages or events newer than
    the last ones seen get a new version. Works across processes sharing the file."""

    def __init__(self, db: Database, *, interval: float = POLL_SECONDS) -> None:
        super().__init__()
        self.db = db
        self.interval = interval
        self._seen = changes.Heads(0, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            with self.db.read() as s:
                self._seen = changes.heads(s)
            self._thread = threading.Thread(target=self._run, name="kontakt-poll-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def check(self) -> set[str]:
        """One poll: the contacts that changed since the last one (also called by the thread)."""
        with self.db.read() as s:
            changed, self._seen = changes.changed_since(s, self._seen)
        if changed:
            self.bump(changed)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # the database is away for a moment: readers refresh anyway
                log.warning("polling feed failed: %s", exc)
                self.bump_all()


def make_feed(db: Database) -> ChangeFeed:
    """LISTEN/NOTIFY on PostgreSQL, polling on SQLite. Not started: call start()."""
    return PgListener(db.url) if db.is_postgresql else PollingFeed(db)
