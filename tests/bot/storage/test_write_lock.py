"""SQLite writers of one process queue on a lock before BEGIN IMMEDIATE (bot/storage/db.py):
reads go on beside a write, a second write waits for the first to commit, and a write that
cannot get the lock within the busy timeout is `DatabaseUnavailable`, with nothing written."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.errors import DatabaseUnavailable
from bot.storage import Database
from bot.storage import db as db_module


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    with database.write() as s:
        s.execute(text("CREATE TABLE t (v INTEGER)"))
    yield database
    database.dispose()


def _hold_write(db: Database, value: int, inside: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        with db.write() as s:
            s.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(30)
    return thread


def _values(db: Database) -> list[int]:
    with db.read() as s:
        return [v for (v,) in s.execute(text("SELECT v FROM t ORDER BY rowid"))]


def test_write_lock_reads_go_on_while_a_write_is_open(db: Database) -> None:
    inside, release = threading.Event(), threading.Event()
    holder = _hold_write(db, 1, inside, release)
    try:
        assert _values(db) == []  # the open write is not seen, and the read did not wait for it
    finally:
        release.set()
        holder.join()
    assert _values(db) == [1]


def test_write_lock_second_write_starts_after_the_first_commits(db: Database) -> None:
    inside, release = threading.Event(), threading.Event()
    holder = _hold_write(db, 1, inside, release)
    seen: list[list[int]] = []

    def second() -> None:
        with db.write() as s:
            seen.append([v for (v,) in s.execute(text("SELECT v FROM t"))])
            s.execute(text("INSERT INTO t VALUES (2)"))

    waiter = threading.Thread(target=second)
    waiter.start()
    release.set()
    holder.join()
    waiter.join()
    assert seen == [[1]] and _values(db) == [1, 2]


def test_write_lock_timeout_is_database_unavailable(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "BUSY_SECONDS", 0.05)
    inside, release = threading.Event(), threading.Event()
    holder = _hold_write(db, 1, inside, release)
    try:
        with pytest.raises(DatabaseUnavailable, match="busy.*nothing was written"):
            with db.write() as s:
                s.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        release.set()
        holder.join()
    assert _values(db) == [1]


def test_write_lock_only_on_sqlite() -> None:
    pg = Database("postgresql+psycopg://app:secret@127.0.0.1:1/app")  # connects lazily: nothing is opened
    assert pg._write_lock is None
