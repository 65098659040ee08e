"""Forecast and staffing from a month of stored contacts, checked against the profile that
generated them (tests/bot/capacity/conftest.py)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import insert

from bot.capacity.erlang import ServiceTarget, agents_for_target
from bot.capacity.errors import CapacityError, NoHistory
from bot.capacity.forecast import (
    COPENHAGEN,
    ForecastOptions,
    StaffingOptions,
    forecast_day,
    forecast_from_database,
    history_days,
    local_day_bounds,
    slot_of,
    staffing_table,
)
from bot.routing.skills import Channel
from bot.storage import Database
from bot.storage.history import QueuedSegment, queued_segments
from bot.storage.models import Contact, ContactState, Event, EventKind, QueueRow, Tenant
from tests.bot.capacity.conftest import CLOSED_MONDAY, PROFILES, TENANT, slot_times

DAY = date(2026, 12, 7)  # a Monday; history: 30 Nov, 23 Nov (closed), 16 Nov, 9 Nov
ACW = 20.0
OPTIONS = ForecastOptions(weeks=4, acw_seconds=ACW)


def test_history_days_are_the_same_weekday_back_in_time() -> None:
    assert history_days(DAY, 3) == [date(2026, 11, 30), date(2026, 11, 23), date(2026, 11, 16)]


def test_local_day_bounds_follow_daylight_saving() -> None:
    start, end = local_day_bounds(date(2026, 3, 29))  # clocks go forward: a 23-hour day
    assert end - start == timedelta(hours=23)
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)


def test_slot_of_uses_copenhagen_time() -> None:
    assert slot_of(datetime(2026, 12, 7, 9, 47, tzinfo=UTC)) == time(10, 30)  # winter: UTC+1
    assert slot_of(datetime(2026, 6, 1, 8, 5, tzinfo=UTC)) == time(10, 0)  # summer: UTC+2


def test_forecast_matches_the_generating_profile(month_db: Database) -> None:
    forecast = forecast_from_database(month_db, tenant_id=TENANT, day=DAY, options=OPTIONS)
    assert forecast.days_used == (date(2026, 11, 30), date(2026, 11, 16), date(2026, 11, 9))
    rows = forecast.slots
    by_key = {(r.queue_id, r.slot_start.timetz().replace(tzinfo=None)): r for r in rows}
    assert len(rows) == len(PROFILES) * len(slot_times())
    for profile in PROFILES:
        for slot, count in zip(slot_times(), profile.monday, strict=True):
            row = by_key[(profile.queue_id, slot)]
            # Mondays only (other weekdays carry 70 %), the closed Monday left out, the other
            # tenant's (double) traffic not counted.
            assert row.arrivals == pytest.approx(count)
            assert row.aht_seconds == pytest.approx(profile.handle(slot) + ACW)
            assert row.channel is profile.channel
            assert row.samples >= 5
            assert row.slot_start.tzinfo is COPENHAGEN and row.slot_start.date() == DAY


def test_staffing_table_matches_erlang_on_the_generating_profile(month_db: Database) -> None:
    options = StaffingOptions(target=ServiceTarget(0.8, 20), shrinkage=0.25, chat_concurrency=2,
                              email_occupancy=0.8)  # fmt: skip
    table = staffing_table(
        forecast_from_database(month_db, tenant_id=TENANT, day=DAY, options=OPTIONS).slots, options
    )
    rows = {(r.queue_id, r.slot_start.time()): r for r in table}
    assert [r.slot_start for r in table] == sorted(r.slot_start for r in table)
    for profile in PROFILES:
        for slot, count in zip(slot_times(), profile.monday, strict=True):
            row = rows[(profile.queue_id, slot)]
            aht = profile.handle(slot) + ACW
            if profile.channel is Channel.VOICE:
                expected = agents_for_target(2 * count, aht, options.target).agents
            elif profile.channel is Channel.CHAT:
                expected = math.ceil(agents_for_target(2 * count, aht, options.target).agents / 2)
            else:
                expected = math.ceil(2 * count * aht / 3600 / 0.8)
            assert row.agents == expected, (profile.queue_id, slot)
            assert row.scheduled == math.ceil(expected / 0.75 - 1e-9)
            if profile.channel is not Channel.EMAIL:
                assert row.service_level is not None and row.service_level >= 0.8
    # The Monday 10:00 voice half hour: 21 calls at 270 + 20 s is 3.4 Erlang -> 6 agents, 8 scheduled.
    peak = rows[("borgerservice_basis", time(10, 0))]
    assert (peak.offered_load, peak.agents, peak.scheduled) == (pytest.approx(3.383, abs=0.001), 6, 8)


def test_forecast_for_one_queue(month_db: Database) -> None:
    rows = forecast_from_database(
        month_db, tenant_id=TENANT, day=DAY, options=OPTIONS, queue_id="chat_basis"
    ).slots
    assert {r.queue_id for r in rows} == {"chat_basis"}


def test_no_history_is_an_error_naming_the_date(month_db: Database) -> None:
    with pytest.raises(NoHistory, match="2026-10-05"):
        forecast_from_database(month_db, tenant_id=TENANT, day=date(2026, 10, 5), options=OPTIONS)
    with pytest.raises(NoHistory):
        forecast_from_database(month_db, tenant_id="ukendt", day=DAY, options=OPTIONS)


def test_closed_monday_is_really_empty(month_db: Database) -> None:
    start, end = local_day_bounds(CLOSED_MONDAY)
    with month_db.read() as s:
        assert queued_segments(s, tenant_id=TENANT, start=start, end=end) == []


def _segment(queue: str, at: datetime, handle: float | None) -> QueuedSegment:
    if handle is None:
        return QueuedSegment("c", queue, Channel.VOICE, at)
    answered = at + timedelta(seconds=5)
    return QueuedSegment("c", queue, Channel.VOICE, at, answered, answered + timedelta(seconds=handle),
                         EventKind.CLOSED)  # fmt: skip


def test_thin_slots_fall_back_to_the_queue_mean_then_the_configured_default() -> None:
    monday = date(2026, 11, 30)
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 local
    history = {
        monday: [_segment("q", at, 100.0)] * 6 + [_segment("q", at + timedelta(hours=2), 400.0)]
        + [_segment("r", at, None)]
    }  # fmt: skip
    rows = {
        (r.queue_id, r.slot_start.time()): r
        for r in forecast_day(
            history,
            DAY,
            options=ForecastOptions(weeks=1, acw_seconds=0, min_samples=5),
            handle_defaults={"r": 250},
        ).slots
    }
    assert rows[("q", time(10, 0))].aht_seconds == pytest.approx(100.0)
    assert rows[("q", time(12, 0))].aht_seconds == pytest.approx((6 * 100 + 400) / 7)  # queue mean
    assert rows[("q", time(12, 0))].samples == 0
    assert rows[("r", time(10, 0))].aht_seconds == 250  # nothing answered: the configured default


def test_options_refuse_nonsense() -> None:
    with pytest.raises(CapacityError, match="shrinkage"):
        StaffingOptions(shrinkage=1.0)
    with pytest.raises(CapacityError, match="weeks"):
        ForecastOptions(weeks=0)


def test_history_splits_a_transfer_into_two_segments(sqlite_db: Database) -> None:
    t = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with sqlite_db.write() as s:
        s.add(Tenant(id=TENANT, name=TENANT, created_at=t))
        s.flush()
        for q in ("a", "b"):
            s.add(QueueRow(tenant_id=TENANT, id=q, name=q, priority=0, schedule=None, avg_handle_seconds=300))
        s.flush()
        s.execute(insert(Contact), [{"id": "c1", "tenant_id": TENANT, "channel": Channel.VOICE, "external_ref": "c1",
                                         "state": ContactState.CLOSED, "created_at": t, "updated_at": t}])  # fmt: skip
        timeline = [
            (EventKind.QUEUED, 0, {"queue_id": "a"}), (EventKind.OFFER_ACCEPTED, 10, {}),
            (EventKind.TRANSFERRED, 70, {}), (EventKind.QUEUED, 70, {"queue_id": "b"}),
            (EventKind.OFFER_ACCEPTED, 100, {}), (EventKind.OFFER_ACCEPTED, 101, {}),
            (EventKind.CLOSED, 400, {}),
        ]  # fmt: skip
        s.execute(insert(Event), [{"tenant_id": TENANT, "contact_id": "c1", "kind": k, "at": t + timedelta(seconds=sec),
                                       "data": d} for k, sec, d in timeline])  # fmt: skip
    with sqlite_db.read() as s:
        segments = queued_segments(s, tenant_id=TENANT, start=t, end=t + timedelta(hours=1))
        assert (
            queued_segments(s, tenant_id=TENANT, start=t, end=t + timedelta(hours=1), queue_id="b")
            == segments[1:]
        )
        assert queued_segments(s, tenant_id="andet", start=t, end=t + timedelta(hours=1)) == []
    assert [(g.queue_id, g.wait_seconds, g.handle_seconds, g.end) for g in segments] == [
        ("a", 10.0, 60.0, EventKind.TRANSFERRED),
        ("b", 30.0, 300.0, EventKind.CLOSED),
    ]
