"""`python -m bot capacity`: agents for a peak hour (Erlang C/A, optionally simulated through
the real router), or a half-hour staffing table for a day from stored history.

    python -m bot capacity --calls 1662 --aht 91 --target 80/20 [--patience 60] [--simulate] [--json]
    python -m bot capacity --from-history --date 2026-12-07 [--tenant T] [--queue Q] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, date, datetime
from typing import Any

from bot.capacity.erlang import QueueFigures, ServiceTarget, agents_for_target, queue_figures
from bot.capacity.errors import CapacityError
from bot.routing.skills import DEFAULT_POLICY, Channel, RoutingPolicy

# The Copenhagen concept's peak hour (Monday 10–11) and what it staffed for it.
CONCEPT_CALLS, CONCEPT_AHT, CONCEPT_AGENTS = 1662, 91.0, 47
SIMULATION_START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def add_capacity_command(sub: Any) -> None:
    p = sub.add_parser(
        "capacity", help="agents needed: Erlang C/A, simulation, or a staffing table from history"
    )
    p.add_argument("--calls", type=float, default=CONCEPT_CALLS, help="contacts per hour (default 1662)")
    p.add_argument("--aht", type=float, default=CONCEPT_AHT, help="handling time incl. after-call work, s")
    p.add_argument("--wrap", type=float, default=20.0, help="the after-call part of --aht, s (simulation)")
    p.add_argument("--target", default="80/20", help="service goal percent/seconds (default 80/20)")
    p.add_argument("--patience", type=float, default=None, help="mean caller patience, s: Erlang A")
    p.add_argument("--simulate", action="store_true", help="also run the real router in a simulation")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours per run (two runs, paired)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed")
    p.add_argument(
        "--from-history", action="store_true", help="staffing table per half hour from the database"
    )
    p.add_argument("--date", type=date.fromisoformat, help="day to staff, YYYY-MM-DD (with --from-history)")
    p.add_argument("--tenant", help="tenant id (default: the only tenant in the database)")
    p.add_argument("--queue", help="one queue only")
    p.add_argument("--weeks", type=int, default=4, help="average the same weekday over this many weeks")
    p.add_argument("--shrinkage", type=float, default=0.30, help="share of paid time off the phones")
    p.add_argument("--acw", type=float, default=DEFAULT_POLICY.acw_seconds, help="after-contact work, s")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run_capacity_command(args: argparse.Namespace, settings: Any) -> int:
    try:
        target = ServiceTarget.parse(args.target)
        if args.from_history:
            if args.date is None:
                raise CapacityError("--from-history needs --date YYYY-MM-DD")
            report = _history_report(args, target, settings.database_url)
        else:
            report = _peak_report(args, target)
    except CapacityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else _text(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The sub-command on its own (for tests and scripts)."""
    from bot.config import Settings

    parser = argparse.ArgumentParser(prog="python -m bot")
    add_capacity_command(parser.add_subparsers(dest="command", required=True))
    return run_capacity_command(parser.parse_args(["capacity", *(argv or [])]), Settings())


# --- peak hour ------------------------------------------------------------------------------------


def _peak_report(args: argparse.Namespace, target: ServiceTarget) -> dict[str, Any]:
    figures = agents_for_target(args.calls, args.aht, target, args.patience)
    report: dict[str, Any] = {
        "kind": "peak",
        "calls_per_hour": args.calls,
        "aht_seconds": args.aht,
        "target": {"share": target.share, "seconds": target.seconds},
        "patience_seconds": args.patience,
        **_figures(figures),
        "neighbours": [
            _figures(queue_figures(n, args.calls, args.aht, target.seconds, args.patience))
            for n in (figures.agents - 1, figures.agents + 1)
            if n > 0
        ],
    }
    if args.patience is not None:
        report["erlang_c"] = _figures(agents_for_target(args.calls, args.aht, target))
    if args.calls == CONCEPT_CALLS and args.aht == CONCEPT_AHT:
        concept = queue_figures(CONCEPT_AGENTS, args.calls, args.aht, target.seconds, args.patience)
        report["concept"] = _figures(concept)
    if args.simulate:
        report.update(_simulated(args, target, figures.agents))
    return report


def _figures(f: QueueFigures) -> dict[str, Any]:
    return {
        "model": f.model.value,
        "agents": f.agents,
        "offered_load": round(f.offered_load, 4),
        "service_level": round(f.service_level, 6),
        "asa_seconds": _rounded(f.asa_seconds, 2),
        "p_wait": round(f.p_wait, 4),
        "occupancy": round(f.occupancy, 4),
        "p_abandon": round(f.p_abandon, 4),
    }


def _simulated(args: argparse.Namespace, target: ServiceTarget, agents: int) -> dict[str, Any]:
    from bot.capacity.simulate import AgentGroup, QueueLoad, Scenario, simulate_pair

    wrap = min(max(args.wrap, 0.0), args.aht)
    scenario = Scenario(
        loads=(QueueLoad("peak", Channel.VOICE, args.calls, args.aht - wrap, wrap, args.patience),),
        agents=(AgentGroup("agent", agents, {"peak": 5}),),
        start=SIMULATION_START,
        measure_hours=args.hours,
        warmup_hours=1.0,
        policy=RoutingPolicy(acw_seconds=wrap, default_overflow_after_seconds=None),
        target_seconds=target.seconds,
        seed=args.seed,
    )
    result = simulate_pair(scenario)
    queue = result.queue("peak")
    return {
        "simulated_service_level": round(queue.service_level, 4),
        "simulated_asa_seconds": _rounded(queue.asa_seconds, 2),
        "simulated_abandon_rate": round(queue.abandon_rate, 4),
        "simulated_occupancy": round(result.occupancy, 4),
        "simulated_contacts": queue.offered,
        "simulated_hours": result.measured_hours,
        "seed": args.seed,
    }


