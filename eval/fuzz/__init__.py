"""`python -m eval fuzz`: bad input against the app that is actually served.

The app is `connectors.app.build_app` (what `python -m bot serve` runs) with explicit settings,
in its own uvicorn process on a loopback port (`eval.fuzz.server`), so a native crash in the
model is seen as the process exit it is, counted, and the server restarted. Cases cover every
route the app serves (read from `app.routes`): the targeted cases of `eval.fuzz.targeted` first,
then `--cases` (default 10,000) seeded cases from `eval.fuzz.generators`: hostile Danish text,
Unicode with long NFKC expansions, lone surrogates, control characters, long texts, huge
numbers, deep JSON, wrong types and content types, oversized bodies, random bytes, raw MIME
(broken structure, bad charsets, huge headers, nested multiparts), signed, forged and tampered
Twilio webhooks, the agent API with and without tokens, and WebSocket sessions with text,
binary and invalid frames.

Requests go one at a time, so the server CPU (utime + stime from /proc) charged to each is
exact; the report gives counts per route, 5xx, crashes, the maximum CPU per request and the
costliest cases. The exit status is non-zero on any 5xx, crash, hang or bad response.
tests/test_fuzz_api.py runs the targeted cases and a few hundred generated ones the same way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from eval.fuzz.cases import Case
from eval.fuzz.report import FuzzReport

__all__ = ["Case", "FuzzReport", "fuzz", "run"]


def fuzz(cases: Iterable[Case], settings: Any, workdir: Path, *, seed: int = 0, timeout: float = 60.0,
         progress: Callable[[int, FuzzReport], None] | None = None) -> FuzzReport:
    """Start the served app in `workdir`, send every case, stop it, and report."""
    from eval.fuzz.runner import Runner
    from eval.fuzz.server import ServerProcess, fuzz_settings, prepare_database

    local = fuzz_settings(settings, workdir)
    prepare_database(local)
    report = FuzzReport(seed=seed)
    started = time.perf_counter()
    with ServerProcess(local, workdir) as server:
        runner = Runner(server, timeout=timeout)
        try:
            for case in cases:
                report.add(runner.run(case))
                if progress is not None:
                    progress(report.cases, report)
        finally:
            runner.close()
            report.server_starts = server.starts
    report.seconds = time.perf_counter() - started
    return report


def all_cases(n: int, seed: int, per_char_nfkc: bool = True) -> list[Case]:
    """The targeted cases, then `n` generated ones over every route of the served app."""
    from eval.fuzz.generators import generate
    from eval.fuzz.routes import routes_of_served_app
    from eval.fuzz.targeted import targeted_cases

    return [*targeted_cases(per_char_nfkc), *generate(routes_of_served_app(), n, seed)]


def run(settings: Any, n: int = 10_000, seed: int = 0, as_json: bool = False, timeout: float = 60.0) -> FuzzReport:
    """What `python -m eval fuzz` runs: prints the report (or its JSON) and returns it."""
    import json

    from eval.__main__ import machine

    def progress(i: int, report: FuzzReport) -> None:
        if i % 500 == 0:
            print(f"  {i} cases, {report.failed} failed, max CPU {report.max_cpu:.2f} s", file=sys.stderr)

    cases = all_cases(n, seed)
    with tempfile.TemporaryDirectory(prefix="kontakt-fuzz-") as tmp:
        report = fuzz(cases, settings, Path(tmp), seed=seed, timeout=timeout, progress=progress)
    report.machine = machine()
    if as_json:
        print(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    return report
