"""Forecast a day per queue and half hour from stored history, and staff it.

Forecast (pure, `forecast_day`): for the chosen date, take the same weekday in each of the
previous `weeks` weeks. Days on which the tenant had no queued contact at all (closed,
a public holiday, before kontakt was in use) are left out, so they do not pull the average
down. Per queue and local half hour (Europe/Copenhagen, so 10:00 stays 10:00 across daylight
saving):
    arrivals = Σ contacts queued in the slot / number of days used
    AHT      = mean handling time of the answered contacts of that slot over those days
               + after-contact work; with fewer than `min_samples` answered contacts the
               queue's mean over the whole history is used, and with none at all the queue's
               configured `avg_handle_seconds`.

Staffing (pure, `staffing_table`): per row, by channel:
    voice  Erlang C (Erlang A when a mean patience is given) for the service target, with
           λ = 2·arrivals per hour;
    chat   Erlang C for `concurrency` parallel chats per agent: the formula gives chat slots,
           agents = ⌈slots / concurrency⌉ (each slot treated as one server of the chat AHT);
    e-mail deferred work: the promise is hours, far longer than a half hour, so the slot's
           work is done within it at `email_occupancy`: agents = ⌈A / email_occupancy⌉.
    scheduled = ⌈agents / (1 − shrinkage)⌉: breaks, training, meetings and absence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.capacity.erlang import ServiceTarget, agents_for_target, offered_load
from bot.capacity.errors import CapacityError, NoHistory
from bot.routing.skills import Channel
from bot.storage.db import Database
from bot.storage.history import QueuedSegment, queue_handle_defaults, queued_segments

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
SLOT = timedelta(minutes=30)
SLOTS_PER_HOUR = 2


@dataclass(frozen=True, slots=True)
class ForecastOptions:
    weeks: int = 4
    acw_seconds: float = 30.0  # after-contact work added to each handling time (routing policy)
    min_samples: int = 5

    def __post_init__(self) -> None:
        if self.weeks < 1:
            raise CapacityError(f"weeks = {self.weeks}; average over at least 1 week")
        if self.acw_seconds < 0 or self.min_samples < 1:
            raise CapacityError("acw_seconds must be >= 0 and min_samples >= 1")


@dataclass(frozen=True, slots=True)
class SlotForecast:
    queue_id: str
    channel: Channel
    slot_start: datetime  # aware, Europe/Copenhagen
    arrivals: float  # expected contacts in the half hour
    aht_seconds: float  # handling + after-contact work
    samples: int  # answered contacts behind this slot's AHT (0: a fallback was used)


@dataclass(frozen=True, slots=True)
class DayForecast:
    day: date
    days_used: tuple[date, ...]  # the history days averaged (days without any contact left out)
    slots: tuple[SlotForecast, ...]


DEFAULT_TARGET = ServiceTarget(0.80, 20)  # the concept's first service goal


@dataclass(frozen=True, slots=True)
class StaffingOptions:
    target: ServiceTarget = DEFAULT_TARGET
    shrinkage: float = 0.30
    patience_seconds: float | None = None  # voice only; None = Erlang C
    chat_concurrency: int = 3
    email_occupancy: float = 0.85

    def __post_init__(self) -> None:
        if not 0 <= self.shrinkage < 1:
            raise CapacityError(f"shrinkage = {self.shrinkage!r}; use a share from 0 up to (not incl.) 1")
        if self.chat_concurrency < 1 or not 0 < self.email_occupancy <= 1:
            raise CapacityError("chat_concurrency must be >= 1 and email_occupancy in (0, 1]")


@dataclass(frozen=True, slots=True)
class StaffingRow:
    queue_id: str
    channel: Channel
    slot_start: datetime
    arrivals: float
    aht_seconds: float
    offered_load: float  # Erlang
    agents: int  # needed at work in the slot
    scheduled: int  # agents / (1 − shrinkage), rounded up
    service_level: float | None  # None for e-mail (no waiting-time formula)
    asa_seconds: float | None
    occupancy: float
    p_abandon: float = 0.0


def history_days(day: date, weeks: int) -> list[date]:
    """The same weekday in each of the `weeks` weeks before `day`, most recent first."""
    return [day - timedelta(weeks=k) for k in range(1, weeks + 1)]


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of a Copenhagen calendar day, in UTC (23 or 25 hours at DST changes)."""
    start = datetime.combine(day, time(0), COPENHAGEN)
    end = datetime.combine(day + timedelta(days=1), time(0), COPENHAGEN)
    return start.astimezone(UTC), end.astimezone(UTC)


