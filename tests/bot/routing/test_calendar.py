"""Tests for bot.routing.calendar: opening hours, Danish holidays, DST and SLA deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import (
    ConflictingDateRules,
    InvalidPeriod,
    InvalidScheduleDate,
    KontaktError,
    NaiveDatetime,
    NeverOpen,
    OverlappingPeriods,
    ScheduleError,
    UnknownWeekday,
)
from bot.routing.calendar import (
    COPENHAGEN,
    ClosingReason,
    OpeningHours,
    Period,
    add_business_hours,
    closing_reason,
    default_schedule,
    format_deadline_da,
    is_open,
    iter_open_intervals,
    next_open,
    periods_on,
    public_holiday_name,
    schedule_from_mapping,
)

pytestmark = pytest.mark.unit

CPH = COPENHAGEN
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
DEFAULT = default_schedule()
WEEKDAYS_8_18 = {d: ["08:00-18:00"] for d in WORKDAYS}
LUNCH = schedule_from_mapping({d: ["08:00-12:00", "12:30-18:00"] for d in WORKDAYS})
# Open on Sundays at night, to put the DST switches (02:00-03:00) inside opening hours.
SUNDAY_NIGHT = schedule_from_mapping({"sun": ["00:00-06:00"], "mon": ["08:00-18:00"]})
MUNICIPAL = schedule_from_mapping(
    {
        **WEEKDAYS_8_18,
        "closed_dates": ["12-24", "12-31", "06-05", "2026-05-15"],
        "special": {"2026-12-23": ["08:00-12:00"], "12-30": ["09:00-13:00"]},
    }
)


def cph(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=CPH, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- add_business_hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "schedule", "start", "hours", "expected"),
    [
        ("friday evening to monday", DEFAULT, cph(2026, 1, 9, 17, 30), 2, cph(2026, 1, 12, 9, 30)),
        ("inside hours", DEFAULT, cph(2026, 1, 6, 10, 0), 2, cph(2026, 1, 6, 12, 0)),
        ("ends exactly at closing", DEFAULT, cph(2026, 1, 6, 16, 0), 2, cph(2026, 1, 6, 18, 0)),
        ("fractional hours", DEFAULT, cph(2026, 1, 6, 17, 45), 0.5, cph(2026, 1, 7, 8, 15)),
        ("start before opening", DEFAULT, cph(2026, 1, 6, 6, 15), 2, cph(2026, 1, 6, 10, 0)),
        ("start after closing", DEFAULT, cph(2026, 1, 6, 19, 0), 2, cph(2026, 1, 7, 10, 0)),
        ("start at closing time", DEFAULT, cph(2026, 1, 6, 18, 0), 1, cph(2026, 1, 7, 9, 0)),
        ("start on saturday", DEFAULT, cph(2026, 1, 10, 11, 0), 2, cph(2026, 1, 12, 10, 0)),
        ("zero hours while open", DEFAULT, cph(2026, 1, 6, 11, 7), 0, cph(2026, 1, 6, 11, 7)),
        ("zero hours while closed", DEFAULT, cph(2026, 1, 9, 18, 30), 0, cph(2026, 1, 12, 8, 0)),
        # 2026-04-01 Wed 17:00: 1 h left; Skærtorsdag, Langfredag, weekend, 2. påskedag closed.
        ("before easter", DEFAULT, cph(2026, 4, 1, 17, 0), 2, cph(2026, 4, 7, 9, 0)),
        ("before new year", DEFAULT, cph(2025, 12, 31, 17, 0), 2, cph(2026, 1, 2, 9, 0)),
        ("before kristi himmelfart", DEFAULT, cph(2026, 5, 13, 17, 0), 2, cph(2026, 5, 15, 9, 0)),
        ("before christmas", DEFAULT, cph(2026, 12, 24, 17, 0), 2, cph(2026, 12, 28, 9, 0)),
        # A business week is 50 hours, so 150 hours is exactly three weeks later.
        ("three weeks", DEFAULT, cph(2026, 1, 12, 9, 0), 150, cph(2026, 2, 2, 9, 0)),
        # Mon-Wed 30 h, Easter (Thu, Fri, Mon) closed, Tue-Thu 30 h.
        ("spanning easter", DEFAULT, cph(2026, 3, 30, 8, 0), 60, cph(2026, 4, 9, 18, 0)),
        # 500 hours is exactly ten weeks; the deadline is a closing time, not the next opening.
        ("ten weeks", DEFAULT, cph(2026, 8, 3, 8, 0), 500, cph(2026, 10, 9, 18, 0)),
        ("inside lunch break", LUNCH, cph(2026, 1, 6, 12, 10), 1, cph(2026, 1, 6, 13, 30)),
        ("across lunch break", LUNCH, cph(2026, 1, 6, 11, 0), 2, cph(2026, 1, 6, 13, 30)),
        ("ends at lunch", LUNCH, cph(2026, 1, 6, 11, 0), 1, cph(2026, 1, 6, 12, 0)),
        ("lunch friday evening", LUNCH, cph(2026, 1, 9, 17, 0), 4, cph(2026, 1, 12, 11, 0)),
        # A winter start gives a summer deadline across the March switch (weekday hours).
        ("weekend of spring switch", DEFAULT, cph(2026, 3, 27, 17, 0), 2, cph(2026, 3, 30, 9, 0)),
        ("weekend of autumn switch", DEFAULT, cph(2026, 10, 23, 17, 0), 2, cph(2026, 10, 26, 9, 0)),
        ("extra closed 24 dec", MUNICIPAL, cph(2026, 12, 23, 11, 0), 2, cph(2026, 12, 28, 9, 0)),
        ("special hours 23 dec", MUNICIPAL, cph(2026, 12, 23, 9, 0), 2, cph(2026, 12, 23, 11, 0)),
        ("yearly special 30 dec", MUNICIPAL, cph(2026, 12, 29, 17, 0), 2, cph(2026, 12, 30, 10, 0)),
        ("yearly special then new year", MUNICIPAL, cph(2026, 12, 30, 12, 0), 2, cph(2027, 1, 4, 9, 0)),
        ("grundlovsdag closed", MUNICIPAL, cph(2026, 6, 4, 17, 0), 2, cph(2026, 6, 8, 9, 0)),
        ("one-off closed date", MUNICIPAL, cph(2026, 5, 13, 17, 0), 2, cph(2026, 5, 18, 9, 0)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_calendar_add_business_hours(
    case: str, schedule: OpeningHours, start: datetime, hours: float, expected: datetime
) -> None:
    result = add_business_hours(start, hours, schedule)
    assert result == expected
    assert result.tzinfo is CPH


@pytest.mark.parametrize(
    ("case", "start", "hours", "expected_utc"),
    [
        # Sunday 29 March 2026: 02:00 CET jumps to 03:00 CEST; 00:00-06:00 is 5 real hours.
        ("spring gap", cph(2026, 3, 29, 1, 30), 2, utc(2026, 3, 29, 2, 30)),  # 04:30 CEST
        ("spring, last hours", cph(2026, 3, 29, 0, 0), 5, utc(2026, 3, 29, 4, 0)),  # closes 06:00 CEST
        ("spring, overflows to monday", cph(2026, 3, 29, 0, 0), 6, utc(2026, 3, 30, 7, 0)),  # Mon 09:00 CEST
        # Sunday 25 October 2026: 03:00 CEST falls back to 02:00 CET; 00:00-06:00 is 7 real hours.
        ("autumn repeat", cph(2026, 10, 25, 1, 30), 2, utc(2026, 10, 25, 1, 30)),  # second 02:30
        ("autumn, last hours", cph(2026, 10, 25, 0, 0), 7, utc(2026, 10, 25, 5, 0)),  # closes 06:00 CET
        ("autumn, overflows to monday", cph(2026, 10, 25, 0, 0), 8, utc(2026, 10, 26, 8, 0)),  # Mon 09:00 CET
        ("start in the repeated hour", cph(2026, 10, 25, 2, 30, fold=1), 1, utc(2026, 10, 25, 2, 30)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_calendar_add_business_hours_across_dst(
    case: str, start: datetime, hours: float, expected_utc: datetime
) -> None:
    result = add_business_hours(start, hours, SUNDAY_NIGHT)
    assert result.astimezone(UTC) == expected_utc
    assert result.tzinfo is CPH


def test_calendar_period_boundary_in_spring_gap_is_the_switch() -> None:
    schedule = schedule_from_mapping({"sun": ["02:30-05:00"]})
    opens = next_open(cph(2026, 3, 29, 0, 0), schedule)
    assert opens.astimezone(UTC) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST: the clock never shows 02:30
    # Regular Sundays open at 02:30 local time (5 April is Påskedag, so 12 April).
    assert next_open(cph(2026, 4, 5, 0, 0), schedule) == cph(2026, 4, 12, 2, 30)
    # The shortened period is 2 hours long that night (03:00-05:00 CEST).
    assert add_business_hours(cph(2026, 3, 29, 0, 0), 2, schedule).astimezone(UTC) == utc(2026, 3, 29, 3, 0)


def test_calendar_ambiguous_boundary_is_first_occurrence() -> None:
    schedule = schedule_from_mapping({"sun": ["02:30-05:00"]})
    assert next_open(cph(2026, 10, 25, 0, 0), schedule).astimezone(UTC) == utc(2026, 10, 25, 0, 30)


def test_calendar_add_business_hours_start_in_other_zone() -> None:
    start = utc(2026, 1, 9, 16, 30)  # Friday 17:30 in Copenhagen
    result = add_business_hours(start, 2, default_schedule())
    assert result == cph(2026, 1, 12, 9, 30)
    assert result.tzinfo is CPH


def test_calendar_add_business_hours_is_consistent_with_intervals() -> None:
    start = cph(2026, 3, 20, 15, 0)
    total = timedelta()
    for opens, closes in iter_open_intervals(start, LUNCH):
        total += closes - opens
        if total >= timedelta(hours=40):
            break
    assert add_business_hours(start, 40, LUNCH) == closes - (total - timedelta(hours=40))


@pytest.mark.parametrize("hours", [-1, -0.01, float("nan"), float("inf")])
def test_calendar_add_business_hours_rejects_bad_hours(hours: float) -> None:
    with pytest.raises(ValueError):
        add_business_hours(cph(2026, 1, 6, 10), hours, default_schedule())


def test_calendar_naive_start_raises() -> None:
    with pytest.raises(NaiveDatetime):
        add_business_hours(datetime(2026, 1, 6, 10), 2, default_schedule())
    with pytest.raises(NaiveDatetime):
        is_open(datetime(2026, 1, 6, 10), default_schedule())
    with pytest.raises(KontaktError):
        format_deadline_da(datetime(2026, 1, 6, 10))


def test_calendar_never_open_schedule_raises() -> None:
    closed = schedule_from_mapping({})
    with pytest.raises(NeverOpen):
        next_open(cph(2026, 1, 6, 10), closed)


# --- holidays ---------------------------------------------------------------------------------

HOLIDAYS_2026 = [
    ("2026-01-01", "Nytårsdag"),
    ("2026-04-02", "Skærtorsdag"),
    ("2026-04-03", "Langfredag"),
    ("2026-04-05", "Påskedag"),
    ("2026-04-06", "Anden påskedag"),
    ("2026-05-14", "Kristi himmelfartsdag"),
    ("2026-05-24", "Pinsedag"),
    ("2026-05-25", "Anden pinsedag"),
    ("2026-12-25", "Juledag"),
    ("2026-12-26", "Anden juledag"),
]
HOLIDAYS_2027 = [
    ("2027-01-01", "Nytårsdag"),
    ("2027-03-25", "Skærtorsdag"),
    ("2027-03-26", "Langfredag"),
    ("2027-03-28", "Påskedag"),
    ("2027-03-29", "Anden påskedag"),
    ("2027-05-06", "Kristi himmelfartsdag"),
    ("2027-05-16", "Pinsedag"),
    ("2027-05-17", "Anden pinsedag"),
    ("2027-12-25", "Juledag"),
    ("2027-12-26", "Anden juledag"),
]
ALL_WEEK = schedule_from_mapping({d: ["08:00-18:00"] for d in (*WORKDAYS, "sat", "sun")})


@pytest.mark.parametrize(("day", "name"), HOLIDAYS_2026 + HOLIDAYS_2027)
def test_calendar_public_holidays_are_closed(day: str, name: str) -> None:
    d = date.fromisoformat(day)
    at = cph(d.year, d.month, d.day, 10, 0)
    for schedule in (default_schedule(), ALL_WEEK):  # closed even when the weekday is open
        assert not is_open(at, schedule)
        status = closing_reason(at, schedule)
        assert status.reason is ClosingReason.HOLIDAY
        assert status.holiday_name == name
        assert periods_on(d, schedule) == ()


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027, 2030])
def test_calendar_ten_public_holidays_a_year(year: int) -> None:
    schedule = default_schedule()
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(366)]
    names = [public_holiday_name(d, schedule) for d in days if d.year == year]
    assert sum(n is not None for n in names) == 10
    assert "Store bededag" not in names


def test_calendar_store_bededag_is_a_working_day() -> None:
    assert is_open(cph(2026, 5, 1, 10, 0), default_schedule())  # 4th Friday after Easter 2026


def test_calendar_holidays_can_be_switched_off() -> None:
    schedule = schedule_from_mapping({**WEEKDAYS_8_18, "public_holidays": False})
    assert is_open(cph(2026, 4, 2, 10, 0), schedule)
    assert public_holiday_name(date(2026, 4, 2), schedule) is None


def test_calendar_special_hours_open_a_holiday() -> None:
    schedule = schedule_from_mapping({**WEEKDAYS_8_18, "special": {"2026-04-02": ["10:00-12:00"]}})
    assert is_open(cph(2026, 4, 2, 11, 0), schedule)
    assert closing_reason(cph(2026, 4, 2, 13, 0), schedule).reason is ClosingReason.CLOSED_HOURS


# --- is_open, next_open, closing_reason --------------------------------------------------------

R = ClosingReason


@pytest.mark.parametrize(
    ("case", "schedule", "at", "reason", "opens"),
    [
        ("open", DEFAULT, cph(2026, 1, 6, 10, 0), R.OPEN, cph(2026, 1, 6, 10, 0)),
        ("at opening", DEFAULT, cph(2026, 1, 6, 8, 0), R.OPEN, cph(2026, 1, 6, 8, 0)),
        ("at closing", DEFAULT, cph(2026, 1, 6, 18, 0), R.CLOSED_HOURS, cph(2026, 1, 7, 8, 0)),
        ("early", DEFAULT, cph(2026, 1, 6, 7, 59), R.CLOSED_HOURS, cph(2026, 1, 6, 8, 0)),
        ("saturday", DEFAULT, cph(2026, 1, 10, 10, 0), R.WEEKEND, cph(2026, 1, 12, 8, 0)),
        ("sunday", DEFAULT, cph(2026, 1, 11, 23, 59), R.WEEKEND, cph(2026, 1, 12, 8, 0)),
        ("lunch", LUNCH, cph(2026, 1, 6, 12, 15), R.CLOSED_HOURS, cph(2026, 1, 6, 12, 30)),
        ("after lunch", LUNCH, cph(2026, 1, 6, 12, 30), R.OPEN, cph(2026, 1, 6, 12, 30)),
        ("holiday", DEFAULT, cph(2026, 4, 3, 9, 0), R.HOLIDAY, cph(2026, 4, 7, 8, 0)),
        ("juleaften", MUNICIPAL, cph(2026, 12, 24, 9, 0), R.EXTRA_CLOSED, cph(2026, 12, 28, 8, 0)),
        ("nytårsaften", MUNICIPAL, cph(2026, 12, 31, 9, 0), R.EXTRA_CLOSED, cph(2027, 1, 4, 8, 0)),
        ("grundlovsdag", MUNICIPAL, cph(2026, 6, 5, 9, 0), R.EXTRA_CLOSED, cph(2026, 6, 8, 8, 0)),
        ("23 dec noon", MUNICIPAL, cph(2026, 12, 23, 12, 0), R.CLOSED_HOURS, cph(2026, 12, 28, 8, 0)),
        ("23 dec morning", MUNICIPAL, cph(2026, 12, 23, 11, 59), R.OPEN, cph(2026, 12, 23, 11, 59)),
        ("30 dec early", MUNICIPAL, cph(2026, 12, 30, 8, 30), R.CLOSED_HOURS, cph(2026, 12, 30, 9, 0)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_calendar_status(
    case: str, schedule: OpeningHours, at: datetime, reason: ClosingReason, opens: datetime
) -> None:
    assert closing_reason(at, schedule).reason is reason
    assert is_open(at, schedule) is (reason is ClosingReason.OPEN)
    result = next_open(at, schedule)
    assert result == opens
    assert result.tzinfo is CPH


def test_calendar_next_open_returns_at_itself_when_open() -> None:
    at = utc(2026, 1, 6, 9, 0)
    assert next_open(at, default_schedule()) == at


def test_calendar_yearly_rules_repeat() -> None:
    for year in (2026, 2027, 2031):  # Thursday, Friday, Wednesday
        assert closing_reason(cph(year, 12, 24, 10), MUNICIPAL).reason is ClosingReason.EXTRA_CLOSED
    assert periods_on(date(2027, 12, 30), MUNICIPAL) == (Period.parse("09:00-13:00"),)


def test_calendar_exact_date_beats_yearly_rule() -> None:
    schedule = schedule_from_mapping(
        {**WEEKDAYS_8_18, "closed_dates": ["12-24"], "special": {"2027-12-24": ["09:00-11:00"]}}
    )
    assert is_open(cph(2027, 12, 24, 10, 0), schedule)
    assert not is_open(cph(2026, 12, 24, 10, 0), schedule)


# --- building schedules -------------------------------------------------------------------------


def test_calendar_default_schedule() -> None:
    schedule = default_schedule()
    assert schedule.tz is CPH
    assert [len(day) for day in schedule.weekly] == [1, 1, 1, 1, 1, 0, 0]
    assert str(schedule.weekly[0][0]) == "08:00-18:00"
    assert schedule == schedule_from_mapping(WEEKDAYS_8_18)


def test_calendar_schedule_from_yaml_like_mapping() -> None:
    schedule = schedule_from_mapping(
        {
            "mon": ["12:30-18:00", "08:00-12:00"],  # any order
            "tue": "08:00-18:00",
            "wed": None,
            "thu": [],
            "fri": ["8.00-15.30"],
            "sat": ["22:00-24:00"],
            "closed_dates": [date(2026, 12, 24), "12-31"],  # YAML loads unquoted dates as date
            "special": {date(2026, 12, 23): ["08:00-12:00"], "02-29": ["08:00-09:00"]},
            "timezone": "Europe/Copenhagen",
        }
    )
    assert [str(p) for p in schedule.weekly[0]] == ["08:00-12:00", "12:30-18:00"]
    assert [str(p) for p in schedule.weekly[4]] == ["08:00-15:30"]
    assert schedule.weekly[2] == schedule.weekly[3] == schedule.weekly[6] == ()
    assert schedule.closed_dates == {date(2026, 12, 24)}
    assert schedule.closed_yearly == {(12, 31)}
    assert set(schedule.special) == {date(2026, 12, 23)}
    assert set(schedule.special_yearly) == {(2, 29)}
    assert is_open(cph(2026, 1, 10, 23, 59), schedule)
    assert next_open(cph(2026, 1, 10, 21, 0), schedule) == cph(2026, 1, 10, 22, 0)


def test_calendar_schedule_in_other_time_zone() -> None:
    faroe = {"timezone": "Atlantic/Faroe", "public_holidays": False}
    schedule = schedule_from_mapping({**WEEKDAYS_8_18, **faroe})
    result = add_business_hours(utc(2026, 1, 9, 17, 30), 2, schedule)
    assert result.tzinfo == ZoneInfo("Atlantic/Faroe")
    assert result == datetime(2026, 1, 12, 9, 30, tzinfo=ZoneInfo("Atlantic/Faroe"))


def test_calendar_touching_periods_are_allowed() -> None:
    schedule = schedule_from_mapping({"mon": ["08:00-12:00", "12:00-16:00"]})
    assert is_open(cph(2026, 1, 5, 12, 0), schedule)
    assert add_business_hours(cph(2026, 1, 5, 11, 0), 2, schedule) == cph(2026, 1, 5, 13, 0)


@pytest.mark.parametrize(
    ("mapping", "error", "fragment"),
    [
        ({"mon": ["08:00-12:00", "11:00-13:00"]}, OverlappingPeriods, "overlap"),
        ({"mon": ["08:00-18:00", "08:00-18:00"]}, OverlappingPeriods, "mon"),
        ({"special": {"2026-12-23": ["08:00-12:00", "09:00-10:00"]}}, OverlappingPeriods, "2026-12-23"),
        ({"mon": ["18:00-08:00"]}, InvalidPeriod, "before"),
        ({"mon": ["08:00-08:00"]}, InvalidPeriod, "before"),
        ({"mon": ["25:00-26:00"]}, InvalidPeriod, "impossible"),
        ({"mon": ["08:60-09:00"]}, InvalidPeriod, "impossible"),
        ({"mon": ["24:30-24:45"]}, InvalidPeriod, "impossible"),
        ({"mon": ["8-18"]}, InvalidPeriod, "08:00-12:00"),
        ({"mon": [800]}, InvalidPeriod, "mon[0]"),
        ({"mon": {"from": "08:00"}}, InvalidPeriod, "mon"),
        ({"monday": ["08:00-18:00"]}, UnknownWeekday, "monday"),
        ({"man": ["08:00-18:00"]}, UnknownWeekday, "mon, tue"),
        ({"closed_dates": ["2026-02-30"]}, InvalidScheduleDate, "2026-02-30"),
        ({"closed_dates": ["13-01"]}, InvalidScheduleDate, "13-01"),
        ({"closed_dates": ["juleaften"]}, InvalidScheduleDate, "MM-DD"),
        ({"closed_dates": "12-24"}, ScheduleError, "list"),
        ({"special": ["2026-12-23"]}, ScheduleError, "special"),
        ({"closed_dates": ["12-24"], "special": {"12-24": ["08:00-12:00"]}}, ConflictingDateRules, "12-24"),
        (
            {"closed_dates": ["2026-12-23"], "special": {"2026-12-23": ["08:00-12:00"]}},
            ConflictingDateRules,
            "2026-12-23",
        ),
        ({"public_holidays": "yes"}, ScheduleError, "public_holidays"),
        ({"timezone": "Europe/Kobenhavn"}, ScheduleError, "timezone"),
    ],
)
def test_calendar_bad_schedules_raise(
    mapping: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        schedule_from_mapping(mapping)
    assert isinstance(info.value, KontaktError)
    assert fragment in str(info.value)


def test_calendar_bad_direct_construction_raises() -> None:
    day = (Period.parse("08:00-18:00"),)
    with pytest.raises(ScheduleError):
        OpeningHours(weekly=(day,) * 5)
    with pytest.raises(OverlappingPeriods):
        OpeningHours(weekly=((Period(480, 600), Period(540, 700)),) + ((),) * 6)
    with pytest.raises(InvalidPeriod):
        Period(600, 480)
    with pytest.raises(InvalidScheduleDate):
        OpeningHours(weekly=((),) * 7, closed_yearly=frozenset({(2, 30)}))


def test_calendar_schedule_is_immutable() -> None:
    schedule = MUNICIPAL
    with pytest.raises(TypeError):
        schedule.special[date(2027, 1, 1)] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        schedule.public_holidays = False  # type: ignore[misc]


# --- Danish formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (cph(2027, 1, 4, 10, 0), "mandag den 4. januar kl. 10.00"),
        (cph(2026, 4, 7, 9, 5), "tirsdag den 7. april kl. 09.05"),
        (cph(2026, 2, 18, 14, 30), "onsdag den 18. februar kl. 14.30"),
        (cph(2026, 5, 21, 8, 0), "torsdag den 21. maj kl. 08.00"),
        (cph(2026, 6, 12, 17, 59), "fredag den 12. juni kl. 17.59"),
        (cph(2026, 3, 28, 23, 0), "lørdag den 28. marts kl. 23.00"),
        (cph(2026, 10, 25, 2, 30, fold=1), "søndag den 25. oktober kl. 02.30"),
        (utc(2026, 12, 31, 23, 30), "fredag den 1. januar kl. 00.30"),  # converted to Copenhagen
        (utc(2026, 7, 1, 6, 0), "onsdag den 1. juli kl. 08.00"),  # summer time
    ],
)
def test_calendar_format_deadline_da(dt: datetime, expected: str) -> None:
    assert format_deadline_da(dt) == expected


def test_calendar_format_deadline_da_with_year() -> None:
    assert format_deadline_da(cph(2026, 8, 3, 9, 0), with_year=True) == "mandag den 3. august 2026 kl. 09.00"
    assert format_deadline_da(cph(2026, 9, 7, 9, 0)) == "mandag den 7. september kl. 09.00"
    assert format_deadline_da(cph(2026, 11, 2, 9, 0)) == "mandag den 2. november kl. 09.00"
    assert format_deadline_da(cph(2026, 12, 7, 9, 0)) == "mandag den 7. december kl. 09.00"


def test_calendar_deadline_message_end_to_end() -> None:
    deadline = add_business_hours(cph(2026, 1, 9, 17, 30), 2, default_schedule())
    assert format_deadline_da(deadline) == "mandag den 12. januar kl. 09.30"