def _rounded(value: float, digits: int) -> float | None:
    return None if math.isinf(value) else round(value, digits)


# --- history --------------------------------------------------------------------------------------


def _history_report(args: argparse.Namespace, target: ServiceTarget, database_url: str) -> dict[str, Any]:
    from bot.capacity.forecast import ForecastOptions, StaffingOptions, forecast_from_database, staffing_table
    from bot.storage import Database
    from bot.storage.history import tenant_ids

    db = Database(database_url)
    try:
        tenant = args.tenant
        if tenant is None:
            with db.read() as session:
                tenants = tenant_ids(session)
            if len(tenants) != 1:
                raise CapacityError(f"the database has tenants {tenants}; choose one with --tenant")
            tenant = tenants[0]
        options = ForecastOptions(weeks=args.weeks, acw_seconds=args.acw)
        forecast = forecast_from_database(
            db, tenant_id=tenant, day=args.date, options=options, queue_id=args.queue
        )
    finally:
        db.dispose()
    concurrency = DEFAULT_POLICY.concurrency[Channel.CHAT]
    staffing = StaffingOptions(target=target, shrinkage=args.shrinkage, patience_seconds=args.patience,
                               chat_concurrency=concurrency)  # fmt: skip
    rows = staffing_table(forecast.slots, staffing)
    return {
        "kind": "history",
        "tenant": tenant,
        "date": args.date.isoformat(),
        "days_used": [d.isoformat() for d in forecast.days_used],
        "target": {"share": target.share, "seconds": target.seconds},
        "shrinkage": args.shrinkage,
        "rows": [
            {
                "time": r.slot_start.strftime("%H:%M"),
                "slot_start": r.slot_start.isoformat(),
                "queue": r.queue_id,
                "channel": r.channel.value,
                "contacts": round(r.arrivals, 2),
                "aht_seconds": round(r.aht_seconds, 1),
                "offered_load": round(r.offered_load, 3),
                "agents": r.agents,
                "scheduled": r.scheduled,
                "service_level": None if r.service_level is None else round(r.service_level, 4),
                "asa_seconds": None if r.asa_seconds is None else _rounded(r.asa_seconds, 1),
                "occupancy": round(r.occupancy, 4),
            }
            for r in rows
        ],
    }


# --- text -----------------------------------------------------------------------------------------


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _text(report: dict[str, Any]) -> str:
    return _history_text(report) if report["kind"] == "history" else _peak_text(report)


def _peak_text(r: dict[str, Any]) -> str:
    t = r["target"]
    goal = f"{t['share'] * 100:g} % within {t['seconds']:g} s"
    model = "Erlang A" if r["model"] == "erlang_a" else "Erlang C"
    lines = [
        f"{r['calls_per_hour']:g} contacts/h × {r['aht_seconds']:g} s = {r['offered_load']:.1f} Erlang;"
        f" goal {goal}" + (f"; mean patience {r['patience_seconds']:g} s" if r["patience_seconds"] else ""),
        f"{model}: {r['agents']} agents → {_pct(r['service_level'])} within {t['seconds']:g} s,"
        f" ASA {r['asa_seconds']:.1f} s, P(wait) {_pct(r['p_wait'])}, occupancy {_pct(r['occupancy'])}"
        + (f", {_pct(r['p_abandon'])} abandon" if r["model"] == "erlang_a" else ""),
        "  " + "; ".join(f"{n['agents']} agents: {_pct(n['service_level'])}" for n in r["neighbours"]),
    ]
    if "erlang_c" in r:
        c = r["erlang_c"]
        lines.append(
            f"Erlang C (nobody hangs up) would need {c['agents']} agents ({_pct(c['service_level'])})."
        )
    if "concept" in r:
        c = r["concept"]
        lines.append(
            f"The Copenhagen concept staffed {c['agents']} agents for this hour: {_pct(c['service_level'])}."
        )
    if "simulated_service_level" in r:
        lines.append(
            f"Simulated through the router ({r['simulated_hours']:g} h, seed {r['seed']}): {r['agents']} agents →"
            f" {_pct(r['simulated_service_level'])} within {t['seconds']:g} s, ASA {r['simulated_asa_seconds']:.1f} s,"
            f" occupancy {_pct(r['simulated_occupancy'])}"
            + (f", {_pct(r['simulated_abandon_rate'])} abandon" if r["patience_seconds"] else "")
        )
    return "\n".join(lines)


def _history_text(r: dict[str, Any]) -> str:
    t = r["target"]
    lines = [
        (
            f"{r['tenant']}, {date.fromisoformat(r['date']):%A} {r['date']}: average of {', '.join(r['days_used'])};"
            f" goal {t['share'] * 100:g}/{t['seconds']:g}, shrinkage {r['shrinkage'] * 100:g} %"
        ),
        (
            f"{'time':5}  {'queue':24} {'channel':7} {'contacts':>8} {'AHT s':>6} {'Erlang':>6} {'agents':>6}"
            f" {'sched.':>6} {'SL':>6} {'ASA s':>6}"
        ),
    ]
    for row in r["rows"]:
        sl = "-" if row["service_level"] is None else f"{row['service_level'] * 100:.0f} %"
        asa = "-" if row["asa_seconds"] is None else f"{row['asa_seconds']:.0f}"
        lines.append(
            f"{row['time']:5}  {row['queue'][:24]:24} {row['channel']:7} {row['contacts']:8.1f} {row['aht_seconds']:6.0f}"
            f" {row['offered_load']:6.2f} {row['agents']:6d} {row['scheduled']:6d} {sl:>6} {asa:>6}"
        )
    return "\n".join(lines)
