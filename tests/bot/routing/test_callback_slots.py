"""Bookable callback times (calendar.callback_slots) and business time counted backwards
(calendar.subtract_business_hours), over Danish holidays and daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import NaiveDatetime
from bot.routing.calendar import (
    CallbackSlot,
    add_business_hours,
    callback_slots,
    default_schedule,
    format_slot_da,
    schedule_from_mapping,
    subtract_business_hours,
)

CPH = ZoneInfo("Europe/Copenhagen")
WEEKDAYS = default_schedule()  # 08:00-18:00 Monday to Friday, Danish public holidays closed


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)  # type: ignore[misc]


def starts(slots: tuple[CallbackSlot, ...]) -> list[str]:
    return [s.start.strftime("%a %d/%m %H:%M") for s in slots]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("now", "kwargs", "expected"),
    [
        # Wednesday before Easter, 17:00: one slot today, then Skærtorsdag, Langfredag, the weekend
        # and 2. påskedag are closed.
        (local(2026, 4, 1, 17, 0), {}, ["Wed 01/04 17:30", "Tue 07/04 08:00", "Tue 07/04 08:30", "Tue 07/04 09:00",
                                         "Wed 08/04 08:00", "Wed 08/04 08:30"]),
        # The lead time: 17:31 is too late for 17:30-18:00.
        (local(2026, 4, 1, 17, 1), {"count": 1}, ["Tue 07/04 08:00"]),
        # Friday evening: the next weekday; all on one day when per_day is off.
        (local(2026, 3, 6, 19, 0), {"count": 3, "per_day": None}, ["Mon 09/03 08:00", "Mon 09/03 08:30",
                                                                   "Mon 09/03 09:00"]),
        # Hour-long slots, two per day, in the morning.
        (local(2026, 3, 2, 7, 0), {"count": 3, "slot_minutes": 60, "per_day": 2},
         ["Mon 02/03 08:00", "Mon 02/03 09:00", "Tue 03/03 08:00"]),
        # Christmas Eve is not a public holiday but Christmas Day and 2. juledag are.
        (local(2026, 12, 24, 17, 0), {"count": 1, "lead": timedelta(minutes=90)}, ["Mon 28/12 08:00"]),
        (local(2026, 3, 2, 10, 0), {"count": 0}, []),
    ],
)  # fmt: skip
def test_callback_slots(now: datetime, kwargs: dict[str, object], expected: list[str]) -> None:
    assert starts(callback_slots(WEEKDAYS, now, **kwargs)) == expected  # type: ignore[arg-type]


@pytest.mark.unit
def test_callback_slots_lie_wholly_within_opening_hours_across_a_lunch_break() -> None:
    schedule = schedule_from_mapping({d: ["08:00-11:45", "12:30-15:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
    slots = callback_slots(schedule, local(2026, 3, 2, 10, 0), count=4, per_day=None)
    # 11:30-12:00 would run into the break, so after 11:00 the next slot is 12:30
    assert starts(slots) == ["Mon 02/03 10:30", "Mon 02/03 11:00", "Mon 02/03 12:30", "Mon 02/03 13:00"]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert slots[0].start.tzinfo == CPH


@pytest.mark.unit
def test_full_slots_are_left_out() -> None:
    now = local(2026, 3, 2, 7, 0)
    booked = {local(2026, 3, 2, 8, 0).astimezone(UTC): 2, local(2026, 3, 2, 8, 30): 1}
    slots = callback_slots(WEEKDAYS, now, count=2, per_day=None, booked=booked, capacity=2)
    assert starts(slots) == ["Mon 02/03 08:30", "Mon 02/03 09:00"]


@pytest.mark.unit
def test_callback_slots_stop_at_the_horizon() -> None:
    assert callback_slots(WEEKDAYS, local(2026, 3, 6, 19, 0), within=timedelta(days=1)) == ()


@pytest.mark.unit
@pytest.mark.parametrize("kwargs", [{"slot_minutes": 0}, {"count": -1}, {"per_day": 0}, {"capacity": 0}])
def test_callback_slots_refuse_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="callback_slots"):
        callback_slots(WEEKDAYS, local(2026, 3, 2, 10, 0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.unit
def test_callback_slots_refuse_a_naive_now() -> None:
    with pytest.raises(NaiveDatetime):
        callback_slots(WEEKDAYS, datetime(2026, 3, 2, 10, 0))


@pytest.mark.unit
def test_format_slot_da() -> None:
    slot = CallbackSlot(local(2026, 1, 5, 10, 0), local(2026, 1, 5, 10, 30))
    assert format_slot_da(slot) == "mandag den 5. januar mellem kl. 10.00 og 10.30"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("end", "hours", "expected"),
    [
        (local(2026, 3, 2, 12, 0), 1, local(2026, 3, 2, 11, 0)),
        (local(2026, 3, 2, 9, 0), 2, local(2026, 2, 27, 17, 0)),  # back over the weekend
        (local(2026, 4, 7, 9, 0), 2, local(2026, 4, 1, 17, 0)),  # back over Easter
        (local(2026, 3, 2, 12, 0), 0, local(2026, 3, 2, 12, 0)),
        (local(2026, 3, 2, 20, 0), 1, local(2026, 3, 2, 17, 0)),  # from a closed hour
    ],
)  # fmt: skip
def test_subtract_business_hours(end: datetime, hours: float, expected: datetime) -> None:
    assert subtract_business_hours(end, hours, WEEKDAYS) == expected


@pytest.mark.unit
@pytest.mark.parametrize("start", [local(2026, 3, 27, 17, 15), local(2026, 10, 23, 16, 0), local(2026, 12, 23, 17, 0)])
def test_subtract_undoes_add_business_hours(start: datetime) -> None:
    """Across the spring and autumn clock changes and Christmas."""
    due = add_business_hours(start, 2, WEEKDAYS)
    assert subtract_business_hours(due, 2, WEEKDAYS) == start


@pytest.mark.unit
def test_subtract_business_hours_refuses_negative_hours() -> None:
    with pytest.raises(ValueError, match="hours"):
        subtract_business_hours(local(2026, 3, 2, 12, 0), -1, WEEKDAYS)
