"""Public holidays by country and year, with their Danish names: the days a schedule is closed for
(`bot.routing.calendar`).

The `holidays` library is the source. Asked about one country it imports every country's module
and their calendars, some 350 modules: 0.2 s of CPU on a server's first question about a day,
and 10 MB that stayed resident in every serving process (measured under `eval load`), for ten
dates a year. So its Danish answers for the years around now are kept with the code
(`bot/resources/public_holidays_dk.json`, written by `python -m bot.routing.public_holidays`),
and tests/bot/routing/test_public_holidays.py checks every year there against the library. Other
years and countries are asked of the library, as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

TABLE_COUNTRY = "DK"
TABLE_FILE = "public_holidays_dk.json"
TABLE_YEARS = range(2020, 2061)
LANGUAGE = "da"
CATEGORIES = ("public",)


def from_library(country: str, year: int) -> Mapping[date, str]:
    """The library's public holidays of `country` in `year`, named in Danish."""
    import holidays

    found = holidays.country_holidays(country, years=year, language=LANGUAGE, categories=CATEGORIES)
    return MappingProxyType(dict(found.items()))


@lru_cache(maxsize=1)
def _table() -> dict[int, dict[str, str]]:
    data = json.loads(resources.files("bot.resources").joinpath(TABLE_FILE).read_text("utf-8"))
    return {int(year): days for year, days in data["years"].items()}


@lru_cache(maxsize=64)
def public_holidays(country: str, year: int) -> Mapping[date, str]:
    """Day → Danish name of each public holiday of `country` in `year`: from the kept table where
    it holds the year, else from the library."""
    days = _table().get(year) if country == TABLE_COUNTRY else None
    if days is None:
        return from_library(country, year)
    return MappingProxyType({date.fromisoformat(d): name for d, name in days.items()})


def write_table(path: Path, years: range = TABLE_YEARS) -> None:
    """Writes the library's Danish public holidays of `years` to `path` (the kept table)."""
    from importlib.metadata import version

    table = {str(y): {d.isoformat(): name for d, name in sorted(from_library(TABLE_COUNTRY, y).items())}
             for y in years}
    data = {"source": f"holidays {version('holidays')}", "country": TABLE_COUNTRY, "language": LANGUAGE,
            "categories": list(CATEGORIES), "years": table}  # fmt: skip
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    target = Path(str(resources.files("bot.resources").joinpath(TABLE_FILE)))
    write_table(target)
    print(f"wrote {target} ({TABLE_YEARS.start}-{TABLE_YEARS.stop - 1})")
