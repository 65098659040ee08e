"""Time buckets in Europe/Copenhagen across daylight saving (CET +01:00, CEST +02:00).

2026: clocks go forward on Sunday 29 March at 02:00 (01:00 UTC) and back on Sunday 25 October
at 03:00 (01:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.routing.skills import Channel
from bot.stats.facts import ContactFacts, Ending
from bot.stats.grouping import Period, TimeBucket, bucket_of, by_period, group_by


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type, misc]


def contact(cid: str, opened: datetime) -> ContactFacts:
    return ContactFacts("kobenhavn", cid, Channel.CHAT, None, opened, Ending.OPEN)


def test_the_repeated_autumn_hour_gives_two_buckets() -> None:
    first = contact("summer-time", utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    second = contact("winter-time", utc(2026, 10, 25, 1, 30))  # 02:30 CET, an hour later
    groups = group_by([first, second], by_period(Period.HOUR))
    assert sorted(b.label for b in groups) == ["2026-10-25T02:00+01:00", "2026-10-25T02:00+02:00"]
    assert sorted((b.start, b.end) for b in groups) == [
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)),
        (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)),
    ]


def test_the_autumn_day_has_25_hours_and_the_spring_day_23() -> None:
    autumn = bucket_of(utc(2026, 10, 25, 12), Period.DAY)
    assert autumn == TimeBucket(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), "2026-10-25T00:00+02:00")
    assert autumn.end - autumn.start == timedelta(hours=25)
    spring = bucket_of(utc(2026, 3, 29, 12), Period.DAY)
    assert spring == TimeBucket(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), "2026-03-29T00:00+01:00")
    assert spring.end - spring.start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (utc(2026, 3, 28, 22, 59), "2026-03-28"),  # 23:59 CET
        (utc(2026, 3, 28, 23, 0), "2026-03-29"),  # 00:00 CET
        (utc(2026, 3, 29, 21, 59), "2026-03-29"),  # 23:59 CEST
        (utc(2026, 3, 29, 22, 0), "2026-03-30"),  # 00:00 CEST: the spring day ended an hour early in UTC
        (utc(2026, 10, 25, 22, 59), "2026-10-25"),  # 23:59 CET: the autumn day ends an hour late
        (utc(2026, 10, 25, 23, 0), "2026-10-26"),
    ],
)
def test_days_turn_at_local_midnight(at: datetime, day: str) -> None:
    assert bucket_of(at, Period.DAY).label[:10] == day


def test_quarter_hours_weeks_and_months() -> None:
    assert bucket_of(utc(2026, 3, 2, 9, 14, 59), Period.QUARTER_HOUR).label == "2026-03-02T10:00+01:00"
    assert bucket_of(utc(2026, 3, 2, 9, 15), Period.QUARTER_HOUR).label == "2026-03-02T10:15+01:00"
    # the ISO week holding Sunday 29 March starts Monday 23 March (CET) and ends Monday 30 (CEST):
    # 7 days less the lost hour
    week = bucket_of(utc(2026, 3, 29, 12), Period.WEEK)
    assert (week.label, week.end - week.start) == ("2026-03-23T00:00+01:00", timedelta(days=7, hours=-1))
    # 00:30 on 1 April (CEST) is April, though it is still 31 March in UTC
    april = bucket_of(utc(2026, 3, 31, 22, 30), Period.MONTH)
    assert april == TimeBucket(utc(2026, 3, 31, 22), utc(2026, 4, 30, 22), "2026-04-01T00:00+02:00")
    december = bucket_of(utc(2026, 12, 31, 22, 59), Period.MONTH)
    assert december.end == utc(2026, 12, 31, 23)  # 1 January 00:00 CET


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        bucket_of(datetime(2026, 3, 2, 9), Period.HOUR)
