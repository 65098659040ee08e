"""Management information for supervisors: the KPI summary (JSON or CSV), one row per contact
(the drill-down behind a chart bar, and CSV), weak questions clustered by meaning, and metering
for settlement between municipalities. The live wallboard and `/metrics` are in
`bot.api.wallboard`.

    GET /api/v1/stats/summary?from=…&to=…[&tenant=…][&queue=…][&channel=…][&group_by=…][&format=csv]
    GET /api/v1/stats/contacts?from=…&to=…[&queue=…][&channel=…][&group_by=…&key=…]
    GET /api/v1/stats/contacts.csv?…   (the same rows as CSV)
    GET /api/v1/stats/questions?from=…&to=…[&threshold=0.8]
    GET /api/v1/stats/metering?month=2026-12[&format=csv]

`from` and `to` are ISO 8601 instants with an offset (`2026-12-07T00:00:00+01:00`), or dates
alone (`2026-12-07`: midnight in Copenhagen); the period is [from, to) and counts the contacts
opened in it. Without them: today in Copenhagen, by the
engine's clock. `group_by` is queue, channel, topic, hour, day or week. CSV is chosen with
`format=csv` or `Accept: text/csv`.

Supervisor or admin (an agent gets 403, no token 401). The tenant is the caller's: `tenant`
may name it, and naming another answers 404 without saying whether it exists. A bad parameter
answers 422 with `{error, message}` naming it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from bot.api import printable
from bot.api.auth import AgentRoute, DatabaseDep, EngineDep, SupervisorAgent
from bot.errors import KontaktError, UnknownTenant
from bot.routing.calendar import default_schedule
from bot.routing.skills import AgentState, Channel
from bot.stats import report
from bot.stats.config import KpiConfigFile, TenantKpi
from bot.stats.errors import InvalidStatsQuery, KpiConfigError, StatsError, UnderstandingUnavailable
from bot.stats.facts import ContactFacts
from bot.stats.grouping import COPENHAGEN
from bot.stats.kpi import occupancy
from bot.stats.metering import METERING_COLUMNS, metering
from bot.stats.questions import Reason, clusters, weak_questions
from bot.stats.service import load_agent_time, load_facts, load_period
from bot.storage import stats as store
from bot.storage.db import Database

PREFIX = "/api/v1/stats"
MAX_PERIOD = timedelta(days=400)
FIRST_YEAR, LAST_YEAR = 2000, 2100  # far enough both ways; keeps date arithmetic away from year 1 and 9999
MAX_QUESTIONS = 2000  # embedded in one report; the newest are kept


class StatsRoute(AgentRoute):
    """`AgentRoute` (401/403/404 as `{error, message}`, `Cache-Control: no-store`), plus 422 for
    a parameter the reports cannot use and 503 when the configuration or the model is missing."""

    def error_body(self, exc: KontaktError) -> tuple[int, dict[str, str]]:
        if isinstance(exc, KpiConfigError | UnderstandingUnavailable):
            return 503, {"error": type(exc).__name__, "message": printable(exc, 1000)}
        if isinstance(exc, StatsError):
            return 422, {"error": "invalid_parameter", "message": printable(exc, 1000)}
        return super().error_body(exc)


router = APIRouter(tags=["reports"], route_class=StatsRoute)


# --- shared reading of the request --------------------------------------------------------------


def kpi_config(request: Request, tenant_id: str) -> TenantKpi:
    """The tenant's KPI configuration (Settings.kpi_file, re-read when it changes)."""
    holder: KpiConfigFile = request.app.state.kpi_config_file  # built with the app (bot.api.create_app)
    return holder.get().for_tenant(tenant_id)


