"""Grouping contacts for statistics: per queue, channel, topic, and time buckets of 15 minutes,
an hour, a day, an ISO week or a month in local time (Europe/Copenhagen by default).

Buckets are cut on the local clock and keyed by their UTC start, so daylight saving is exact:
the day the clocks go forward has 23 hours, the day they go back 25, and on that day the hour
02:00-03:00 happens twice and gives two buckets (labels 02:00+02:00 and 02:00+01:00).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.routing.skills import Channel
from bot.stats.facts import ContactFacts

__all__ = [
    "COPENHAGEN", "Period", "TimeBucket", "bucket_of", "by_channel", "by_period", "by_queue", "by_topic",
    "group_by",
]  # fmt: skip

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
_K = TypeVar("_K", bound=Hashable)


def group_by(
    facts: Iterable[ContactFacts], key: Callable[[ContactFacts], _K]
) -> dict[_K, tuple[ContactFacts, ...]]:
    """Contacts per key, in first-seen order; pass each group to the KPI functions."""
    groups: dict[_K, list[ContactFacts]] = {}
    for f in facts:
        groups.setdefault(key(f), []).append(f)
    return {k: tuple(v) for k, v in groups.items()}


def by_queue(f: ContactFacts) -> str | None:
    """The first queue: where the contact waited (None: it never reached a queue)."""
    return f.first_queue


def by_channel(f: ContactFacts) -> Channel:
    return f.channel


def by_topic(f: ContactFacts) -> str | None:
    return f.topic


class Period(enum.StrEnum):
    QUARTER_HOUR = "15min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO week, from Monday
    MONTH = "month"


@dataclass(frozen=True, slots=True, order=True)
class TimeBucket:
    """[start, end) in UTC; `label` is the local start with its offset, e.g. 2026-10-25T02:00+01:00."""

    start: datetime
    end: datetime
    label: str


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def bucket_of(at: datetime, period: Period, tz: ZoneInfo = COPENHAGEN) -> TimeBucket:
    """The local-time bucket holding the instant `at` (aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass aware times (UTC)")
    local = at.astimezone(tz)
    if period in (Period.QUARTER_HOUR, Period.HOUR):
        minutes = 15 if period is Period.QUARTER_HOUR else 60
        # replace() keeps `fold`, so the repeated autumn hour stays apart from the first one.
        floor = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
        start = floor.astimezone(UTC)
        end = start + timedelta(minutes=minutes)
        label = floor.isoformat(timespec="minutes")
    else:
        day = local.date()
        if period is Period.DAY:
            first, after = day, day + timedelta(days=1)
        elif period is Period.WEEK:
            first = day - timedelta(days=day.weekday())
            after = first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            after = (first + timedelta(days=32)).replace(day=1)
        start, end = _midnight(first, tz), _midnight(after, tz)
        label = start.astimezone(tz).isoformat(timespec="minutes")
    return TimeBucket(start=start, end=end, label=label)


def by_period(
    period: Period,
    tz: ZoneInfo = COPENHAGEN,
    *,
    when: Callable[[ContactFacts], datetime] = lambda f: f.opened_at,
) -> Callable[[ContactFacts], TimeBucket]:
    """A key for `group_by`: the bucket of the moment the contact arrived (`when`, default
    `opened_at`; pass `lambda f: f.first_queued_at or f.opened_at` to count queue arrivals)."""

    def key(f: ContactFacts) -> TimeBucket:
        return bucket_of(when(f), period, tz)

    return key
