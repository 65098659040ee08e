"""Opening hours, Danish public holidays and SLA deadlines.

Pure functions over an `OpeningHours` value; the caller picks the right schedule for the
tenant and queue and passes `now`/`start` in. All arithmetic happens in UTC; results are
returned in the schedule's time zone (Europe/Copenhagen by default).

How one calendar day is resolved (first rule that matches wins):

1. special hours for that exact date ("2026-12-23"),
2. closed on that exact date,
3. special hours every year on that month-day ("12-23"),
4. closed every year on that month-day ("12-24"),
5. a public holiday from the `holidays` library (if `public_holidays` is on; its Danish answers
   for the years around now are kept with the code, `bot.routing.public_holidays`): closed,
6. the weekday's regular periods.

So exact dates beat yearly rules, and special hours beat a public holiday (opening on a
holiday has to be said explicitly).

Wall-clock periods and daylight saving time: a period boundary at wall time T is the first
instant at which the local clock shows T or later. On the spring-forward night a boundary
at 02:30 is therefore 03:00 (the clock never shows 02:30); on the fall-back night a boundary
at 02:30 is its first occurrence. Business time is elapsed time, so a Sunday 00:00-06:00
period is 5 hours long in March and 7 hours long in October.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import (
    ConflictingDateRules,
    InvalidPeriod,
    InvalidScheduleDate,
    NaiveDatetime,
    NeverOpen,
    OverlappingPeriods,
    ScheduleError,
    UnknownWeekday,
)
from bot.routing.public_holidays import public_holidays

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
MINUTES_PER_DAY = 24 * 60
# How many consecutive calendar days without any opening we search before giving up.
SEARCH_HORIZON_DAYS = 3 * 366

MonthDay = tuple[int, int]  # (month, day), for rules that repeat every year


class Weekday(enum.IntEnum):
    """Same numbering as `date.weekday()`."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


class ClosingReason(enum.StrEnum):
    OPEN = "open"
    CLOSED_HOURS = "closed_hours"  # a day with opening hours, but not at this time
    WEEKEND = "weekend"  # Saturday or Sunday without regular hours
    HOLIDAY = "holiday"  # a public holiday; `ClosingStatus.holiday_name` has its Danish name
    EXTRA_CLOSED = "extra_closed"  # a configured closed date (24 Dec, Grundlovsdag, ...)


@dataclass(frozen=True, slots=True)
class ClosingStatus:
    reason: ClosingReason
    holiday_name: str | None = None  # Danish name, only for HOLIDAY

    @property
    def is_open(self) -> bool:
        return self.reason is ClosingReason.OPEN


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """An opening period within one day, in wall-clock minutes after midnight.

    `end_minute` may be 1440 ("24:00"). Build one with `Period.parse("08:00-12:00")`.
    """

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not (0 <= self.start_minute < MINUTES_PER_DAY and 0 < self.end_minute <= MINUTES_PER_DAY):
            raise InvalidPeriod(
                f"period {self} is outside the day; use times from 00:00 to 24:00"
            )
        if self.end_minute <= self.start_minute:
            raise InvalidPeriod(
                f"period {self} ends at or before it starts; write the earlier time first"
                " (periods cannot cross midnight: split them into two days)"
            )

    @classmethod
    def parse(cls, text: str, *, where: str = "period") -> Period:
        """Parse "08:00-12:00" (also "8.00-12.00" and an en dash). Raises `InvalidPeriod`."""
        match = _PERIOD_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidPeriod(f'{where}: {text!r} is not a period; write it like "08:00-12:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = _minutes(h1, m1, text, where), _minutes(h2, m2, text, where)
        if end <= start:
            raise InvalidPeriod(
                f"{where}: {text!r} ends at or before it starts; write the earlier time first"
                " (periods cannot cross midnight)"
            )
        return cls(start, end)

    def __str__(self) -> str:
        return f"{_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"


_PERIOD_RE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–]\s*(\d{1,2})[:.](\d{2})\s*$")


def _minutes(hours: int, minutes: int, text: str, where: str) -> int:
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise InvalidPeriod(f"{where}: {text!r} has an impossible time; use 00:00 to 24:00")
    return hours * 60 + minutes


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


Periods = tuple[Period, ...]


