"""Errors of the statistics fold. Each names the contact, the event and the field at fault."""

from __future__ import annotations

from bot.errors import KontaktError


class StatsError(KontaktError, ValueError):
    """Base class for input the statistics cannot use."""


class MalformedEvent(StatsError):
    """An event row whose data does not follow the event contract in `bot.stats.facts`."""

    def __init__(self, contact_id: str | None, kind: str, problem: str) -> None:
        super().__init__(
            f"contact {contact_id!r}, event {kind!r}: {problem}. "
            "See the event contract at the top of bot/stats/facts.py."
        )
        self.contact_id = contact_id
        self.kind = kind


class NoEvents(StatsError):
    """A contact was folded without any event: there is nothing to count."""


class InvalidStatsQuery(StatsError):
    """A report parameter that cannot be used (a period without an offset, an unknown grouping,
    `to` before `from`); the message names the parameter and what to send."""


class KpiConfigError(StatsError):
    """The KPI configuration (knowledge/kpi.yaml) is missing a value or holds an invalid one."""


class UnderstandingUnavailable(StatsError):
    """The weak-question report needs the loaded language model (embedder and topic classifier)."""
