"""Public holidays (bot.routing.public_holidays): the Danish table kept with the code is the
`holidays` library's answer for every year it holds, other years and countries are asked of the
library, and a process that asks only about the table's years never imports the library."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from importlib import resources

import pytest

from bot.config import ROOT
from bot.routing.public_holidays import TABLE_COUNTRY, TABLE_FILE, TABLE_YEARS, from_library, public_holidays


def test_public_holidays_table_is_the_librarys_answer_for_every_year_it_holds() -> None:
    kept = json.loads(resources.files("bot.resources").joinpath(TABLE_FILE).read_text("utf-8"))
    assert [int(y) for y in kept["years"]] == list(TABLE_YEARS)
    for year in TABLE_YEARS:
        assert dict(public_holidays(TABLE_COUNTRY, year)) == dict(from_library(TABLE_COUNTRY, year)), (
            f"{TABLE_FILE} differs from the holidays library in {year}: run `python -m bot.routing.public_holidays`"
        )


@pytest.mark.parametrize(("country", "year"), [("DK", TABLE_YEARS.stop), ("DK", TABLE_YEARS.start - 1), ("SE", 2026)])
def test_public_holidays_outside_the_table_come_from_the_library(country: str, year: int) -> None:
    assert dict(public_holidays(country, year)) == dict(from_library(country, year))
    assert public_holidays(country, year)  # every year has some


def test_public_holidays_names_are_danish() -> None:
    days = public_holidays("DK", 2026)
    assert days[date(2026, 4, 3)] == "Langfredag"
    assert days[date(2026, 12, 26)] == "Anden juledag"
    assert date(2026, 5, 1) not in days  # store bededag is a working day since 2024


ASKING_ABOUT_A_DAY = """
import sys
from datetime import UTC, datetime
from bot.routing import calendar

status = calendar.closing_reason(datetime(2026, 4, 3, 9, tzinfo=UTC), calendar.default_schedule())
print(status.holiday_name, "holidays" in sys.modules)
"""


@pytest.mark.integration
def test_asking_about_a_day_in_the_table_does_not_import_the_library() -> None:
    out = subprocess.run([sys.executable, "-c", ASKING_ABOUT_A_DAY], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Langfredag", "False"]
