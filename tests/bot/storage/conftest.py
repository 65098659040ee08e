"""Storage fixtures: an empty (unmigrated) database per backend, and a PostgreSQL-only one.
The parametrised `db` fixture itself lives in tests/bot/conftest.py (the engine tests use it too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.storage import Database
from tests.pg import PostgresCluster

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, unmigrated database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    if not cluster.is_running():
        cluster.start_again()
    return cluster.create_database()


@pytest.fixture
def pg_db(pg_cluster: PostgresCluster) -> Iterator[Database]:
    """A migrated PostgreSQL database (for tests that only make sense there)."""
    if not pg_cluster.is_running():
        pg_cluster.start_again()
    database = Database(pg_cluster.create_database())
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
