"""Capacity planning for supervisors: the staffing table of a day, forecast from the tenant's own
history (`bot.capacity.forecast`), and a quick Erlang what-if (`bot.capacity.erlang`).

    GET /api/v1/capacity/staffing[?date=2026-12-07][&queue=Q][&weeks=4][&shrinkage=0.3][&target=80/20][&patience=60]
    GET /api/v1/capacity/erlang[?calls=1662][&aht=91][&target=80/20][&patience=60]

Defaults: tomorrow (Copenhagen, by the engine's clock) for `date`, and the concept's peak hour
(1,662 contacts of 91 s, as in `python -m bot capacity`) for the what-if.

Supervisor or admin (an agent gets 403, no token 401); the tenant is the caller's, so there is no
tenant parameter. Query values are read as text and checked here, so a bad one answers 422 with
`{error, message}` naming the parameter and what to send. A day without history is not an
error: the answer has no queues and an empty `days_used`.

The console's staffing page ("Bemanding") has its script at `/agent/static/capacity/staffing.js`,
and its charting library (Chart.js, vendored from npm with its licence) at `/agent/static/vendor/`.
Both are public files, like the console's own.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from bot.api import printable
from bot.api.auth import AgentRoute, DatabaseDep, EngineDep, SupervisorAgent
from bot.capacity.cli import CONCEPT_AHT, CONCEPT_CALLS
from bot.capacity.erlang import QueueFigures, ServiceTarget, agents_for_target, queue_figures
from bot.capacity.errors import CapacityError, NoHistory
from bot.capacity.forecast import (
    COPENHAGEN,
    SLOT,
    ForecastOptions,
    StaffingOptions,
    StaffingRow,
    forecast_from_database,
    staffing_table,
)
from bot.errors import InvalidParameter, KontaktError, http_status
from bot.routing.skills import DEFAULT_POLICY, Channel
from bot.storage import repository

PREFIX = "/api/v1/capacity"
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
MAX_WEEKS = 26
MAX_SHRINKAGE = 0.9
MAX_QUEUE_ID = 64
# What-if bounds: far above any municipal contact centre, low enough that the agent search
# (one Erlang evaluation per candidate, each linear in the agents) answers at once.
MAX_CALLS_PER_HOUR = 20_000.0
MAX_AHT_SECONDS = 3_600.0
MAX_OFFERED_LOAD = 2_000.0  # Erlang C
MAX_OFFERED_LOAD_PATIENCE = 300.0  # Erlang A: each candidate also sums a long queue tail
MIN_TARGET_SHARE = 0.5
MAX_PATIENCE_SECONDS = 3_600.0

STATIC = Path(__file__).resolve().parent / "static"
# Files served as they are, per folder: the staffing page's script, and vendored libraries.
ASSETS = {
    "capacity": {"staffing.js": "text/javascript; charset=utf-8"},
    "vendor": {
        "chart.umd.min.js": "text/javascript; charset=utf-8",
        "chart.js-LICENSE.md": "text/markdown; charset=utf-8",
    },
}


class CapacityRoute(AgentRoute):
    """`AgentRoute` (errors as `{error, message}`, `Cache-Control: no-store`), with invalid
    planning input named `invalid_parameter` for the staffing page (422, bot/errors.py)."""

    def error_body(self, exc: KontaktError) -> tuple[int, dict[str, str]]:
        if isinstance(exc, CapacityError):
            return http_status(exc), {"error": "invalid_parameter", "message": printable(exc, 1000)}
        return super().error_body(exc)


router = APIRouter(tags=["capacity"], route_class=CapacityRoute)


# --- reading the query ----------------------------------------------------------------------------


def parse_day(text: str | None, default: date) -> date:
    if text is None or not text.strip():
        return default
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameter(
            f"date = {printable(text, 40)!r} is not a date; send YYYY-MM-DD, e.g. 2026-12-07"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidParameter(
            f"date = {day.isoformat()} is out of range; send a date from {FIRST_DAY} to {LAST_DAY}"
        )
    return day


def parse_number(
    name: str,
    text: str | None,
    *,
    low: float,
    high: float,
    default: float | None = None,
    low_inclusive: bool = True,
) -> float | None:
    """A finite number in [low, high] (or (low, high] when `low_inclusive` is false)."""
    if text is None or not text.strip():
        return default
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        value = math.nan
    above_low = value >= low if low_inclusive else value > low
    if not math.isfinite(value) or not above_low or value > high:
        bound = "from" if low_inclusive else "above"
        raise InvalidParameter(
            f"{name} = {printable(text, 40)!r}; send a number {bound} {low:g} up to {high:g}"
        )
    return value


def parse_weeks(text: str | None) -> int:
    value = parse_number("weeks", text, low=1, high=MAX_WEEKS, default=4)
    if value is None or value != int(value):
        raise InvalidParameter(
            f"weeks = {printable(text, 40)!r}; send a whole number from 1 up to {MAX_WEEKS}"
        )
    return int(value)


def parse_target(text: str | None) -> ServiceTarget:
    """'80/20' (80 % within 20 s); the error of `ServiceTarget` says what was wrong. A goal
    below half the contacts is refused: it plans nothing useful, and under Erlang A its search
    would start from very few agents."""
    target = ServiceTarget.parse("80/20" if text is None or not text.strip() else text.strip())
    if target.share < MIN_TARGET_SHARE:
        raise InvalidParameter(
            f"service target {target} asks for less than {MIN_TARGET_SHARE:.0%} of the contacts;"
            " send a goal such as 80/20 (80 % answered within 20 s)"
        )
    return target


# --- staffing -------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class TargetOut(_Out):
    share: float
    seconds: float
    text: str

    @classmethod
    def of(cls, target: ServiceTarget) -> TargetOut:
        return cls(share=target.share, seconds=target.seconds, text=str(target))


class SlotOut(_Out):
    time: str  # local start, "10:30"
    end: str  # local end, "11:00"
    slot_start: datetime  # aware, Europe/Copenhagen
    arrivals: float  # expected contacts in the half hour
    aht_seconds: float  # handling + after-contact work
    offered_load: float  # Erlang
    agents: int  # needed at work in the half hour
    scheduled: int  # agents / (1 - shrinkage), rounded up
    service_level: float | None  # share within the target's seconds; None for e-mail
    asa_seconds: float | None
    occupancy: float
    p_abandon: float

    @classmethod
    def of(cls, row: StaffingRow) -> SlotOut:
        asa = row.asa_seconds
        return cls(
            time=f"{row.slot_start:%H:%M}",
            end=f"{row.slot_start + SLOT:%H:%M}",
            slot_start=row.slot_start,
            arrivals=row.arrivals,
            aht_seconds=row.aht_seconds,
            offered_load=row.offered_load,
            agents=row.agents,
            scheduled=row.scheduled,
            service_level=row.service_level,
            asa_seconds=None if asa is None or math.isinf(asa) else asa,
            occupancy=row.occupancy,
            p_abandon=row.p_abandon,
        )


class QueueStaffingOut(_Out):
    id: str
    name: str
    channel: Channel
    contacts: float  # expected over the day
    peak_agents: int
    peak_scheduled: int
    rows: list[SlotOut]


class SlotTotalOut(_Out):
    time: str
    end: str
    arrivals: float
    agents: int
    scheduled: int


class TenantOut(_Out):
    id: str
    name: str


class StaffingOut(_Out):
    tenant: TenantOut
    date: date
    weeks: int
    days_used: list[date]  # the same weekday in earlier weeks that had contacts, most recent first
    target: TargetOut
    shrinkage: float
    patience_seconds: float | None
    acw_seconds: float
    chat_concurrency: int
    queues: list[QueueStaffingOut]  # ordered by name
    slots: list[SlotTotalOut]  # every half hour with contacts, summed over `queues`


@router.get(PREFIX + "/staffing", response_model=StaffingOut)
def staffing(
    agent: SupervisorAgent,
    db: DatabaseDep,
    engine: EngineDep,
    day: Annotated[
        str | None, Query(alias="date", description="The day to staff, YYYY-MM-DD (tomorrow)")
    ] = None,
    queue: Annotated[
        str | None, Query(description="One queue id of my tenant (default: every queue)")
    ] = None,
    weeks: Annotated[
        str | None, Query(description=f"Average the same weekday over 1..{MAX_WEEKS} weeks (4)")
    ] = None,
    shrinkage: Annotated[
        str | None, Query(description="Share of paid time away from contacts, 0..0.9 (0.3)")
    ] = None,
    target: Annotated[str | None, Query(description="Service goal percent/seconds (80/20)")] = None,
    patience: Annotated[
        str | None, Query(description="Mean caller patience in seconds: Erlang A for voice")
    ] = None,
) -> StaffingOut:
    """Per queue and half hour of `date`, for my tenant: forecast contacts and handling time
    (the same weekday over the previous weeks), agents needed (Erlang C, or Erlang A with
    `patience`; chat per slot of the router's concurrency; e-mail as deferred work), agents to
    schedule with shrinkage, and the expected service level. Supervisor or admin."""
    tomorrow = engine.clock().astimezone(COPENHAGEN).date() + timedelta(days=1)
    the_day = parse_day(day, tomorrow)
    n_weeks = parse_weeks(weeks)
    share_away = parse_number("shrinkage", shrinkage, low=0, high=MAX_SHRINKAGE, default=0.30)
    mean_patience = parse_number("patience", patience, low=0, high=MAX_PATIENCE_SECONDS, low_inclusive=False)
    goal = parse_target(target)
    tenant = agent.tenant_id
    with db.read() as session:
        names = {q.id: q.name for q in repository.queues(session, tenant_id=tenant).values()}
    queue_id = None if queue is None or not queue.strip() else queue.strip()
    if queue_id is not None and (len(queue_id) > MAX_QUEUE_ID or queue_id not in names):
        raise InvalidParameter(
            f"queue = {printable(queue_id, 64)!r} is not a queue of tenant {tenant!r};"
            " leave it out for every queue"
        )
    acw = float(DEFAULT_POLICY.acw_seconds)
    concurrency = DEFAULT_POLICY.concurrency[Channel.CHAT]
    options = StaffingOptions(
        target=goal, shrinkage=share_away, patience_seconds=mean_patience, chat_concurrency=concurrency
    )
    try:
        forecast = forecast_from_database(
            db,
            tenant_id=tenant,
            day=the_day,
            queue_id=queue_id,
            options=ForecastOptions(weeks=n_weeks, acw_seconds=acw),
        )
        rows, days_used = staffing_table(forecast.slots, options), forecast.days_used
    except NoHistory:
        rows, days_used = [], ()
    return StaffingOut(
        tenant=TenantOut(id=tenant, name=agent.tenant_name),
        date=the_day,
        weeks=n_weeks,
        days_used=list(days_used),
        target=TargetOut.of(goal),
        shrinkage=share_away,
        patience_seconds=mean_patience,
        acw_seconds=acw,
        chat_concurrency=concurrency,
        queues=_by_queue(rows, names),
        slots=_totals(rows),
    )


def _by_queue(rows: list[StaffingRow], names: dict[str, str]) -> list[QueueStaffingOut]:
    grouped: dict[str, list[StaffingRow]] = {}
    for row in rows:
        grouped.setdefault(row.queue_id, []).append(row)
    out = [
        QueueStaffingOut(
            id=q,
            name=names.get(q, q),
            channel=rs[0].channel,
            contacts=math.fsum(r.arrivals for r in rs),
            peak_agents=max(r.agents for r in rs),
            peak_scheduled=max(r.scheduled for r in rs),
            rows=[SlotOut.of(r) for r in rs],
        )
        for q, rs in grouped.items()
    ]
    return sorted(out, key=lambda q: (q.name.casefold(), q.id))


def _totals(rows: list[StaffingRow]) -> list[SlotTotalOut]:
    by_slot: dict[datetime, list[StaffingRow]] = {}
    for row in rows:
        by_slot.setdefault(row.slot_start, []).append(row)
    return [
        SlotTotalOut(
            time=f"{start:%H:%M}",
            end=f"{start + SLOT:%H:%M}",
            arrivals=math.fsum(r.arrivals for r in rs),
            agents=sum(r.agents for r in rs),
            scheduled=sum(r.scheduled for r in rs),
        )
        for start, rs in sorted(by_slot.items())
    ]


# --- what-if --------------------------------------------------------------------------------------


class FiguresOut(_Out):
    model: str  # erlang_c or erlang_a
    agents: int
    offered_load: float
    service_level: float
    asa_seconds: float | None  # None when the queue grows without bound
    p_wait: float
    occupancy: float
    p_abandon: float

    @classmethod
    def of(cls, f: QueueFigures) -> FiguresOut:
        return cls(
            model=f.model.value,
            agents=f.agents,
            offered_load=f.offered_load,
            service_level=f.service_level,
            asa_seconds=None if math.isinf(f.asa_seconds) else f.asa_seconds,
            p_wait=f.p_wait,
            occupancy=f.occupancy,
            p_abandon=f.p_abandon,
        )


class ErlangOut(_Out):
    calls_per_hour: float
    aht_seconds: float
    target: TargetOut
    patience_seconds: float | None
    needed: FiguresOut  # the fewest agents that reach the target
    neighbours: list[FiguresOut]  # one agent fewer and one more
    erlang_c: FiguresOut | None  # with patience: what Erlang C (nobody hangs up) would need


@router.get(PREFIX + "/erlang", response_model=ErlangOut)
def erlang(
    agent: SupervisorAgent,
    calls: Annotated[str | None, Query(description=f"Contacts per hour ({CONCEPT_CALLS})")] = None,
    aht: Annotated[
        str | None, Query(description=f"Handling time incl. after-contact work, s ({CONCEPT_AHT:g})")
    ] = None,
    target: Annotated[str | None, Query(description="Service goal percent/seconds (80/20)")] = None,
    patience: Annotated[str | None, Query(description="Mean caller patience in seconds: Erlang A")] = None,
) -> ErlangOut:
    """Agents needed for one queue and one hour: Erlang C, or Erlang A with `patience`, with
    the figures for one agent fewer and one more. Supervisor or admin."""
    per_hour = parse_number("calls", calls, low=0, high=MAX_CALLS_PER_HOUR, default=float(CONCEPT_CALLS))
    handle = parse_number("aht", aht, low=0, high=MAX_AHT_SECONDS, default=CONCEPT_AHT, low_inclusive=False)
    assert per_hour is not None and handle is not None  # both have defaults
    mean_patience = parse_number("patience", patience, low=0, high=MAX_PATIENCE_SECONDS, low_inclusive=False)
    goal = parse_target(target)
    most = MAX_OFFERED_LOAD if mean_patience is None else MAX_OFFERED_LOAD_PATIENCE
    if per_hour * handle / 3600 > most:
        model = "Erlang C" if mean_patience is None else "Erlang A (with patience)"
        raise InvalidParameter(
            f"calls × aht / 3600 = {per_hour * handle / 3600:.0f} Erlang; the {model} what-if takes up to"
            f" {most:.0f} Erlang (split the traffic into queues)"
        )
    needed = agents_for_target(per_hour, handle, goal, mean_patience)
    neighbours = [
        queue_figures(n, per_hour, handle, goal.seconds, mean_patience)
        for n in (needed.agents - 1, needed.agents + 1)
        if n > 0
    ]
    return ErlangOut(
        calls_per_hour=per_hour,
        aht_seconds=handle,
        target=TargetOut.of(goal),
        patience_seconds=mean_patience,
        needed=FiguresOut.of(needed),
        neighbours=[FiguresOut.of(f) for f in neighbours],
        erlang_c=FiguresOut.of(agents_for_target(per_hour, handle, goal))
        if mean_patience is not None
        else None,
    )


# --- static files of the staffing page -----------------------------------------------------------


def _asset(folder: str, name: str) -> Response:
    media_type = ASSETS[folder].get(name)
    if media_type is None:
        return JSONResponse(
            {"error": "not_found", "message": f"no file {printable(name, 80)!r} in /agent/static/{folder}/"},
            status_code=404,
        )
    return FileResponse(
        STATIC / folder / name,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def staffing_asset(name: str) -> Response:
    """The staffing page's script (public; holds no data)."""
    return _asset("capacity", name)


def vendor_asset(name: str) -> Response:
    """A vendored third-party file (public; holds no data)."""
    return _asset("vendor", name)


for _path, _endpoint in (("capacity", staffing_asset), ("vendor", vendor_asset)):
    router.add_api_route(
        f"/agent/static/{_path}/{{name}}",
        _endpoint,
        methods=["GET"],
        include_in_schema=False,
        response_model=None,
        route_class_override=APIRoute,  # no `no-store`: these are files, not personal data
    )
