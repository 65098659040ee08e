"""A real SQLite database holding a month of generated contacts from a known day profile.

Rows go in through the storage layer's own tables (`bot.storage.models`), shaped the way the
conversation engine writes them: a QUEUED event carrying the queue id, OFFER_ACCEPTED when an
agent answers, then CLOSED, or ABANDONED when the citizen left the queue.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.routing.skills import Channel
from bot.storage import Database
from bot.storage.models import Contact, ContactState, Event, EventKind, QueueRow, Tenant

CPH = ZoneInfo("Europe/Copenhagen")
TENANT = "kobenhavn"
OTHER_TENANT = "frederiksberg"
# 08:00 .. 17:30, one count per half hour: the Monday shape of the Copenhagen concept (peak 10–11).
MONDAY_VOICE = (4, 5, 14, 17, 21, 21, 20, 19, 17, 18, 18, 18, 15, 14, 8, 7, 3, 3, 2, 2)
MONDAY_CHAT = (2, 2, 6, 8, 10, 10, 9, 9, 8, 8, 8, 8, 7, 6, 4, 3, 2, 2, 2, 2)
MONDAY_EMAIL = (3, 2, 4, 4, 5, 5, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2)
OTHER_WEEKDAY_SHARE = 0.7  # Tuesday–Friday carry less; the forecast must read Mondays only
FIRST_SLOT = time(8, 0)
WAIT = timedelta(seconds=12)
SPREAD = 40.0  # handling times alternate mean ± SPREAD, so each slot's mean is exact


@dataclass(frozen=True, slots=True)
class QueueProfile:
    queue_id: str
    channel: Channel
    monday: Sequence[int]
    handle_before_noon: float
    handle_after_noon: float

    def handle(self, slot: time) -> float:
        return self.handle_before_noon if slot < time(12, 0) else self.handle_after_noon


PROFILES = (
    QueueProfile("borgerservice_basis", Channel.VOICE, MONDAY_VOICE, 270.0, 210.0),
    QueueProfile("chat_basis", Channel.CHAT, MONDAY_CHAT, 420.0, 380.0),
    QueueProfile("post_basis", Channel.EMAIL, MONDAY_EMAIL, 600.0, 540.0),
)
MONTH = (date(2026, 11, 2), date(2026, 12, 5))  # Monday 2 November .. Friday 4 December
CLOSED_MONDAY = date(2026, 11, 23)  # no contacts at all that day: left out of the average


def slot_times() -> list[time]:
    start = datetime.combine(date(2026, 1, 1), FIRST_SLOT)
    return [(start + timedelta(minutes=30 * i)).time() for i in range(len(MONDAY_VOICE))]


def counts_for(profile: QueueProfile, day: date) -> list[int]:
    if day.weekday() == 0:
        return list(profile.monday)
    return [max(2, round(c * OTHER_WEEKDAY_SHARE)) for c in profile.monday]


def generate_month(db: Database) -> None:
    contacts: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    created = datetime(2026, 10, 1, tzinfo=UTC)
    with db.write() as s:
        for tenant in (TENANT, OTHER_TENANT):
            s.add(Tenant(id=tenant, name=tenant, created_at=created))
        s.flush()
        for tenant in (TENANT, OTHER_TENANT):
            for p in PROFILES:
                s.add(QueueRow(tenant_id=tenant, id=p.queue_id, name=p.queue_id, priority=0, schedule=None,
                               avg_handle_seconds=300))  # fmt: skip
    day = MONTH[0]
    while day < MONTH[1]:
        if day.weekday() < 5 and day != CLOSED_MONDAY:
            for p in PROFILES:
                _generate_day(contacts, events, TENANT, p, day, scale=1)
                if day.weekday() == 0:  # another municipality's Mondays, twice as busy
                    _generate_day(contacts, events, OTHER_TENANT, p, day, scale=2)
        day += timedelta(days=1)
    with db.write() as s:
        s.execute(insert(Contact), contacts)
        s.execute(insert(Event), events)


def _generate_day(
    contacts: list[dict[str, object]],
    events: list[dict[str, object]],
    tenant: str,
    p: QueueProfile,
    day: date,
    scale: int,
) -> None:
    for slot, count in zip(slot_times(), counts_for(p, day), strict=True):
        count *= scale
        slot_start = datetime.combine(day, slot, CPH).astimezone(UTC)
        abandon_last = count >= 10 and p.channel is Channel.VOICE
        answered = count - abandon_last
        for i in range(count):
            cid = f"{tenant}-{p.queue_id}-{day.isoformat()}-{slot:%H%M}-{i}"
            queued = slot_start + timedelta(minutes=30) * (i + 0.5) / count
            contacts.append(
                {"id": cid, "tenant_id": tenant, "channel": p.channel, "external_ref": cid, "state": ContactState.CLOSED,
                     "queue_id": p.queue_id, "created_at": queued, "updated_at": queued, "enqueued_at": queued,
                     "offer_attempts": 0, "authenticated": False}
            )  # fmt: skip
            events.append(_event(tenant, cid, EventKind.QUEUED, queued, queue_id=p.queue_id))
            if i >= answered:
                events.append(_event(tenant, cid, EventKind.ABANDONED, queued + timedelta(seconds=45)))
                continue
            offset = 0.0 if (answered % 2 and i == answered - 1) else SPREAD * (1 if i % 2 == 0 else -1)
            accepted = queued + WAIT
            events.append(_event(tenant, cid, EventKind.OFFER_ACCEPTED, accepted))
            closed = accepted + timedelta(seconds=p.handle(slot) + offset)
            events.append(_event(tenant, cid, EventKind.CLOSED, closed, queue_id=p.queue_id))


def _event(tenant: str, contact_id: str, kind: EventKind, at: datetime, **data: object) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "contact_id": contact_id,
        "agent_id": None,
        "kind": kind,
        "at": at,
        "data": data,
    }


@pytest.fixture
def sqlite_db(migrated_sqlite: Path, tmp_path: Path) -> Iterator[Database]:
    """An empty migrated SQLite database of its own."""
    target = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, target)
    database = Database(f"sqlite:///{target}")
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def month_db_url(migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file with the generated month, built once per session (read-only use)."""
    target = tmp_path_factory.mktemp("month") / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, target)
    url = f"sqlite:///{target}"
    database = Database(url)
    try:
        generate_month(database)
    finally:
        database.dispose()
    return url


@pytest.fixture
def month_db(month_db_url: str) -> Iterator[Database]:
    database = Database(month_db_url)
    try:
        yield database
    finally:
        database.dispose()
