"""Crisis mode on the database (bot/crisis_board.py, bot/storage/crisis.py), on SQLite and
PostgreSQL: switching, the events, the crisis queue and its undo, and what another worker sees."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.crisis_board import CrisisBoard, board_for, greet_chat
from bot.engine import ConversationEngine
from bot.errors import CrisisQueueInUse, InvalidSkillLevel, NoCrisis, NoCrisisQueue, UnknownQueue
from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import AgentSkill, Author, Channel, EventKind, QueueRow
from tests.bot.conftest import MONDAY_10, TENANT

pytestmark = pytest.mark.integration

FLOOD = "Stormflod i aften. Sandsække ved Nordhavn Station fra kl. 16."


class Ticks:
    """A monotonic clock the test moves by hand (the board's cache)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def staffed(engine: ConversationEngine) -> ConversationEngine:
    engine.ensure_tenant("rodovre", "Rødovre Kommune")
    engine.add_agent(TENANT, "sara", "Sara")
    engine.add_agent(TENANT, "anne", "Anne", skills={"borgerservice_basis": 7})
    engine.add_agent(TENANT, "cai", "Cai", skills={"borgerservice_basis": 6, "esb": 2})
    engine.add_agent(TENANT, "bo", "Bo", skills={"borgerservice_basis": 3})
    return engine


def _levels(db: Database, queue: str) -> dict[str, int]:
    with db.read() as s:
        return {r.agent_id: r.level for r in s.scalars(select(AgentSkill).where(AgentSkill.queue_id == queue))}


def _kinds(db: Database, tenant: str = TENANT) -> list[EventKind]:
    with db.read() as s:
        return [e.kind for e in repo.events(s, tenant_id=tenant)]


def test_start_update_end_with_events_and_no_other_tenant_touched(staffed: ConversationEngine, db: Database) -> None:
    board = CrisisBoard(db)
    crisis = board.start(TENANT, by="sara", message_da=FLOOD, keywords=["Sandsæk"], at=MONDAY_10)
    assert (crisis.message_da, crisis.keywords, crisis.started_by) == (FLOOD, ("sandsæk",), "sara")
    assert board.current("rodovre") is None
    board.start(TENANT, by="anne", message_da="Vandet er afbrudt.", message_en="The water is off.", at=MONDAY_10)
    updated = board.current(TENANT)
    assert updated is not None and updated.started_by == "sara" and updated.updated_by == "anne"
    assert updated.message_en == "The water is off." and updated.keywords == ()
    ended, restored = board.end(TENANT, by="sara", at=MONDAY_10)
    assert ended.message_da == "Vandet er afbrudt." and restored == []
    assert board.current(TENANT) is None
    kinds = [k for k in _kinds(db) if k.value.startswith("crisis_")]
    assert kinds == [EventKind.CRISIS_STARTED, EventKind.CRISIS_UPDATED, EventKind.CRISIS_ENDED]
    assert not [k for k in _kinds(db, "rodovre") if k.value.startswith("crisis_")]
    with pytest.raises(NoCrisis):
        board.end(TENANT, by="sara", at=MONDAY_10)


def test_the_crisis_queue_is_created_on_first_use_and_unknown_queues_are_refused(
    staffed: ConversationEngine, db: Database
) -> None:
    board = CrisisBoard(db)
    with pytest.raises(UnknownQueue):
        board.start(TENANT, by="sara", message_da=FLOOD, queue_id="findes_ikke", at=MONDAY_10)
    assert board.current(TENANT) is None  # nothing was written
    board.start(TENANT, by="sara", message_da=FLOOD, queue_id="krise", at=MONDAY_10)
    with db.read() as s:
        assert s.get(QueueRow, (TENANT, "krise")).name == "Krisekø"
        assert s.get(QueueRow, ("rodovre", "krise")) is None


def test_join_gives_the_crisis_queue_and_ending_restores_what_was_before(
    staffed: ConversationEngine, db: Database
) -> None:
    board = CrisisBoard(db)
    with pytest.raises(NoCrisis):
        board.join(TENANT, by="sara", source_queue="borgerservice_basis", min_level=5, at=MONDAY_10)
    board.start(TENANT, by="sara", message_da=FLOOD, at=MONDAY_10)
    with pytest.raises(NoCrisisQueue):
        board.join(TENANT, by="sara", source_queue="borgerservice_basis", min_level=5, at=MONDAY_10)
    board.start(TENANT, by="sara", message_da=FLOOD, queue_id="esb", at=MONDAY_10)  # an existing queue
    with pytest.raises(InvalidSkillLevel):
        board.join(TENANT, by="sara", source_queue="borgerservice_basis", min_level=0, at=MONDAY_10)
    grants = board.join(TENANT, by="sara", source_queue="borgerservice_basis", min_level=5, at=MONDAY_10)
    assert [(g.agent_id, g.level, g.previous) for g in grants] == [("anne", 7, None), ("cai", 6, 2)]
    assert _levels(db, "esb") == {"anne": 7, "cai": 6}
    with pytest.raises(CrisisQueueInUse):
        board.start(TENANT, by="sara", message_da=FLOOD, queue_id="krise", at=MONDAY_10)

    staffed.set_skill(TENANT, "anne", "esb", 9)  # a supervisor decides otherwise for Anne meanwhile
    _, restored = board.end(TENANT, by="sara", at=MONDAY_10)
    assert [g.agent_id for g in restored] == ["cai"]
    assert _levels(db, "esb") == {"anne": 9, "cai": 2}
    assert board.state(TENANT).grants == ()
    kinds = _kinds(db)
    assert EventKind.CRISIS_QUEUE_JOINED in kinds and EventKind.CRISIS_QUEUE_LEFT in kinds


def test_another_worker_sees_a_switch_within_its_cache_time(staffed: ConversationEngine, db: Database) -> None:
    ticks = Ticks()
    other_worker = CrisisBoard(Database(db.url), ttl_seconds=2.0, monotonic=ticks)
    try:
        assert other_worker.current(TENANT) is None
        CrisisBoard(db).start(TENANT, by="sara", message_da=FLOOD, at=MONDAY_10)
        assert other_worker.current(TENANT) is None  # still within its cache time
        ticks.now += 2.0
        assert other_worker.current(TENANT) is not None
        CrisisBoard(db).end(TENANT, by="sara", at=MONDAY_10)
        ticks.now += 2.0
        assert other_worker.current(TENANT) is None
    finally:
        other_worker.db.dispose()


def test_a_new_chat_opens_with_the_crisis_message(staffed: ConversationEngine, db: Database) -> None:
    board_for(db).start(TENANT, by="sara", message_da=FLOOD, at=MONDAY_10)
    contact = staffed.open_contact(TENANT, Channel.CHAT, "session-crisis-1")
    greet_chat(staffed, TENANT, contact.id)
    (first,) = staffed.transcript(TENANT, contact.id)
    assert (first.author, first.text) == (Author.BOT, f"Vigtig besked: {FLOOD}")
    board_for(db).end(TENANT, by="sara", at=MONDAY_10)
    calm = staffed.open_contact(TENANT, Channel.CHAT, "session-crisis-2")
    greet_chat(staffed, TENANT, calm.id)
    assert staffed.transcript(TENANT, calm.id) == []


def test_board_for_gives_one_board_per_database(db: Database) -> None:
    assert board_for(db) is board_for(db)


def test_while_the_database_is_away_the_last_state_read_is_kept(staffed: ConversationEngine, db: Database) -> None:
    ticks = Ticks()
    board = CrisisBoard(db, monotonic=ticks)
    board.start(TENANT, by="sara", message_da=FLOOD, at=MONDAY_10)
    assert board.current(TENANT) is not None
    board.db = Database("postgresql+psycopg://kontakt@127.0.0.1:9/kontakt")  # nothing listens on port 9
    try:
        ticks.now += 10.0
        crisis = board.current(TENANT)
        assert crisis is not None and crisis.message_da == FLOOD
        assert board.current("rodovre") is None  # never read: no crisis is assumed
    finally:
        board.db.dispose()
