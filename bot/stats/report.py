"""Report shapes over the KPIs: the summary as flat JSON-ready values, groups with a stable key
(for the drill-down from a chart bar), one row per contact, and CSV.

Keys of a group: the queue id, channel or topic id (`none` when it never became known), or the
local start of the hour or day with its offset (`2026-12-07T10:00+01:00`), as in
`bot.stats.grouping`. The drill-down passes the same `group_by` and `key` back.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.stats.errors import InvalidStatsQuery
from bot.stats.facts import ContactFacts
from bot.stats.grouping import COPENHAGEN, Period, bucket_of
from bot.stats.kpi import KpiPolicy, Mean, Rate, Summary, queue_result, summary

__all__ = [
    "CONTACT_COLUMNS", "NONE_KEY", "SUMMARY_COLUMNS", "GroupBy", "contact_row", "group_key", "grouped",
    "filtered", "parse_group_by", "summary_values", "to_csv",
]  # fmt: skip

NONE_KEY = "none"


class GroupBy(enum.StrEnum):
    QUEUE = "queue"
    CHANNEL = "channel"
    TOPIC = "topic"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


def parse_group_by(text: str | None) -> GroupBy | None:
    if text is None or not text.strip():
        return None
    try:
        return GroupBy(text.strip())
    except ValueError:
        raise InvalidStatsQuery(
            f"group_by = {text[:40]!r}; send one of {', '.join(g.value for g in GroupBy)}"
        ) from None


_PERIODS = {GroupBy.HOUR: Period.HOUR, GroupBy.DAY: Period.DAY, GroupBy.WEEK: Period.WEEK}


def group_key(f: ContactFacts, by: GroupBy) -> str:
    """The key of the group `f` belongs to (see the module docstring)."""
    if by in _PERIODS:
        return bucket_of(f.opened_at, _PERIODS[by], COPENHAGEN).label
    value = {GroupBy.QUEUE: f.first_queue, GroupBy.CHANNEL: f.channel.value, GroupBy.TOPIC: f.topic}[by]
    return value or NONE_KEY


def grouped(facts: Iterable[ContactFacts], by: GroupBy) -> dict[str, tuple[ContactFacts, ...]]:
    """Contacts per key; time buckets in time order, other keys by size then name."""
    groups: dict[str, list[ContactFacts]] = {}
    for f in facts:
        groups.setdefault(group_key(f, by), []).append(f)
    if by in _PERIODS:
        order = sorted(groups, key=lambda k: min(f.opened_at for f in groups[k]))
    else:
        order = sorted(groups, key=lambda k: (-len(groups[k]), k))
    return {k: tuple(groups[k]) for k in order}


# --- the summary as values ------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "contacts", "offered", "answered", "abandoned", "short_abandons", "service_level", "asa_seconds",
    "longest_wait_seconds", "abandonment_rate", "handled", "average_handle_seconds", "bot_contained",
    "first_contact_resolution", "handoffs", "transfers", "email_deadline_met",
)  # fmt: skip


def _value(v: object) -> float | int | None:
    if isinstance(v, Rate | Mean):
        value = v.value
        return None if value is None else round(value, 4)
    if isinstance(v, float):
        return round(v, 3)
    if isinstance(v, int) or v is None:
        return v
    raise TypeError(f"unexpected summary value {v!r}")


def _parts(v: object) -> dict[str, float] | None:
    if isinstance(v, Rate):
        return {"numerator": v.numerator, "denominator": v.denominator}
    if isinstance(v, Mean):
        return {"total": round(v.total, 3), "count": v.count}
    return None


def summary_values(
    facts: Sequence[ContactFacts],
    policy: KpiPolicy,
    *,
    now: datetime | None = None,
    history: Iterable[ContactFacts] | None = None,
) -> dict[str, Any]:
    """The headline figures as plain values (rates as shares 0..1, None when nothing was
    counted), with `parts` giving every rate's numerator and denominator and every mean's total
    and count, so figures of groups can be added by whoever reads them."""
    s: Summary = summary(facts, policy, now=now, history=history)
    out: dict[str, Any] = {"contacts": len(facts)}
    parts: dict[str, dict[str, float]] = {}
    for name in SUMMARY_COLUMNS[1:]:
        raw = getattr(s, name)
        out[name] = _value(raw)
        p = _parts(raw)
        if p is not None:
            parts[name] = p
    out["parts"] = parts
    return out


# --- one row per contact ------------------------------------------------------------------------

CONTACT_COLUMNS = (
    "contact_id", "channel", "opened_at", "ended_at", "ending", "first_queue", "last_queue", "topic",
    "triage_action", "handoff_reason", "queue_result", "waited_seconds", "handled_seconds", "acw_seconds",
    "outcome", "transfers", "agents", "email_deadline", "first_reply_at", "bot_replies", "bot_min_confidence",
    "feedback",
)  # fmt: skip


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def contact_row(f: ContactFacts, policy: KpiPolicy) -> dict[str, Any]:
    """One contact as shown in the drill-down and the CSV: facts only, no citizen data (the
    pseudonym stays inside the figures)."""
    return {
        "contact_id": f.contact_id,
        "channel": f.channel.value,
        "opened_at": _iso(f.opened_at),
        "ended_at": _iso(f.ended_at),
        "ending": f.ending.value,
        "first_queue": f.first_queue,
        "last_queue": f.last_queue,
        "topic": f.topic,
        "triage_action": f.triage_action.value if f.triage_action else None,
        "handoff_reason": f.handoff_reason.value if f.handoff_reason else None,
        "queue_result": queue_result(f, policy).value,
        "waited_seconds": None if f.waited_seconds is None else round(f.waited_seconds, 1),
        "handled_seconds": None if f.handled_seconds is None else round(f.handled_seconds, 1),
        "acw_seconds": f.acw_seconds,
        "outcome": f.outcome.value if f.outcome else None,
        "transfers": f.transfers,
        "agents": " ".join(f.agent_ids),
        "email_deadline": _iso(f.email_deadline),
        "first_reply_at": _iso(f.first_reply_at),
        "bot_replies": f.bot_replies,
        "bot_min_confidence": f.bot_min_confidence,
        "feedback": " ".join(f"{a.level.value}:{a.question}={a.score}/{a.scale[1]}" for a in f.feedback),
    }


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header row; None as an empty cell. Cells that a spreadsheet would run as a
    formula are prefixed with an apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _numeric(text) else text


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def filtered(
    facts: Iterable[ContactFacts], *, queue: str | None = None, channel: str | None = None,
    by: GroupBy | None = None, key: str | None = None,
) -> tuple[ContactFacts, ...]:
    """Contacts of one queue (first queue) and/or channel, and of one group's key."""
    keep: list[Callable[[ContactFacts], bool]] = []
    if queue is not None:
        keep.append(lambda f: f.first_queue == queue)
    if channel is not None:
        keep.append(lambda f: f.channel.value == channel)
    if by is not None and key is not None:
        keep.append(lambda f: group_key(f, by) == key)
    return tuple(f for f in facts if all(k(f) for k in keep))
