"""Database fixtures shared by the storage suite and the engine tests.

`db` is parametrised over a temporary SQLite file and a real PostgreSQL (a throwaway cluster
started once per session by tests/pg.py), migrated to head. Without PostgreSQL binaries the
postgresql params fail with a message saying how to install them; they are never skipped.
"""

from __future__ import annotations

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


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the requested backend (indirect param "sqlite"/"postgresql")."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'kontakt.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    if not cluster.is_running():  # a test that stopped the server failed half-way
        cluster.start_again()
    return cluster.create_database()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database on SQLite and on PostgreSQL (same tests run on both)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kontakt.sqlite3'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        if not cluster.is_running():
            cluster.start_again()
        url = cluster.create_database()
    database = Database(url)
    database.migrate()
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
