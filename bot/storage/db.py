"""The database handle: engine creation per dialect, transactions, error mapping, migrations.

SQLite (the default, a file under var/) runs with WAL, foreign keys on and a busy timeout;
write transactions start with BEGIN IMMEDIATE so writers are serialised up front instead of
failing on lock upgrade. Within one process they also queue on a lock before BEGIN: SQLite's busy
handler polls with sleeps of up to 100 ms and gives the lock to whichever poll comes first, so
under load a turn waited seconds behind mail and the router (chat p99 1.3–3.3 s at 4–32 clients
with p50 0.1–0.5 s); a waiter on the lock starts the moment the writer before it commits. The busy
timeout still serialises writers of other processes on the same file. PostgreSQL (`postgresql+psycopg://...`) runs READ COMMITTED with
pre-ping, and the router locks rows with SELECT ... FOR UPDATE SKIP LOCKED
(`bot.storage.repository`). Connection failures surface as `DatabaseUnavailable`; the
transaction is rolled back, so nothing is half-written.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_SQLITE_PATH = Path(__file__).resolve().parents[2] / "var" / "kontakt.sqlite3"
_IMMEDIATE = "kontakt_sqlite_immediate"
BUSY_SECONDS = 30  # SQLite's busy timeout, and the longest a writer waits for this process's lock


def default_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine and its session factory. Cheap to construct; connects lazily.

    Use `read()` for queries and `write()` for anything that changes rows; both commit on
    success, roll back on error and turn connection failures into `DatabaseUnavailable`.
    """

    def __init__(self, url: str | None = None, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = url or default_url()
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_SECONDS}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)
            if self.dialect == "postgresql":
                kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        event.listen(self.engine, "before_cursor_execute", _encodable_parameters, retval=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._immediate = sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False, autoflush=True
        )
        # SQLite: this process's writers, one at a time (re-entrant, so a nested write in the same
        # thread meets SQLite's own lock, as it always did). PostgreSQL locks rows, not the database.
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def __repr__(self) -> str:
        return f"Database({_masked(self.url)!r})"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._transaction(self._sessions) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that changes rows: BEGIN IMMEDIATE on SQLite (serialised writers)."""
        lock = self._write_lock
        if lock is None:
            with self._transaction(self._immediate) as session:
                yield session
            return
        if not lock.acquire(timeout=BUSY_SECONDS):
            raise DatabaseUnavailable(
                f"database {_masked(self.url)} is busy: another write of this process held it for"
                f" {BUSY_SECONDS} s; nothing was written. Retry in a moment."
            )
        try:
            with self._transaction(self._immediate) as session:
                yield session
        finally:
            lock.release()

    @contextmanager
    def _transaction(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            _safe_rollback(session)
            raise self._unavailable(exc) from exc
        except sa_exc.DBAPIError as exc:
            _safe_rollback(session)
            if exc.connection_invalidated:
                raise self._unavailable(exc) from exc
            raise
        except BaseException:
            _safe_rollback(session)
            raise
        finally:
            session.close()

    def _unavailable(self, exc: Exception) -> DatabaseUnavailable:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
        return DatabaseUnavailable(
            f"database {_masked(self.url)} is unavailable ({detail}); nothing was written."
            " Retry when the server is back."
        )

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema with the Alembic migrations in bot/storage/migrations.

        A database already at the newest revision is left as it is without loading Alembic
        (its import and script scan are a tenth of a second of every worker's start-up); any
        other state, or a database that cannot say, goes through Alembic's own upgrade."""
        if revision == "head" and self.at_head():
            return
        from alembic import command

        try:
            with self.engine.begin() as connection:
                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise self._unavailable(exc) from exc

    def at_head(self) -> bool:
        """True when `alembic_version` holds exactly the newest revision of the migrations folder.
        Only reads: a worker that finds anything else (no table yet, an older revision, a
        database it cannot reach) leaves the decision, and its locking, to Alembic."""
        head = head_revision()
        if head is None:
            return False
        try:
            with self.engine.connect() as connection:
                found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except sa_exc.DBAPIError:
            return False
        return found == [head]

    def dispose(self) -> None:
        self.engine.dispose()


def _safe_rollback(session: Session) -> None:
    try:
        session.rollback()
    except sa_exc.SQLAlchemyError:
        session.invalidate()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) and _SURROGATE.search(value) else value


def _encodable_parameters(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """No text the database driver cannot encode: a lone surrogate (from a broken mail header or
    a JSON escape) becomes U+FFFD instead of failing the whole transaction. Channels already clean
    what they know; this is the last line for what they do not."""
    if isinstance(parameters, dict):
        parameters = {k: _encodable(v) for k, v in parameters.items()}
    elif isinstance(parameters, (list, tuple)) and parameters and isinstance(parameters[0], (list, tuple, dict)):
        parameters = type(parameters)(
            {k: _encodable(v) for k, v in p.items()} if isinstance(p, dict) else type(p)(_encodable(v) for v in p)
            for p in parameters
        )
    elif isinstance(parameters, (list, tuple)):
        parameters = type(parameters)(_encodable(v) for v in parameters)
    return statement, parameters


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:None|['"]([^'"]+)['"])\s*$""", re.M)


def head_revision(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The one revision of the migrations folder that no other revises, read from the files'
    `revision = ...` / `down_revision = ...` lines without importing them or Alembic. None when
    that is not one clear answer (branches, a file written another way): Alembic decides then."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(path.read_text(encoding="utf-8")))
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            revised.add(found["down_revision"])
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 and revised <= revisions else None


def alembic_config(url: str) -> Config:
    """Alembic configuration built in code (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (default: the newest)."""
    db = Database(url)
    try:
        db.migrate(revision)
    finally:
        db.dispose()
