"""A database that is not there, or goes away in the middle of a request: DatabaseUnavailable,
nothing half-written, and the same engine works again once the server is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.engine import ConversationEngine
from bot.errors import DatabaseUnavailable, KontaktError
from bot.routing.skills import Channel
from bot.storage import Database
from bot.storage.models import ContactState, EventKind
from bot.topics import TopicContract
from bot.types import HandoffReason
from tests.bot.conftest import TENANT, FakeClock
from tests.pg import PostgresCluster, free_port

pytestmark = pytest.mark.integration


def test_closed_port_is_database_unavailable(contract: TopicContract, clock: FakeClock) -> None:
    db = Database(f"postgresql+psycopg://app:secret@127.0.0.1:{free_port()}/app")
    engine = ConversationEngine(db, contract, clock)
    with pytest.raises(DatabaseUnavailable) as info:
        engine.open_contact(TENANT, Channel.CHAT, "x")
    message = str(info.value)
    assert "127.0.0.1" in message and "secret" not in message and "nothing was written" in message
    assert isinstance(info.value, KontaktError)
    with pytest.raises(DatabaseUnavailable):
        db.migrate()
    db.dispose()


def test_unopenable_sqlite_file_is_database_unavailable(tmp_path: Path, contract: TopicContract,
                                                        clock: FakeClock) -> None:  # fmt: skip
    (tmp_path / "dir.sqlite3").mkdir()  # a directory where the file should be
    db = Database(f"sqlite:///{tmp_path / 'dir.sqlite3'}")
    with pytest.raises(DatabaseUnavailable):
        ConversationEngine(db, contract, clock).open_contact(TENANT, Channel.CHAT, "x")
    db.dispose()


@pytest.fixture
def stoppable(pg_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    yield pg_cluster
    if not pg_cluster.is_running():
        pg_cluster.start_again()


def test_server_stops_mid_request_nothing_half_written(
    stoppable: PostgresCluster, pg_db: Database, contract: TopicContract, clock: FakeClock
) -> None:
    engine = ConversationEngine(pg_db, contract, clock)
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    c = engine.open_contact(TENANT, Channel.CHAT, "mid")
    engine.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")

    def stop_on_handoff_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO HANDOFFS"):
            stoppable.stop()  # the server goes away after the contact and events were changed

    event.listen(pg_db.engine, "before_cursor_execute", stop_on_handoff_insert)
    try:
        with pytest.raises(DatabaseUnavailable, match="nothing was written"):
            engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", stop_on_handoff_insert)

    with pytest.raises(DatabaseUnavailable):
        engine.bot_may_answer(TENANT, c.id)  # still down
    stoppable.start_again()

    assert engine.bot_may_answer(TENANT, c.id)  # the pool recovers (pre-ping)
    assert engine.contact(TENANT, c.id).state is ContactState.BOT
    assert engine.handoff_packets(TENANT, c.id) == []
    assert EventKind.HANDOFF_REQUESTED not in [e.kind for e in engine.events(TENANT, c.id)]
    packet = engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)  # works again
    assert engine.handoff_packets(TENANT, c.id) == [packet]
