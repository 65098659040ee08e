"""Crisis mode, the I/O part: switching a tenant's crisis on and off, the crisis queue, and the
cached read every channel makes before it speaks.

`CrisisBoard` reads the state from the database, so every worker sees the same crisis; each
worker keeps it for at most `ttl_seconds` (a switch on this worker is seen at once, on another
within the TTL). Every switch is one transaction with its event (who, when, what).
`board_for(db)` gives the one board of a database, so channels need no extra wiring.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.crisis import (
    CRISIS_QUEUE,
    CRISIS_QUEUE_NAME,
    Crisis,
    SkillGrant,
    clean_keywords,
    clean_message,
    crisis_decision,
    grants_for,
    related,
    undo_grants,
)
from bot.dialogue import Turn
from bot.errors import CrisisQueueInUse, DatabaseUnavailable, InvalidSkillLevel, NoCrisis, NoCrisisQueue
from bot.responses import BotMessage
from bot.routing.skills import MAX_SKILL
from bot.storage import crisis as store
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import EventKind
from bot.types import TriageDecision

if TYPE_CHECKING:
    from bot.engine import ConversationEngine
    from bot.retrieval.embedder import Embedder

__all__ = ["CrisisBoard", "CrisisState", "board_for", "greet_chat", "route_decision", "route_turn"]

log = logging.getLogger("kontakt.crisis")

DEFAULT_TTL_SECONDS = 2.0
DEFAULT_QUEUE = "borgerservice_basis"  # as the engine's default queue (bot.engine.DEFAULT_QUEUE)


@dataclass(frozen=True, slots=True)
class CrisisState:
    crisis: Crisis | None
    grants: tuple[SkillGrant, ...]


def _crisis(row: store.CrisisRow) -> Crisis:
    return Crisis(
        tenant_id=row.tenant_id, message_da=row.message_da, message_en=row.message_en, queue_id=row.queue_id,
        keywords=tuple(str(k) for k in row.keywords or ()), started_at=row.started_at, started_by=row.started_by,
        updated_at=row.updated_at, updated_by=row.updated_by,
    )  # fmt: skip


def _grant(row: store.CrisisGrantRow) -> SkillGrant:
    return SkillGrant(row.agent_id, row.queue_id, row.level, row.previous)


class CrisisBoard:
    """The crisis state of every tenant in one database. Thread-safe; cheap to construct."""

    def __init__(
        self, db: Database, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Crisis | None]] = {}
        self._vectors: dict[tuple[int, str], np.ndarray] = {}  # (embedder, crisis message) -> vector

    # --- reading -----------------------------------------------------------------------------

    def current(self, tenant_id: str) -> Crisis | None:
        """The tenant's crisis, or None; read from the database at most every `ttl_seconds`. While
        the database cannot be read, the last state read is kept (none read yet: None), so a
        channel that can still answer is not stopped by the crisis lookup."""
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]
        try:
            with self.db.read() as s:
                row = store.crisis_row(s, tenant_id=tenant_id)
                crisis = _crisis(row) if row is not None else None
        except DatabaseUnavailable as exc:
            log.warning("crisis state of %s not read, keeping the last one: %s", tenant_id, exc)
            return cached[1] if cached is not None else None
        with self._lock:
            self._cache[tenant_id] = (now, crisis)
        return crisis

    def state(self, tenant_id: str) -> CrisisState:
        """Fresh from the database (for supervisors): the crisis and who joined its queue."""
        with self.db.read() as s:
            row = store.crisis_row(s, tenant_id=tenant_id)
            grants = tuple(_grant(g) for g in store.grants(s, tenant_id=tenant_id))
            return CrisisState(_crisis(row) if row is not None else None, grants)

    def _forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)

    def similarity(self, embedder: Embedder, text: str, crisis: Crisis) -> float:
        """Cosine similarity between a citizen's message and the crisis message (both normalised)."""
        key = (id(embedder), crisis.message_da)
        with self._lock:
            vector = self._vectors.get(key)
        if vector is None:
            vector = np.asarray(embedder.passages([crisis.message_da])[0], dtype=np.float32)
            with self._lock:
                if len(self._vectors) > 64:
                    self._vectors.clear()
                self._vectors[key] = vector
        query = np.asarray(embedder.queries([text])[0], dtype=np.float32)
        return float(query @ vector)

    # --- switching ----------------------------------------------------------------------------

    def start(
        self,
        tenant_id: str,
        *,
        by: str,
        message_da: str,
        message_en: str | None = None,
        queue_id: str | None = None,
        keywords: Sequence[str] = (),
        at: datetime,
    ) -> Crisis:
        """Switch the tenant's crisis on, or change the message, queue or keywords of the one that
        is on. `queue_id` names one of the tenant's queues; the dedicated crisis queue ("krise")
        is created on first use. UnknownQueue for another unknown queue; CrisisQueueInUse when the
        queue changes while agents joined the old one through crisis mode."""
        da = clean_message(message_da)
        en = clean_message(message_en, field="English message") if message_en and message_en.strip() else None
        words = clean_keywords(keywords)
        with self.db.write() as s:
            if queue_id is not None:
                store.ensure_queue(s, tenant_id=tenant_id, queue_id=queue_id, name=CRISIS_QUEUE_NAME,
                                   create=queue_id == CRISIS_QUEUE)  # fmt: skip
            joined = {g.queue_id for g in store.grants(s, tenant_id=tenant_id)}
            if joined and joined != {queue_id}:
                raise CrisisQueueInUse(
                    f"agents joined the crisis queue {sorted(joined)[0]!r} through crisis mode; end the crisis"
                    " (which takes them out again) before choosing another queue"
                )
            row, created = store.put_crisis(s, tenant_id=tenant_id, message_da=da, message_en=en, queue_id=queue_id,
                                            keywords=list(words), by=by, at=at)  # fmt: skip
            kind = EventKind.CRISIS_STARTED if created else EventKind.CRISIS_UPDATED
            repo.add_event(s, tenant_id=tenant_id, kind=kind, at=at, agent_id=by,
                           data={"message_da": da, "message_en": en, "queue_id": queue_id, "keywords": list(words)})
            crisis = _crisis(row)
        self._forget(tenant_id)
        return crisis

    def end(
        self, tenant_id: str, *, by: str, at: datetime, fallback_queue: str = DEFAULT_QUEUE
    ) -> tuple[Crisis, list[SkillGrant]]:
        """Switch the crisis off: agents who joined the crisis queue through crisis mode get their
        earlier level back (unless a supervisor changed it meanwhile), and citizens still waiting
        in the dedicated crisis queue, which nobody staffs any more, move to `fallback_queue`
        with their waiting time. NoCrisis when none is on. Returns the crisis that ended and the
        grants that were undone."""
        with self.db.write() as s:
            row = store.crisis_row(s, tenant_id=tenant_id, lock=True)
            if row is None:
                raise NoCrisis(f"tenant {tenant_id!r} has no active crisis; nothing was changed")
            crisis = _crisis(row)
            moved: list[str] = []
            if crisis.queue_id == CRISIS_QUEUE:
                moved = store.move_waiting(s, tenant_id=tenant_id, from_queue=CRISIS_QUEUE, to_queue=fallback_queue,
                                           at=at)  # fmt: skip
            granted = [_grant(g) for g in store.grants(s, tenant_id=tenant_id)]
            undone = undo_grants(granted, store.skills(s, tenant_id=tenant_id))
            for g in undone:
                store.set_level(s, tenant_id=tenant_id, agent_id=g.agent_id, queue_id=g.queue_id, level=g.previous)
                repo.add_event(s, tenant_id=tenant_id, kind=EventKind.SKILL_SET, at=at, agent_id=g.agent_id,
                               data={"queue_id": g.queue_id, "level": g.previous or 0, "by": by,
                                     "reason": "crisis_ended"})  # fmt: skip
            if granted:
                repo.add_event(s, tenant_id=tenant_id, kind=EventKind.CRISIS_QUEUE_LEFT, at=at, agent_id=by,
                               data={"queue_id": crisis.queue_id, "agents": [g.agent_id for g in undone],
                                     "kept": sorted({g.agent_id for g in granted} - {g.agent_id for g in undone})})
            store.delete_grants(s, tenant_id=tenant_id)
            store.delete_crisis(s, tenant_id=tenant_id)
            repo.add_event(s, tenant_id=tenant_id, kind=EventKind.CRISIS_ENDED, at=at, agent_id=by,
                           data={"started_at": crisis.started_at.isoformat(), "started_by": crisis.started_by,
                                 "moved_to": fallback_queue if moved else None, "moved_contacts": len(moved)})
        self._forget(tenant_id)
        return crisis, undone

    def join(self, tenant_id: str, *, by: str, source_queue: str, min_level: int, at: datetime) -> list[SkillGrant]:
        """Every agent with level >= `min_level` in `source_queue` joins the crisis queue at that
        level (recorded, and undone when the crisis ends). NoCrisis / NoCrisisQueue without a
        crisis or its queue; UnknownQueue for an unknown source queue."""
        if isinstance(min_level, bool) or not isinstance(min_level, int) or not 1 <= min_level <= MAX_SKILL:
            raise InvalidSkillLevel(f"minimum level {min_level!r}: use a whole number 1..{MAX_SKILL}")
        with self.db.write() as s:
            row = store.crisis_row(s, tenant_id=tenant_id, lock=True)
            if row is None:
                raise NoCrisis(f"tenant {tenant_id!r} has no active crisis; start one before agents can join")
            if row.queue_id is None:
                raise NoCrisisQueue("the active crisis has no crisis queue; choose one (e.g. 'krise') first")
            repo.get_queue(s, tenant_id=tenant_id, queue_id=source_queue)
            grants = grants_for(store.skills(s, tenant_id=tenant_id), source_queue, min_level, row.queue_id)
            for g in grants:
                store.set_level(s, tenant_id=tenant_id, agent_id=g.agent_id, queue_id=g.queue_id, level=g.level)
                store.add_grant(s, tenant_id=tenant_id, agent_id=g.agent_id, queue_id=g.queue_id, level=g.level,
                                previous=g.previous, by=by, at=at)  # fmt: skip
                repo.add_event(s, tenant_id=tenant_id, kind=EventKind.SKILL_SET, at=at, agent_id=g.agent_id,
                               data={"queue_id": g.queue_id, "level": g.level, "by": by, "reason": "crisis_joined"})
            repo.add_event(s, tenant_id=tenant_id, kind=EventKind.CRISIS_QUEUE_JOINED, at=at, agent_id=by,
                           data={"queue_id": row.queue_id, "source_queue": source_queue, "min_level": min_level,
                                 "agents": [g.agent_id for g in grants]})  # fmt: skip
        return grants