def own_tenant(agent_tenant: str, asked: str | None) -> str:
    if asked is not None and asked.strip() and asked.strip() != agent_tenant:
        raise UnknownTenant(f"no tenant {printable(asked, 64)!r} for this token")
    return agent_tenant


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 instant with an offset, or a date alone (YYYY-MM-DD: midnight in Copenhagen)."""
    if len(text.strip()) == 10:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            pass
        else:
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                return _in_range(name, text, datetime(day.year, day.month, day.day, tzinfo=UTC))
            return datetime(day.year, day.month, day.day, tzinfo=COPENHAGEN).astimezone(UTC)
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidStatsQuery(
            f"{name} = {printable(text, 40)!r} is not an ISO 8601 instant; send e.g. 2026-12-07T00:00:00+01:00"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidStatsQuery(
            f"{name} = {printable(text, 40)!r} has no offset; add one, e.g. +01:00 (Copenhagen in winter) or Z"
        )
    return _in_range(name, text, at.astimezone(UTC))


def _in_range(name: str, text: str, at: datetime) -> datetime:
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise InvalidStatsQuery(f"{name} = {printable(text, 40)!r}; send a time from {FIRST_YEAR} to {LAST_YEAR}")
    return at


def period(engine_now: datetime, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[from, to) in UTC; a missing bound is today's local midnight (from) or the next (to)."""
    today = engine_now.astimezone(COPENHAGEN).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=COPENHAGEN)
    lo = parse_instant("from", start) if start and start.strip() else midnight.astimezone(UTC)
    hi = parse_instant("to", end) if end and end.strip() else (midnight + timedelta(days=1)).astimezone(UTC)
    if hi <= lo:
        raise InvalidStatsQuery(f"to ({hi.isoformat()}) must be after from ({lo.isoformat()})")
    if hi - lo > MAX_PERIOD:
        raise InvalidStatsQuery(f"the period is {(hi - lo).days} days; ask for at most {MAX_PERIOD.days}")
    return lo, hi