def slot_of(at: datetime) -> time:
    """The local half hour a moment falls in (10:47 UTC+1 -> 10:30)."""
    local = at.astimezone(COPENHAGEN)
    return time(local.hour, 30 * (local.minute // 30))


def forecast_day(
    history: Mapping[date, Sequence[QueuedSegment]],
    day: date,
    *,
    options: ForecastOptions = ForecastOptions(),
    handle_defaults: Mapping[str, float] | None = None,
    queue_id: str | None = None,
) -> DayForecast:
    """Rows per queue and half hour for `day`, from the segments of the days in `history`
    (keyed by local date; only `history_days(day, options.weeks)` are read)."""
    days = [d for d in history_days(day, options.weeks) if history.get(d)]
    if not days:
        raise NoHistory(
            f"no queued contacts on the {options.weeks} {day:%A}s before {day.isoformat()};"
            " choose another date or more --weeks"
        )
    counts: dict[tuple[str, time], int] = defaultdict(int)
    handle: dict[tuple[str, time], list[float]] = defaultdict(list)
    queue_handle: dict[str, list[float]] = defaultdict(list)
    channels: dict[str, Channel] = {}
    for d in days:
        for seg in history[d]:
            if queue_id is not None and seg.queue_id != queue_id:
                continue
            key = (seg.queue_id, slot_of(seg.queued_at))
            counts[key] += 1
            channels.setdefault(seg.queue_id, seg.channel)
            if seg.handle_seconds is not None:
                handle[key].append(seg.handle_seconds)
                queue_handle[seg.queue_id].append(seg.handle_seconds)
    defaults = handle_defaults or {}
    rows: list[SlotForecast] = []
    for (queue, slot), count in sorted(counts.items()):
        samples = handle[(queue, slot)]
        if len(samples) >= options.min_samples:
            mean_handle, used = _mean(samples), len(samples)
        elif queue_handle[queue]:
            mean_handle, used = _mean(queue_handle[queue]), 0
        else:
            mean_handle, used = float(defaults.get(queue, 300)), 0
        rows.append(
            SlotForecast(
                queue_id=queue,
                channel=channels[queue],
                slot_start=datetime.combine(day, slot, COPENHAGEN),
                arrivals=count / len(days),
                aht_seconds=mean_handle + options.acw_seconds,
                samples=used,
            )
        )
    return DayForecast(day=day, days_used=tuple(days), slots=tuple(rows))


def staffing_row(slot: SlotForecast, options: StaffingOptions = StaffingOptions()) -> StaffingRow:
    per_hour = slot.arrivals * SLOTS_PER_HOUR
    load = offered_load(per_hour, slot.aht_seconds)
    if slot.channel is Channel.EMAIL:
        agents = math.ceil(load / options.email_occupancy - 1e-9)
        occupancy = load / agents if agents else 0.0
        return _row(slot, load, agents, None, None, occupancy, 0.0, options)
    if slot.channel is Channel.CHAT:
        slots = agents_for_target(per_hour, slot.aht_seconds, options.target)
        agents = math.ceil(slots.agents / options.chat_concurrency)
        return _row(slot, load, agents, slots.service_level, slots.asa_seconds, slots.occupancy, 0.0, options)
    figures = agents_for_target(per_hour, slot.aht_seconds, options.target, options.patience_seconds)
    return _row(
        slot, load, figures.agents, figures.service_level, figures.asa_seconds, figures.occupancy,
        figures.p_abandon, options,
    )  # fmt: skip


def staffing_table(
    slots: Iterable[SlotForecast], options: StaffingOptions = StaffingOptions()
) -> list[StaffingRow]:
    """One row per queue and half hour, in time order."""
    rows = [staffing_row(s, options) for s in slots]
    return sorted(rows, key=lambda r: (r.slot_start, r.queue_id))


def _row(
    slot: SlotForecast,
    load: float,
    agents: int,
    service_level: float | None,
    asa: float | None,
    occupancy: float,
    p_abandon: float,
    options: StaffingOptions,
) -> StaffingRow:
    return StaffingRow(
        queue_id=slot.queue_id,
        channel=slot.channel,
        slot_start=slot.slot_start,
        arrivals=slot.arrivals,
        aht_seconds=slot.aht_seconds,
        offered_load=load,
        agents=agents,
        scheduled=math.ceil(agents / (1 - options.shrinkage) - 1e-9),
        service_level=service_level,
        asa_seconds=asa,
        occupancy=occupancy,
        p_abandon=p_abandon,
    )


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def forecast_from_database(
    db: Database,
    *,
    tenant_id: str,
    day: date,
    options: ForecastOptions = ForecastOptions(),
    queue_id: str | None = None,
) -> DayForecast:
    """`forecast_day` over the stored contacts of one tenant (read-only)."""
    history: dict[date, list[QueuedSegment]] = {}
    with db.read() as session:
        for d in history_days(day, options.weeks):
            start, end = local_day_bounds(d)
            history[d] = queued_segments(session, tenant_id=tenant_id, start=start, end=end)
        defaults = queue_handle_defaults(session, tenant_id=tenant_id)
    return forecast_day(history, day, options=options, handle_defaults=defaults, queue_id=queue_id)
