"""What a fuzz run found: counts per route and outcome, failures grouped by cause (each with
its first case and traceback), the server's CPU per request and the costliest cases."""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from eval.fuzz.runner import Outcome, Result

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def cause(result: Result) -> str:
    """A key that groups failures with the same cause: route, outcome, status, and for a
    traceback its last frame inside the project plus the exception line."""
    parts = [result.case.route, result.outcome.value]
    if result.status is not None:
        parts.append(str(result.status))
    detail = result.detail
    if "Traceback" in detail:
        frames = [m for m in _FILE_LINE.finditer(detail) if "/site-packages/" not in m[1]]
        if frames:
            f = frames[-1]
            parts.append(f"{f[1].rsplit('/main/', 1)[-1]}:{f[2]} in {f[3]}")
        lines = [ln for ln in detail.splitlines() if re.match(r"^[A-Za-z_.]+(Error|Exception|Exit|Interrupt)\b", ln)]
        if lines:
            parts.append(lines[-1][:160])
    elif result.outcome is Outcome.CRASH:
        tail = [ln for ln in detail.splitlines() if ln.strip()]
        parts.append(tail[0][:100] if tail else "")
        aborts = [ln for ln in tail if "malloc" in ln or "Assertion" in ln or "Segmentation" in ln]
        if aborts:
            parts.append(aborts[-1][:160])
    return " | ".join(parts)


@dataclass
class FuzzReport:
    seed: int = 0
    cases: int = 0
    seconds: float = 0.0
    by_route: Counter = field(default_factory=Counter)
    by_outcome: Counter = field(default_factory=Counter)
    failures_by_route: Counter = field(default_factory=Counter)
    causes: dict[str, list[Result]] = field(default_factory=lambda: defaultdict(list))
    cpu_total: float = 0.0
    max_cpu: float = 0.0
    slowest: list[tuple[float, int, Result]] = field(default_factory=list)  # min-heap of the costliest
    server_starts: int = 0
    machine: dict[str, Any] = field(default_factory=dict)
    keep_slowest: int = 10

    def add(self, result: Result) -> None:
        self.cases += 1
        self.by_route[result.case.route] += 1
        self.by_outcome[result.outcome.value] += 1
        self.cpu_total += result.cpu_seconds
        self.max_cpu = max(self.max_cpu, result.cpu_seconds)
        entry = (result.cpu_seconds, self.cases, result)
        if len(self.slowest) < self.keep_slowest:
            heapq.heappush(self.slowest, entry)
        else:
            heapq.heappushpop(self.slowest, entry)
        if result.failed:
            self.failures_by_route[result.case.route] += 1
            self.causes[cause(result)].append(result)

    # The names `python -m eval` reads for its exit code.
    @property
    def server_errors(self) -> int:
        return self.by_outcome[Outcome.SERVER_ERROR.value]

    @property
    def crashes(self) -> int:
        return self.by_outcome[Outcome.CRASH.value]

    @property
    def exceptions(self) -> int:
        """Crashes, hangs and dropped connections."""
        return sum(self.by_outcome[o.value] for o in (Outcome.CRASH, Outcome.TIMEOUT, Outcome.DROPPED))

    @property
    def bad_responses(self) -> int:
        return self.by_outcome[Outcome.BAD_RESPONSE.value]

    @property
    def failed(self) -> int:
        return sum(n for o, n in self.by_outcome.items() if o not in (Outcome.OK.value, Outcome.UNSENDABLE.value))

    @property
    def failures(self) -> list[Result]:
        return [r for rs in self.causes.values() for r in rs]

    def costliest(self) -> list[Result]:
        return [r for _, _, r in sorted(self.slowest, key=lambda e: (-e[0], e[1]))]

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "cases": self.cases, "seconds": round(self.seconds, 1),
            "outcomes": dict(self.by_outcome), "server_errors": self.server_errors, "crashes": self.crashes,
            "timeouts": self.by_outcome[Outcome.TIMEOUT.value], "dropped": self.by_outcome[Outcome.DROPPED.value],
            "bad_responses": self.bad_responses, "server_starts": self.server_starts,
            "max_cpu_seconds_per_request": round(self.max_cpu, 3),
            "mean_cpu_seconds_per_request": round(self.cpu_total / self.cases, 4) if self.cases else 0.0,
            "by_route": {r: {"cases": n, "failures": self.failures_by_route[r]} for r, n in sorted(self.by_route.items())},
            "failures": [{"cause": c, "count": len(rs), "example": rs[0].case.describe(), "label": rs[0].case.label,
                          "detail": rs[0].detail[-4000:]} for c, rs in self.causes.items()],
            "costliest": [{"cpu_seconds": round(r.cpu_seconds, 3), "wall_seconds": round(r.wall_seconds, 2),
                           "outcome": r.outcome.value, "case": r.case.describe(120)} for r in self.costliest()],
            "machine": self.machine,
        }  # fmt: skip

    def lines(self, tracebacks: bool = True) -> list[str]:
        out = [
            f"machine:           {self.machine}",
            f"fuzz cases:        {self.cases} (seed {self.seed}) in {self.seconds:.0f} s, "
            f"{self.cases / self.seconds if self.seconds else 0:.1f} cases/s, server started {self.server_starts}×",
            f"outcomes:          {dict(self.by_outcome)}",
            f"5xx responses:     {self.server_errors}",
            f"crashes:           {self.crashes}",
            f"timeouts/dropped:  {self.by_outcome[Outcome.TIMEOUT.value]}/{self.by_outcome[Outcome.DROPPED.value]}",
            f"bad responses:     {self.bad_responses}",
            f"server CPU/request: max {self.max_cpu:.2f} s, mean {self.cpu_total / max(self.cases, 1) * 1000:.1f} ms",
            "cases per route (failures):",
        ]
        out += [f"  {route:55s} {n:6d} ({self.failures_by_route[route]})" for route, n in sorted(self.by_route.items())]
        out.append("costliest cases (server CPU s, wall s):")
        out += [f"  {r.cpu_seconds:7.2f} {r.wall_seconds:7.2f} {r.outcome.value:8s} {r.case.describe(100)}"
                for r in self.costliest()]
        if self.causes:
            out.append(f"failures, by cause ({len(self.causes)} causes):")
        for c, rs in self.causes.items():
            out.append(f"  FAIL ×{len(rs)}: {c}")
            out.append(f"       e.g. {rs[0].case.describe(240)}")
            if tracebacks and rs[0].detail:
                out += ["       " + ln for ln in rs[0].detail[-2500:].splitlines()]
        return out
