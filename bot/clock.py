"""The one place the product reads the wall clock.

Everything that needs "now" takes a clock (a `Callable[[], datetime]`) or an instant; where the
program starts, that clock is `utcnow`. Tests pass their own clock, and `tests/clock_plugin.py`
can pin this one to a fixed instant to prove no test depends on the real time of day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current instant, aware, in UTC (convert to Europe/Copenhagen only for display)."""
    return datetime.now(UTC)