def parse_channel(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    if text.strip() not in {c.value for c in Channel}:
        raise InvalidStatsQuery(
            f"channel = {printable(text, 40)!r}; send one of {', '.join(c.value for c in Channel)}"
        )
    return text.strip()


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None and fmt.strip():
        if fmt.strip() not in ("csv", "json"):
            raise InvalidStatsQuery(f"format = {printable(fmt, 20)!r}; send csv or json")
        return fmt.strip() == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def csv_response(text: str, filename: str) -> Response:
    # A byte-order mark lets spreadsheet programs read the Danish letters as UTF-8.
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


From = Annotated[str | None, Query(alias="from", description="Start, ISO 8601 with offset (today 00:00)")]
To = Annotated[str | None, Query(alias="to", description="End (exclusive), ISO 8601 with offset (tomorrow 00:00)")]
TenantQ = Annotated[str | None, Query(description="My tenant's id (optional; another answers 404)")]
QueueQ = Annotated[str | None, Query(description="Only contacts whose first queue is this")]
ChannelQ = Annotated[str | None, Query(description="Only this channel: voice, chat or email")]
GroupQ = Annotated[str | None, Query(description="queue, channel, topic, hour, day or week")]
FormatQ = Annotated[str | None, Query(description="csv or json (default: by the Accept header, else json)")]


class _Query:
    """The facts a report asks for, read once."""

    def __init__(self, request: Request, agent: Any, db: Any, engine: Any, tenant: str | None,
                 start: str | None, end: str | None, queue: str | None, channel: str | None) -> None:  # fmt: skip
        self.tenant = own_tenant(agent.tenant_id, tenant)
        self.now = engine.clock()
        self.start, self.end = period(self.now, start, end)
        self.kpi = kpi_config(request, self.tenant)
        self.policy = self.kpi.policy()
        self.queue = queue.strip() if queue and queue.strip() else None
        self.channel = parse_channel(channel)
        facts, history = load_period(db, tenant_id=self.tenant, start=self.start, end=self.end,
                                     repeat_days=self.kpi.widest_fcr_window_days())  # fmt: skip
        self.history = history
        self.facts = report.filtered(facts, queue=self.queue, channel=self.channel)

    def values(self, rows: tuple[ContactFacts, ...]) -> dict[str, Any]:
        return report.summary_values(rows, self.policy, now=self.now, history=self.history)

    def echo(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "from": self.start.isoformat(), "to": self.end.isoformat(),
                "queue": self.queue, "channel": self.channel}  # fmt: skip


# --- summary -----------------------------------------------------------------------------------


@router.get(PREFIX + "/summary", response_model=None)
def stats_summary(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: TenantQ = None,
    start: From = None, end: To = None, queue: QueueQ = None, channel: ChannelQ = None,
    group_by: GroupQ = None, format: FormatQ = None,
) -> dict[str, Any] | Response:  # fmt: skip
    """The headline KPIs of my tenant's contacts opened in the period (docs/kpi.md), optionally
    per group. Rates are shares 0..1 and `null` when nothing was counted."""
    by = report.parse_group_by(group_by)
    q = _Query(request, agent, db, engine, tenant, start, end, queue, channel)
    total = q.values(q.facts)
    groups = []
    if by is not None:
        for key, rows in report.grouped(q.facts, by).items():
            groups.append({"key": key, **q.values(rows)})
    if wants_csv(request, format):
        head = ("group", *report.SUMMARY_COLUMNS)
        lines = [{"group": g["key"], **g} for g in groups] + [{"group": "total", **total}]
        return csv_response(report.to_csv(lines, head), f"kpi-{q.tenant}-{q.start:%Y%m%d}.csv")
    return {**q.echo(), "group_by": by.value if by else None,
            "thresholds": q.kpi.thresholds.model_dump(), "service_level_target": q.kpi.service_level_target,
            **total, **_agent_figures(db, q), "groups": groups}  # fmt: skip


def _agent_figures(db: Database, q: _Query) -> dict[str, Any]:
    """Occupancy and agents' time by state over the period (up to now): the whole tenant's
    agents, whatever the queue or channel filter (agents are not split by queue)."""
    times = load_agent_time(db, tenant_id=q.tenant, start=q.start, end=max(q.start, min(q.end, q.now)))
    by_state = {state.value: round(sum(t.seconds(state) for t in times.values()), 3) for state in AgentState}
    occ = occupancy(times.values())
    return {"occupancy": occ.value, "agent_seconds": by_state,
            "agents": {a: {st.value: round(t.seconds(st), 3) for st in AgentState} for a, t in times.items()}}  # fmt: skip


# --- one row per contact ---------------------------------------------------------------------------


def _contact_rows(
    request: Request, agent: Any, db: Any, engine: Any, tenant: str | None, start: str | None, end: str | None,
    queue: str | None, channel: str | None, group_by: str | None, key: str | None,
) -> tuple[_Query, list[dict[str, Any]]]:  # fmt: skip
    by = report.parse_group_by(group_by)
    if (by is None) != (key is None or not key.strip()):
        raise InvalidStatsQuery("send group_by and key together (the key of a group from the summary)")
    q = _Query(request, agent, db, engine, tenant, start, end, queue, channel)
    rows = report.filtered(q.facts, by=by, key=key.strip() if key else None)
    return q, [report.contact_row(f, q.policy) for f in rows]


@router.get(PREFIX + "/contacts", response_model=None)
def stats_contacts(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: TenantQ = None,
    start: From = None, end: To = None, queue: QueueQ = None, channel: ChannelQ = None,
    group_by: GroupQ = None, key: Annotated[str | None, Query(description="A group's key from the summary")] = None,
    format: FormatQ = None,
) -> dict[str, Any] | Response:  # fmt: skip
    """The contacts behind a figure: every contact of the period (and group), one row each."""
    q, rows = _contact_rows(request, agent, db, engine, tenant, start, end, queue, channel, group_by, key)
    if wants_csv(request, format):
        return csv_response(report.to_csv(rows, report.CONTACT_COLUMNS), f"contacts-{q.tenant}-{q.start:%Y%m%d}.csv")
    return {**q.echo(), "group_by": group_by, "key": key, "count": len(rows), "contacts": rows}


@router.get(PREFIX + "/contacts.csv", response_model=None)
def stats_contacts_csv(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: TenantQ = None,
    start: From = None, end: To = None, queue: QueueQ = None, channel: ChannelQ = None,
    group_by: GroupQ = None, key: Annotated[str | None, Query(description="A group's key from the summary")] = None,
) -> Response:  # fmt: skip
    """One row per contact as CSV (the same rows as /contacts)."""
    q, rows = _contact_rows(request, agent, db, engine, tenant, start, end, queue, channel, group_by, key)
    return csv_response(report.to_csv(rows, report.CONTACT_COLUMNS), f"contacts-{q.tenant}-{q.start:%Y%m%d}.csv")


# --- weak questions --------------------------------------------------------------------------------


@router.get(PREFIX + "/questions")
def stats_questions(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: TenantQ = None,
    start: From = None, end: To = None,
    threshold: Annotated[float, Query(ge=0.3, le=0.99, description="Cosine similarity to join a cluster")] = 0.8,
) -> dict[str, Any]:  # fmt: skip
    """Citizen messages the bot could not answer, answered with low confidence, or whose answer
    was rated low, clustered by meaning: size, up to three redacted examples, why they are
    weak, and the nearest topic by the topic classifier."""
    tenant_id = own_tenant(agent.tenant_id, tenant)
    lo, hi = period(engine.clock(), start, end)
    with db.read() as s:
        contacts, events = store.contact_log(s, tenant_id=tenant_id, start=lo, end=hi)
        messages = store.citizen_messages(s, tenant_id=tenant_id, contact_ids=[c.id for c in contacts])
    channels = {c.id: c.channel for c in contacts}
    weak = weak_questions(events, messages, channels)[-MAX_QUESTIONS:]
    out: dict[str, Any] = {"tenant": tenant_id, "from": lo.isoformat(), "to": hi.isoformat(),
                           "questions": len(weak), "threshold": threshold, "clusters": []}  # fmt: skip
    if not weak:
        return out
    understanding = request.app.state.understanding
    embedder, classifier = getattr(understanding, "embedder", None), getattr(understanding, "classifier", None)
    if embedder is None or classifier is None:
        raise UnderstandingUnavailable("the weak-question report needs the trained model; run `python -m bot train`")
    texts = [w.text for w in weak]
    vectors = embedder.queries(texts)  # one batch for the whole report
    probs, _ = classifier.predict(texts, vectors)
    labels = list(classifier.labels)
    for c in clusters(vectors, texts, threshold=threshold):
        centre = probs[list(c.members)].mean(axis=0)
        reasons: dict[str, int] = {r.value: 0 for r in Reason}
        for i in c.members:
            for r in weak[i].reasons:
                reasons[r.value] += 1
        out["clusters"].append({
            "size": c.size, "examples": list(c.examples), "nearest_topic": labels[int(centre.argmax())],
            "nearest_topic_probability": round(float(centre.max()), 3), "reasons": reasons,
            "contacts": sorted({weak[i].contact_id for i in c.members}),
        })  # fmt: skip
    return out


# --- metering -----------------------------------------------------------------------------------------


def parse_month(text: str | None, now: datetime) -> date:
    if text is None or not text.strip():
        local = now.astimezone(COPENHAGEN).date()
        return local.replace(day=1)
    try:
        year, month = (int(p) for p in text.strip().split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise InvalidStatsQuery(f"month = {printable(text, 20)!r}; send YYYY-MM, e.g. 2026-12") from None
    if not FIRST_YEAR <= first.year <= LAST_YEAR:
        raise InvalidStatsQuery(f"month = {printable(text, 20)!r}; send a month from {FIRST_YEAR} to {LAST_YEAR}")
    return first


@router.get(PREFIX + "/metering", response_model=None)
def stats_metering(
    request: Request, agent: SupervisorAgent, db: DatabaseDep, engine: EngineDep, tenant: TenantQ = None,
    month: Annotated[str | None, Query(description="YYYY-MM (this month)")] = None, format: FormatQ = None,
) -> dict[str, Any] | Response:  # fmt: skip
    """For settlement: my tenant's contacts in the month per channel, bot only vs handled by a
    person, handled minutes, and in vs outside opening hours (knowledge/tenants.yaml)."""
    tenant_id = own_tenant(agent.tenant_id, tenant)
    first = parse_month(month, engine.clock())
    after = (first + timedelta(days=32)).replace(day=1)
    lo = datetime(first.year, first.month, 1, tzinfo=COPENHAGEN).astimezone(UTC)
    hi = datetime(after.year, after.month, 1, tzinfo=COPENHAGEN).astimezone(UTC)
    known = request.app.state.tenants.by_id.get(tenant_id)
    hours = known.opening_hours() if known is not None else default_schedule()
    rows = [r.as_dict() for r in metering(tenant_id, load_facts(db, tenant_id=tenant_id, start=lo, end=hi), hours)]
    if wants_csv(request, format):
        return csv_response(report.to_csv(rows, METERING_COLUMNS), f"metering-{tenant_id}-{first:%Y-%m}.csv")
    return {"tenant": tenant_id, "month": f"{first:%Y-%m}", "rows": rows}
