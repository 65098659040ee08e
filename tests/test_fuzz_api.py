"""Bad input never breaks the served app: `connectors.app.build_app` with explicit settings runs
in its own uvicorn process (eval/fuzz/server.py), so a native crash in the model is a process
exit the test sees. Every targeted case (eval/fuzz/targeted.py: NFKC bombs on every channel,
CPU-heavy texts, ids past int64, an unknown tenant, Digits=², odd WebSocket frames, a NUL in a
mail charset) runs as its own test, then a few hundred seeded cases over every served route.
A case fails on a 5xx, a WebSocket 1011, a traceback in the server log, a hang, a dropped
connection, a crash, or a non-JSON / unclean-TwiML answer. `python -m eval fuzz` runs 10,000."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.fuzz.cases import PUBLIC_BASE_URL, TWILIO_TOKEN, Case, voice_case
from eval.fuzz.generators import generate
from eval.fuzz.report import FuzzReport
from eval.fuzz.routes import routes_of_served_app
from eval.fuzz.runner import Outcome, Runner, check_http
from eval.fuzz.server import ServerProcess, fuzz_settings, prepare_database
from eval.fuzz.targeted import targeted_cases

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GENERATED = 300
SEED = 20261123
# A generous bound on the server CPU one request may cost (CPU seconds of the server process,
# not wall time, so a loaded machine does not move it): texts are bounded before the model.
MAX_CPU_SECONDS = 20.0
TARGETED = targeted_cases()


@pytest.fixture(scope="module")
def routes():
    return routes_of_served_app()


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Iterator[Runner]:
    from bot.train import is_fresh, train

    workdir = tmp_path_factory.mktemp("fuzz-server")
    settings = fuzz_settings(None, workdir)  # explicit: the repository's model, SQLite in workdir
    if not is_fresh(settings):
        train(settings, log=lambda m: None)
    prepare_database(settings)
    with ServerProcess(settings, workdir) as server:
        r = Runner(server, timeout=90.0)
        yield r
        r.close()


def _explain(results) -> str:
    report = FuzzReport()
    for r in results:
        report.add(r)
    return "\n".join(line for line in report.lines() if not line.startswith("machine"))


@pytest.mark.parametrize("case", TARGETED, ids=[c.label for c in TARGETED])
def test_fuzz_targeted_case_is_answered_without_error(runner: Runner, case: Case) -> None:
    result = runner.run(case)
    assert not result.failed, _explain([result])
    assert result.cpu_seconds < MAX_CPU_SECONDS, _explain([result])


def test_fuzz_generated_cases_over_every_route(runner: Runner, routes) -> None:
    cases = list(generate(routes, GENERATED, SEED))
    results = [runner.run(c) for c in cases]
    failed = [r for r in results if r.failed]
    assert not failed, f"{len(failed)} of {len(results)} cases failed:\n" + _explain(results)
    assert max(r.cpu_seconds for r in results) < MAX_CPU_SECONDS, _explain(results)


def test_fuzz_cases_cover_every_served_route(routes) -> None:
    served = {r.route for r in routes}
    covered = {c.route for c in [*TARGETED, *generate(routes, GENERATED, SEED)]}
    assert len(served) > 40  # the enumeration itself must not silently shrink
    assert served - covered == set(), "routes no case reaches"
    assert {"WS /chat/ws", "POST /email/inbound", "POST /voice/gather", "POST /agent/api/tasks/{task_id}/done"} <= served


# --- the harness itself ----------------------------------------------------------------------------------


def test_fuzz_harness_counts_a_crash_and_restarts_the_server(tmp_path) -> None:
    """A stand-in server that aborts on "boom": the crash is counted, the next case gets a new
    process; a 500 is a 5xx, not a crash."""
    helper = Path(__file__).with_name("fuzz_crashing_server.py")
    server = ServerProcess(_NoSettings(), tmp_path, startup_timeout=60, command=[sys.executable, str(helper)])
    with server:
        runner = Runner(server, timeout=30)
        post = lambda body: Case("POST /x", "POST", "/x", body, (("Content-Type", "application/json"),))  # noqa: E731
        first_pid = server.pid
        outcomes = [runner.run(post(b)).outcome for b in (b'{"a":1}', b'"boom"', b'{"a":2}', b'"fail"')]
        runner.close()
    assert outcomes == [Outcome.OK, Outcome.CRASH, Outcome.OK, Outcome.SERVER_ERROR]
    assert server.starts == 2 and server.pid != first_pid
    assert runner.crashes == 1


class _NoSettings:
    def model_dump(self, **_: object) -> dict:
        return {}


def test_fuzz_checker_rejects_html_and_unclean_twiml() -> None:
    case = Case("POST /model/parse", "POST", "/model/parse")
    assert check_http(case, 200, "text/html", b"<script>") is not None
    assert check_http(case, 200, "application/json", b"{") is not None
    assert check_http(case, 422, "application/json", b"{}") is None
    voice = Case("POST /voice/gather", "POST", "/voice/gather?step=menu")
    assert check_http(voice, 200, "application/xml", b"<Response><script/></Response>") is not None
    assert check_http(voice, 200, "application/xml", b"<Response><Say>Hej</Say></Response>") is None


def test_fuzz_voice_cases_carry_signatures_twilio_accepts() -> None:
    from urllib.parse import parse_qsl

    from twilio.request_validator import RequestValidator

    form = {"CallSid": "CA" + "1" * 32, "SpeechResult": "pas ² \ufdfa", "Digits": "²"}
    validator = RequestValidator(TWILIO_TOKEN)
    for how, valid in (("signed", True), ("forged", False), ("tampered", False)):
        case = voice_case("POST /voice/gather", "/voice/gather", {"step": "clarify"}, form, how=how)
        sent = dict(parse_qsl(case.body.decode()))
        signature = dict(case.headers)["X-Twilio-Signature"]
        assert validator.validate(PUBLIC_BASE_URL + case.target, sent, signature) is valid, how
    unsigned = voice_case("POST /voice/gather", "/voice/gather", {}, form, how="unsigned")
    assert "X-Twilio-Signature" not in dict(unsigned.headers)


def test_fuzz_generator_is_deterministic_and_json_is_what_it_claims(routes) -> None:
    first, again = list(generate(routes, 200, seed=3)), list(generate(routes, 200, seed=3))
    assert first == again
    assert first != list(generate(routes, 200, seed=4))
    shaped = [c for c in first if c.label == "text"]
    assert shaped and all(isinstance(json.loads(c.body), dict) for c in shaped)