def _check_periods(periods: Periods, where: str) -> Periods:
    """Sort the periods and refuse overlaps; touching periods (12:00/12:00) are allowed."""
    ordered = tuple(sorted(periods))
    for before, after in zip(ordered, ordered[1:]):
        if after.start_minute < before.end_minute:
            raise OverlappingPeriods(
                f"{where}: periods {before} and {after} overlap; make them disjoint or merge them"
            )
    return ordered


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When a queue (of a tenant) is open. Immutable; validate on construction.

    `weekly` has exactly 7 entries, Monday first; an empty tuple means closed all day.
    """

    weekly: tuple[Periods, ...]
    closed_dates: frozenset[date] = frozenset()
    closed_yearly: frozenset[MonthDay] = frozenset()
    special: Mapping[date, Periods] = field(default_factory=dict)
    special_yearly: Mapping[MonthDay, Periods] = field(default_factory=dict)
    public_holidays: bool = True
    holiday_country: str = "DK"
    tz: ZoneInfo = COPENHAGEN

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ScheduleError(
                f"weekly has {len(self.weekly)} entries; give exactly 7, Monday first"
            )
        weekly = tuple(
            _check_periods(tuple(day), Weekday(i).name.lower()) for i, day in enumerate(self.weekly)
        )
        special = {d: _check_periods(tuple(p), f"special {d.isoformat()}") for d, p in self.special.items()}
        special_yearly = {
            md: _check_periods(tuple(p), f"special {_md(md)}") for md, p in self.special_yearly.items()
        }
        for md in (*self.closed_yearly, *special_yearly):
            _validate_month_day(md)
        both = set(self.closed_dates) & set(special)
        both_yearly = set(self.closed_yearly) & set(special_yearly)
        if both or both_yearly:
            names = sorted([d.isoformat() for d in both] + [_md(md) for md in both_yearly])
            raise ConflictingDateRules(
                f"{', '.join(names)} both closed and given special hours; keep only one of them"
            )
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        object.__setattr__(self, "closed_yearly", frozenset(self.closed_yearly))
        object.__setattr__(self, "special", MappingProxyType(special))
        object.__setattr__(self, "special_yearly", MappingProxyType(special_yearly))


def _md(md: MonthDay) -> str:
    return f"{md[0]:02d}-{md[1]:02d}"


def _validate_month_day(md: MonthDay) -> None:
    try:
        date(2000, md[0], md[1])  # a leap year, so 02-29 is allowed
    except (ValueError, TypeError, IndexError):
        raise InvalidScheduleDate(f"{md!r} is not a month and day; write it like \"12-24\"") from None


def default_schedule() -> OpeningHours:
    """Weekdays 08:00-18:00, Danish public holidays closed, Europe/Copenhagen."""
    day = (Period(8 * 60, 18 * 60),)
    return OpeningHours(weekly=(day, day, day, day, day, (), ()))


# --- building a schedule from configuration ------------------------------------------------

WEEKDAY_KEYS: Mapping[str, Weekday] = MappingProxyType({d.name.lower(): d for d in Weekday})
OPTION_KEYS = ("closed_dates", "special", "public_holidays", "timezone")


def schedule_from_mapping(data: Mapping[str, object]) -> OpeningHours:
    """Build `OpeningHours` from a plain (YAML-like) mapping.

    Example::

        {"mon": ["08:00-12:00", "12:30-18:00"], "tue": ["08:00-18:00"], ...,
         "closed_dates": ["12-24", "12-31", "06-05", "2026-12-28"],
         "special": {"2026-12-23": ["08:00-12:00"]},
         "public_holidays": True, "timezone": "Europe/Copenhagen"}

    A weekday that is missing, null or an empty list is closed. Dates are "YYYY-MM-DD" for
    one day or "MM-DD" for every year; `datetime.date` values (as YAML loads them) work too.
    Raises a subclass of `ScheduleError` naming the offending key.
    """
    if not isinstance(data, Mapping):
        raise ScheduleError(f"a schedule must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in WEEKDAY_KEYS and key not in OPTION_KEYS:
            raise UnknownWeekday(
                f"unknown schedule key {key!r}; use weekdays {', '.join(WEEKDAY_KEYS)}"
                f" or options {', '.join(OPTION_KEYS)}"
            )
    weekly = tuple(_parse_periods(data.get(name), name) for name in WEEKDAY_KEYS)

    closed_dates: set[date] = set()
    closed_yearly: set[MonthDay] = set()
    raw_closed = data.get("closed_dates") or []
    if not isinstance(raw_closed, list | tuple):
        raise ScheduleError("closed_dates must be a list of dates like \"2026-12-24\" or \"12-24\"")
    for i, raw in enumerate(raw_closed):
        parsed = _parse_date_rule(raw, f"closed_dates[{i}]")
        (closed_yearly if isinstance(parsed, tuple) else closed_dates).add(parsed)  # type: ignore[arg-type]

    special: dict[date, Periods] = {}
    special_yearly: dict[MonthDay, Periods] = {}
    raw_special = data.get("special") or {}
    if not isinstance(raw_special, Mapping):
        raise ScheduleError('special must map dates to periods, like {"2026-12-23": ["08:00-12:00"]}')
    for raw_key, raw_periods in raw_special.items():
        where = f"special[{raw_key!s}]"
        parsed = _parse_date_rule(raw_key, where)
        periods = _parse_periods(raw_periods, where)
        if isinstance(parsed, tuple):
            special_yearly[parsed] = periods
        else:
            special[parsed] = periods

    public = data.get("public_holidays", True)
    if not isinstance(public, bool):
        raise ScheduleError(f"public_holidays must be true or false, got {public!r}")
    tz_name = data.get("timezone", "Europe/Copenhagen")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone {tz_name!r} is unknown; use an IANA name like Europe/Copenhagen"
        ) from None

    return OpeningHours(
        weekly=weekly,
        closed_dates=frozenset(closed_dates),
        closed_yearly=frozenset(closed_yearly),
        special=special,
        special_yearly=special_yearly,
        public_holidays=public,
        tz=tz,
    )


def _parse_periods(raw: object, where: str) -> Periods:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise InvalidPeriod(f'{where}: expected a list of periods like ["08:00-12:00"], got {raw!r}')
    periods = tuple(Period.parse(item, where=f"{where}[{i}]") for i, item in enumerate(raw))
    return _check_periods(periods, where)


_DATE_RE = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})$")


def _parse_date_rule(raw: object, where: str) -> date | MonthDay:
    if isinstance(raw, datetime):
        raise InvalidScheduleDate(f"{where}: {raw!r} is a datetime; give a date")
    if isinstance(raw, date):
        return raw
    match = _DATE_RE.match(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise InvalidScheduleDate(
            f'{where}: {raw!r} is not a date; write "YYYY-MM-DD" for one day or "MM-DD" for every year'
        )
    year, month, day = match.groups()
    try:
        if year is None:
            _validate_month_day((int(month), int(day)))
            return (int(month), int(day))
        return date(int(year), int(month), int(day))
    except (ValueError, InvalidScheduleDate):
        raise InvalidScheduleDate(f"{where}: {raw!r} is not a real date") from None


# --- resolving days ---------------------------------------------------------------------------


def public_holiday_name(day: date, schedule: OpeningHours) -> str | None:
    """The Danish name of the public holiday on `day`, or None (also if holidays are off)."""
    if not schedule.public_holidays:
        return None
    return public_holidays(schedule.holiday_country, day.year).get(day)


@dataclass(frozen=True, slots=True)
class _Day:
    periods: Periods
    reason: ClosingReason  # why it is closed when no period covers the time
    holiday_name: str | None = None


def _resolve_day(day: date, schedule: OpeningHours) -> _Day:
    md = (day.month, day.day)
    if day in schedule.special:
        return _Day(schedule.special[day], ClosingReason.CLOSED_HOURS)
    if day in schedule.closed_dates:
        return _Day((), ClosingReason.EXTRA_CLOSED)
    if md in schedule.special_yearly:
        return _Day(schedule.special_yearly[md], ClosingReason.CLOSED_HOURS)
    if md in schedule.closed_yearly:
        return _Day((), ClosingReason.EXTRA_CLOSED)
    name = public_holiday_name(day, schedule)
    if name is not None:
        return _Day((), ClosingReason.HOLIDAY, name)
    periods = schedule.weekly[day.weekday()]
    if not periods and day.weekday() >= Weekday.SAT:
        return _Day((), ClosingReason.WEEKEND)
    return _Day(periods, ClosingReason.CLOSED_HOURS)


def periods_on(day: date, schedule: OpeningHours) -> Periods:
    """The wall-clock opening periods of one calendar day after all rules are applied."""
    return _resolve_day(day, schedule).periods


def _wall_to_utc(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The first instant at which the local clock on `day` shows `minute` or later."""
    if minute == MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), 0
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # the time exists; fold=0 is its first occurrence
    # In a spring-forward gap: bisect for the transition instant.
    other = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = int(min(first, other).timestamp()), int(max(first, other).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(
            f"{name}={value.isoformat()} has no time zone; pass an aware datetime"
            " (e.g. datetime.now(UTC) or with tzinfo=ZoneInfo('Europe/Copenhagen'))"
        )
    return value


def _open_intervals_utc(start: datetime, schedule: OpeningHours) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals [a, b) in UTC, in order, clipped to begin at `start` at the earliest.

    Raises `NeverOpen` after `SEARCH_HORIZON_DAYS` consecutive days without an opening.
    """
    cursor = _require_aware(start, "start").astimezone(UTC)
    day = cursor.astimezone(schedule.tz).date()
    empty_days = 0
    while True:
        found = False
        for period in _resolve_day(day, schedule).periods:
            a = _wall_to_utc(day, period.start_minute, schedule.tz)
            b = _wall_to_utc(day, period.end_minute, schedule.tz)
            a = max(a, cursor)  # clip to start and to earlier intervals (DST can fold them)
            if b <= a:
                continue
            found = True
            yield a, b
            cursor = b
        empty_days = 0 if found else empty_days + 1
        if empty_days > SEARCH_HORIZON_DAYS:
            raise NeverOpen(
                f"no opening hours in the {SEARCH_HORIZON_DAYS} days after"
                f" {day - timedelta(days=empty_days)};"
                " give the schedule at least one weekday with periods"
            )
        day += timedelta(days=1)


def iter_open_intervals(start: datetime, schedule: OpeningHours) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals from `start` on, as (opens, closes) in the schedule's time zone.

    The first interval begins at `start` if it is open then. Intervals never overlap;
    adjacent periods (12:00-12:00) come out as two intervals. The iterator is endless.
    """
    for a, b in _open_intervals_utc(start, schedule):
        yield a.astimezone(schedule.tz), b.astimezone(schedule.tz)


# --- public decisions ---------------------------------------------------------------------------


def is_open(at: datetime, schedule: OpeningHours) -> bool:
    """Whether the queue is open at the instant `at` (periods are [start, end))."""
    return closing_reason(at, schedule).is_open


def next_open(at: datetime, schedule: OpeningHours) -> datetime:
    """`at` itself if open, otherwise the next opening, in the schedule's time zone."""
    a, _ = next(_open_intervals_utc(at, schedule))
    return a.astimezone(schedule.tz)


def closing_reason(at: datetime, schedule: OpeningHours) -> ClosingStatus:
    """Why the queue is closed at `at` (or OPEN). Holidays carry their Danish name."""
    at_utc = _require_aware(at, "at").astimezone(UTC)
    day = at_utc.astimezone(schedule.tz).date()
    resolved = _resolve_day(day, schedule)
    for period in resolved.periods:
        a = _wall_to_utc(day, period.start_minute, schedule.tz)
        b = _wall_to_utc(day, period.end_minute, schedule.tz)
        if a <= at_utc < b:
            return ClosingStatus(ClosingReason.OPEN)
    return ClosingStatus(resolved.reason, resolved.holiday_name)


def add_business_hours(start: datetime, hours: float, schedule: OpeningHours) -> datetime:
    """The instant `hours` of opening time after `start` (e.g. the 2-hour e-mail promise).

    The clock only runs while the schedule is open. A deadline that lands exactly on a
    closing time is returned as that closing time (16:00 + 2 h = 18:00, not 08:00 the next
    day). Zero hours gives `next_open(start)`: `start` if open, else the next opening.
    Raises `NaiveDatetime` for a naive `start` and `ValueError` for negative hours.
    """
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
    remaining = timedelta(hours=hours)
    for a, b in _open_intervals_utc(start, schedule):
        if remaining <= b - a:
            return (a + remaining).astimezone(schedule.tz)
        remaining -= b - a
    raise AssertionError("unreachable: _open_intervals_utc is endless or raises NeverOpen")


def _open_intervals_before_utc(end: datetime, schedule: OpeningHours) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals [a, b) in UTC before `end`, latest first, clipped to end at `end`."""
    cursor = _require_aware(end, "end").astimezone(UTC)
    day = cursor.astimezone(schedule.tz).date()
    empty_days = 0
    while True:
        found = False
        for period in reversed(_resolve_day(day, schedule).periods):
            a = _wall_to_utc(day, period.start_minute, schedule.tz)
            b = min(_wall_to_utc(day, period.end_minute, schedule.tz), cursor)
            if b <= a:
                continue
            found = True
            yield a, b
            cursor = a
        empty_days = 0 if found else empty_days + 1
        if empty_days > SEARCH_HORIZON_DAYS:
            raise NeverOpen(f"no opening hours in the {SEARCH_HORIZON_DAYS} days before {end.isoformat()}")
        day -= timedelta(days=1)


def subtract_business_hours(end: datetime, hours: float, schedule: OpeningHours) -> datetime:
    """The instant `hours` of opening time before `end` (the reverse of `add_business_hours`):
    e.g. when an e-mail due at `end` has used half of its 2-hour promise. Zero hours gives `end`."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
    remaining = timedelta(hours=hours)
    if not remaining:
        return _require_aware(end, "end").astimezone(schedule.tz)
    for a, b in _open_intervals_before_utc(end, schedule):
        if remaining <= b - a:
            return (b - remaining).astimezone(schedule.tz)
        remaining -= b - a
    raise AssertionError("unreachable: _open_intervals_before_utc is endless or raises NeverOpen")


# --- bookable callback times ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class CallbackSlot:
    """A time the citizen can book to be called back: [start, end), in the schedule's time zone."""

    start: datetime
    end: datetime


def callback_slots(
    schedule: OpeningHours,
    now: datetime,
    *,
    slot_minutes: int = 30,
    count: int = 6,
    lead: timedelta = timedelta(minutes=30),
    per_day: int | None = 3,
    within: timedelta = timedelta(days=14),
    booked: Mapping[datetime, int] | None = None,
    capacity: int | None = None,
) -> tuple[CallbackSlot, ...]:
    """The next `count` bookable callback slots: `slot_minutes` long, counted from the start of
    each opening period, wholly inside opening hours (so never on a public holiday or a closed
    date), starting at least `lead` after `now`, at most `per_day` on one local day (so the
    choice spans days) and within `within` of `now`. With `capacity`, a slot whose start has that
    many bookings in `booked` (start instant -> callbacks) is full and left out."""
    _require_aware(now, "now")
    if slot_minutes <= 0 or count < 0 or (per_day is not None and per_day < 1) or (capacity is not None and capacity < 1):
        raise ValueError(
            f"callback_slots needs slot_minutes > 0, count >= 0, per_day >= 1 and capacity >= 1;"
            f" got {slot_minutes}, {count}, {per_day}, {capacity}"
        )
    step = timedelta(minutes=slot_minutes)
    earliest, horizon = now + lead, now + within
    taken = {t.astimezone(UTC): n for t, n in (booked or {}).items()}
    local_midnight = datetime.combine(now.astimezone(schedule.tz).date(), time(0), tzinfo=schedule.tz)
    found: list[CallbackSlot] = []
    on_day: dict[date, int] = {}
    for a, b in _open_intervals_utc(local_midnight, schedule):
        if a >= horizon or len(found) >= count:
            break
        t = a
        while t + step <= b and len(found) < count and t < horizon:
            day = t.astimezone(schedule.tz).date()
            full = capacity is not None and taken.get(t, 0) >= capacity
            if t >= earliest and not full and (per_day is None or on_day.get(day, 0) < per_day):
                found.append(CallbackSlot(t.astimezone(schedule.tz), (t + step).astimezone(schedule.tz)))
                on_day[day] = on_day.get(day, 0) + 1
            t += step
    return tuple(found)


# --- Danish formatting ------------------------------------------------------------------------

WEEKDAYS_DA = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
MONTHS_DA = (
    "januar", "februar", "marts", "april", "maj", "juni",
    "juli", "august", "september", "oktober", "november", "december",
)  # fmt: skip


def format_deadline_da(dt: datetime, tz: ZoneInfo = COPENHAGEN, *, with_year: bool = False) -> str:
    """'mandag den 4. januar kl. 10.00' in local time (optionally with the year)."""
    local = _require_aware(dt, "dt").astimezone(tz)
    year = f" {local.year}" if with_year else ""
    return (
        f"{WEEKDAYS_DA[local.weekday()]} den {local.day}. {MONTHS_DA[local.month - 1]}{year}"
        f" kl. {local.hour:02d}.{local.minute:02d}"
    )


def format_slot_da(slot: CallbackSlot, tz: ZoneInfo = COPENHAGEN) -> str:
    """'mandag den 4. januar mellem kl. 10.00 og 10.30' in local time."""
    end = _require_aware(slot.end, "slot.end").astimezone(tz)
    start = format_deadline_da(slot.start, tz).replace(" kl. ", " mellem kl. ")
    return f"{start} og {end.hour:02d}.{end.minute:02d}"
