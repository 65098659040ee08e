"""Metering for settlement between municipalities sharing one contact centre: per tenant, month
(Europe/Copenhagen) and channel, the contacts, how many the bot handled alone and how many a
person handled, the minutes agents spent with them, and how many came in or out of opening hours.

- *bot only*: no agent ever accepted the contact, and it ended in the bot (answered,
  self-service, or left the bot);
- *human handled*: an agent accepted it (however it ended);
- *other*: neither: abandoned in the queue, a message or callback left for the back office, or
  still open;
- *handled minutes*: talk time plus recorded after-contact work (`handled_seconds`,
  `acw_seconds`), in minutes;
- *in / out of hours*: by the moment the contact was opened, on the tenant's schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.routing.calendar import OpeningHours, is_open
from bot.routing.skills import Channel
from bot.stats.facts import ContactFacts, Ending
from bot.stats.grouping import COPENHAGEN, Period, bucket_of

__all__ = ["METERING_COLUMNS", "MeterRow", "metering"]

_BOT_ENDINGS = frozenset({Ending.BOT_ANSWERED, Ending.BOT_SELFSERVICE, Ending.LEFT_IN_BOT})
METERING_COLUMNS = (
    "tenant", "month", "channel", "contacts", "bot_only", "human_handled", "other", "handled_minutes",
    "in_opening_hours", "outside_opening_hours",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MeterRow:
    tenant: str
    month: str  # YYYY-MM, local
    channel: Channel
    contacts: int = 0
    bot_only: int = 0
    human_handled: int = 0
    other: int = 0
    handled_minutes: float = 0.0
    in_opening_hours: int = 0
    outside_opening_hours: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "tenant": self.tenant, "month": self.month, "channel": self.channel.value, "contacts": self.contacts,
            "bot_only": self.bot_only, "human_handled": self.human_handled, "other": self.other,
            "handled_minutes": round(self.handled_minutes, 2), "in_opening_hours": self.in_opening_hours,
            "outside_opening_hours": self.outside_opening_hours,
        }  # fmt: skip


def metering(tenant_id: str, facts: Iterable[ContactFacts], hours: OpeningHours) -> tuple[MeterRow, ...]:
    """One row per month and channel that had contacts, months in order, channels as in `Channel`."""
    acc: dict[tuple[str, Channel], dict[str, float]] = {}
    for f in facts:
        month = bucket_of(f.opened_at, Period.MONTH, COPENHAGEN).label[:7]
        row = acc.setdefault((month, f.channel), dict.fromkeys(METERING_COLUMNS[3:], 0.0))
        row["contacts"] += 1
        if f.answered:
            row["human_handled"] += 1
        elif f.ending in _BOT_ENDINGS:
            row["bot_only"] += 1
        else:
            row["other"] += 1
        row["handled_minutes"] += ((f.handled_seconds or 0.0) + (f.acw_seconds or 0.0)) / 60.0
        row["in_opening_hours" if is_open(f.opened_at, hours) else "outside_opening_hours"] += 1
    order = list(Channel)
    return tuple(
        MeterRow(
            tenant=tenant_id, month=month, channel=channel, contacts=int(v["contacts"]), bot_only=int(v["bot_only"]),
            human_handled=int(v["human_handled"]), other=int(v["other"]), handled_minutes=v["handled_minutes"],
            in_opening_hours=int(v["in_opening_hours"]), outside_opening_hours=int(v["outside_opening_hours"]),
        )
        for (month, channel), v in sorted(acc.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1])))
    )  # fmt: skip
