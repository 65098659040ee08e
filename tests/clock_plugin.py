"""A pytest plugin that moves the product's wall clock to a chosen instant, to prove that no
test depends on when it runs (a Sunday night, Christmas Eve, a daylight-saving weekend).

    KONTAKT_TEST_FAKE_NOW=2026-12-27T23:30:00+01:00 .venv/bin/python -m pytest tests/bot/routing -q

The product reads the wall clock in one place, `bot.clock.utcnow` (the default clock of
`create_app`, the CLI tools); with the variable set, every read there returns that instant plus
the real time elapsed since the session began, so waits and retries still move forward. Tests
that pass their own clock are untouched, as they should be. The variable is read when the
plugin loads, before tests/conftest.py clears every KONTAKT_* variable for hermetic runs.
Without it, nothing is patched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

ENV = "KONTAKT_TEST_FAKE_NOW"
_RAW = os.environ.get(ENV, "").strip()


def _parse(raw: str) -> datetime:
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{ENV}={raw!r} needs a UTC offset, e.g. 2026-12-27T23:30:00+01:00")
    return instant.astimezone(UTC)


FAKE_NOW = _parse(_RAW) if _RAW else None
_STARTED = time.monotonic()


class _FakeDatetime(datetime):
    """`datetime` whose `now()` is the fake instant plus the real time elapsed."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        assert FAKE_NOW is not None
        current = FAKE_NOW + timedelta(seconds=time.monotonic() - _STARTED)
        instant = datetime.fromtimestamp(current.timestamp(), tz=tz or UTC)
        return instant if tz is not None else instant.replace(tzinfo=None)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"product clock pinned: {ENV}={_RAW} ({FAKE_NOW.isoformat()})" if FAKE_NOW else None


@pytest.fixture(autouse=True, scope="session")
def _fake_product_clock() -> Iterator[None]:
    # Session-wide: module- and session-scoped fixtures (an app built once per module) must see
    # the same clock as the tests that use them.
    if FAKE_NOW is None:
        yield
        return
    import bot.clock

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bot.clock, "datetime", _FakeDatetime)
        yield
