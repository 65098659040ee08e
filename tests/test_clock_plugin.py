"""tests/clock_plugin.py pins the product's one wall clock (`bot.clock.utcnow`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import clock_plugin
import pytest

import bot.clock

pytestmark = pytest.mark.unit


def test_clock_plugin_pins_the_product_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    sunday_night = datetime(2026, 12, 27, 23, 30, tzinfo=ZoneInfo("Europe/Copenhagen"))
    monkeypatch.setattr(clock_plugin, "FAKE_NOW", sunday_night.astimezone(UTC))
    monkeypatch.setattr(bot.clock, "datetime", clock_plugin._FakeDatetime)
    now = bot.clock.utcnow()
    assert now.tzinfo is UTC and timedelta(0) <= now - sunday_night < timedelta(hours=6)  # the session's age


def test_clock_plugin_is_active_exactly_when_asked() -> None:
    pinned = clock_plugin.FAKE_NOW
    now = bot.clock.utcnow()
    if pinned is None:
        assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    else:
        assert pinned <= now < pinned + timedelta(hours=6)
