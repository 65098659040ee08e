"""bot.engine.turns: a citizen's turn in two transactions, and what each one sees."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text as sql

from bot.engine import ConversationEngine, TurnStart
from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import Channel, ContactState
from bot.types import HandoffReason
from tests.bot.conftest import TENANT

pytestmark = pytest.mark.integration


def test_turn_start_reads_what_the_bot_needs(engine: ConversationEngine) -> None:
    first = engine.begin_citizen_turn(TENANT, Channel.CHAT, "web-1", "Hej", "m1")
    assert first.bot_may_answer and first.before == () and first.inbound is not None
    second = engine.begin_citizen_turn(TENANT, Channel.CHAT, "web-1", "Hvornår kommer skraldebilen?", "m2")
    assert [m.text for m in second.before] == ["Hej"]
    assert [e.kind.value for e in second.events][-1] == "message_received"
    again = engine.begin_citizen_turn(TENANT, Channel.CHAT, "web-1", "Hvornår kommer skraldebilen?", "m2")
    assert again.duplicate and not again.bot_may_answer and again.inbound == second.inbound
    assert len(engine.transcript(TENANT, second.contact.id)) == 2  # the repeat wrote nothing


def test_turn_start_while_queued_gives_the_queue_status(engine: ConversationEngine) -> None:
    c = engine.open_contact(TENANT, Channel.CHAT, "web-2")
    engine.record_inbound(TENANT, c.id, "Jeg vil tale med et menneske")
    engine.request_handoff(TENANT, c.id, None, HandoffReason.ASKED_FOR_HUMAN)
    start = engine.begin_citizen_turn(TENANT, Channel.CHAT, "web-2", "Er der nogen?")
    assert not start.bot_may_answer and start.contact.state is ContactState.QUEUED
    assert start.queue is not None and start.queue.position == 1
    assert start.events == ()  # the bot will not decide: nothing more is read


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # row locks are PostgreSQL's; SQLite serialises
def test_turn_start_waits_for_a_writer_holding_the_contact(engine: ConversationEngine, db: Database) -> None:
    c = engine.open_contact(TENANT, Channel.CHAT, "web-3")
    holding, release = threading.Event(), threading.Event()
    result: list[TurnStart] = []

    def writer() -> None:  # another request changes the contact and holds its row meanwhile
        with db.write() as s:
            row = repo.get_contact(s, tenant_id=TENANT, contact_id=c.id, lock=True)
            row.topic = "affald_toemning"
            s.flush()
            holding.set()
            release.wait(60)

    def citizen() -> None:
        result.append(engine.begin_citizen_turn(TENANT, Channel.CHAT, "web-3", "Hej igen"))

    w = threading.Thread(target=writer)
    w.start()
    assert holding.wait(60)
    t = threading.Thread(target=citizen)
    t.start()
    try:
        _until_a_session_waits_for_a_lock(db)
    finally:
        release.set()
        w.join(60)
        t.join(60)
    # The turn read the contact after the writer committed, not the version from before it.
    assert result and result[0].contact.topic == "affald_toemning"


def _until_a_session_waits_for_a_lock(db: Database) -> None:
    """Returns once some session of this database waits for a row lock (fails after a minute)."""
    waiting = sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    observer = Database(db.url)
    try:
        for _ in range(6000):
            with observer.read() as s:
                if s.execute(waiting).scalar_one():
                    return
            threading.Event().wait(0.01)
        raise AssertionError("the citizen's turn never waited for the contact's row lock")
    finally:
        observer.dispose()
