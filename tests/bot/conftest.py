"""Database fixtures shared by the storage suite and the engine tests.

`db` is parametrised over a temporary SQLite file and a real PostgreSQL (a throwaway cluster
started once per session by tests/pg.py), migrated to head. Without PostgreSQL binaries the
postgresql params fail with a message saying how to install them; they are never skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine import ConversationEngine
from bot.routing.skills import RoutingPolicy
from bot.storage import Database
from bot.topics import TopicContract, load_contract
from tests.pg import PostgresCluster, PostgresUnavailable, find_pg_bin

BACKENDS = ("sqlite", "postgresql")
TENANT = "kobenhavn"
# A Monday at 10:00 Copenhagen time (09:00 UTC): the default schedule is open.
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster(find_pg_bin()).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "kontakt.sqlite3"
    template = Database(f"sqlite:///{path}")
    template.migrate()
    with template.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    template.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_pg_template(pg_cluster: PostgresCluster) -> str:
    """A PostgreSQL database migrated once; each test gets a CREATE DATABASE ... TEMPLATE copy."""
    url = pg_cluster.create_database(name="kontakt_template")
    template = Database(url)
    template.migrate()
    template.dispose()
    return "kontakt_template"


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database on SQLite and on PostgreSQL (same tests run on both)."""
    if request.param == "sqlite":
        target = tmp_path / "kontakt.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
        url = f"sqlite:///{target}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        template = request.getfixturevalue("migrated_pg_template")
        if not cluster.is_running():
            cluster.start_again()
        url = cluster.create_database(template=template)
    database = Database(url)
    database.migrate()  # already at head: checks the copy and does nothing
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def contract() -> TopicContract:
    return load_contract(Settings().topics_file)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy() -> RoutingPolicy:
    return RoutingPolicy(acw_seconds=30)


@pytest.fixture
def make_engine(
    db: Database, contract: TopicContract, clock: FakeClock, policy: RoutingPolicy
) -> Callable[..., ConversationEngine]:
    def make(database: Database | None = None, **kwargs: object) -> ConversationEngine:
        return ConversationEngine(database or db, contract, clock, kwargs.pop("policy", policy), **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def engine(make_engine: Callable[..., ConversationEngine]) -> ConversationEngine:
    eng = make_engine()
    eng.ensure_tenant(TENANT, "Københavns Kommune", priorities={"social_saerlige_behov": 5})
    return eng