_BOARDS: weakref.WeakKeyDictionary[Database, CrisisBoard] = weakref.WeakKeyDictionary()
_BOARDS_LOCK = threading.Lock()


def board_for(db: Database) -> CrisisBoard:
    """The one board of `db` in this process (made on first use; goes away with the database)."""
    with _BOARDS_LOCK:
        board = _BOARDS.get(db)
        if board is None:
            board = _BOARDS[db] = CrisisBoard(db)
        return board


# --- what the channels call -----------------------------------------------------------------------


def greet_chat(engine: ConversationEngine, tenant_id: str, contact_id: str) -> None:
    """A new chat conversation: during a crisis its first bot message is the crisis message."""
    crisis = board_for(engine.db).current(tenant_id)
    if crisis is not None:
        engine.record_bot_reply(tenant_id, contact_id, crisis.chat_text())


def route_decision(
    db: Database, understanding: Any, tenant_id: str, text: str, decision: TriageDecision
) -> tuple[Crisis, TriageDecision] | None:
    """When a crisis with a crisis queue is on and `text` is about it (bot.crisis.related; the
    similarity with `understanding.embedder`), the crisis and the decision that sends it to the
    crisis queue; else None."""
    board = board_for(db)
    crisis = board.current(tenant_id)
    if crisis is None or crisis.queue_id is None:
        return None
    routed = crisis_decision(decision, crisis)
    if routed is None or not related(text, crisis, decision, lambda: board.similarity(understanding.embedder, text, crisis)):
        return None
    return crisis, routed


def route_turn(engine: ConversationEngine, understanding: Any, tenant_id: str, text: str, turn: Turn) -> Turn:
    """A bot turn with crisis routing applied: a question about the crisis is handed to the
    crisis queue with a short explanation. A button the citizen chose keeps its meaning."""
    if turn.parsed is None:
        return turn
    found = route_decision(engine.db, understanding, tenant_id, text, turn.decision)
    if found is None:
        return turn
    crisis, decision = found
    return Turn(turn.parsed, decision, [BotMessage(crisis.handoff_text(turn.parsed.nlu.language))])
