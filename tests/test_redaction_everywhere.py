"""Personal data is redacted everywhere it leaves kontakt: the real app (`connectors.app.build_app`,
every router, a temporary SQLite database, the real model) served by a real uvicorn on loopback,
so its access log is written by uvicorn's own formatter.

A citizen chats with a CPR number, a phone number and an e-mail address, asks for a person and
leaves a message with a CPR number in it; agents and a supervisor work the queue. Every API
response and every log line (kontakt's, uvicorn's access and error logs, as the product's
handlers would write them) is scanned for a CPR number, and no log line may be lost by its
formatter. The citizen is not authenticated, so no one may see the CPR number in clear.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from cpr_scan_plugin import find_cprs
from pydantic import SecretStr
from sqlalchemy import select
from uvicorn.logging import AccessFormatter, DefaultFormatter

from bot.agent_accounts import create_agent, token_pepper
from bot.config import RateLimitSettings, Settings
from bot.storage.models import AgentRole, Event, Handoff, Task
from connectors.app import build_app

pytestmark = pytest.mark.integration

TENANT = "kobenhavn"
CPR, CPR_BARE = "010190-1234", "0101901234"
PHONE, EMAIL = "22 71 93 58", "mette.hansen@example.dk"
PEPPER = "p" * 48
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen: every queue is open
STARTUP_SECONDS = 120  # the server loads the model; the wait ends as soon as it is up

# Responses that repeat what someone typed: the citizen's own message, their history, an id in an
# error message, an agent's reply. Each is checked on its own, so a leak names its route.
ECHOES = ("chat-echo", "chat-history", "error-echo", "agent-reply")


class _Capture(logging.Handler):
    """Writes records as the product's handlers would (uvicorn's formatters for uvicorn's
    loggers) and keeps the lines; a record its formatter cannot write is kept as lost."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.lost: list[str] = []
        self._access = AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                                       use_colors=False)  # fmt: skip
        self._default = DefaultFormatter("%(levelprefix)s %(name)s: %(message)s", use_colors=False)

    def emit(self, record: logging.LogRecord) -> None:
        formatter = self._access if record.name == "uvicorn.access" else self._default
        try:
            self.lines.append(formatter.format(record))
        except Exception as exc:  # noqa: BLE001 - the line a real handler would have lost
            self.lost.append(f"{record.name}: {type(exc).__name__}")


@dataclass
class Served:
    http: httpx.Client
    logs: _Capture
    app: Any
    settings: Settings
    responses: list[tuple[str, str, str | None]] = field(default_factory=list)  # (call, body, leak)

    def call(self, method: str, path: str, token: str | None = None, leak: str | None = None,
             **kw: Any) -> httpx.Response:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, path, headers=headers, **kw)
        self.responses.append((f"{method} {path} -> {r.status_code}", r.text, leak))
        return r


@pytest.fixture(scope="module")
def served(settings, understanding, tmp_path_factory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("redaction") / "kontakt.sqlite3"
    local = settings.model_copy(update={"database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER)})
    capture = _Capture()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate, logging.getLogger(n).disabled)
             for n in names}  # fmt: skip
    logging.getLogger().addHandler(capture)
    for n in names:  # an in-process uvicorn earlier in the session may have configured them apart
        logger = logging.getLogger(n)
        logger.setLevel(logging.INFO)
        logger.propagate, logger.disabled = True, False
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
            app = build_app(local, understanding=understanding, rate_limits=RateLimitSettings(enabled=False))
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:  # wait for the event, up to a generous limit
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        app.state.engine.clock = lambda: MONDAY_10  # hermetic: the queues are open, nothing expires
        port = sock.getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield Served(http=http, logs=capture, app=app, settings=local)
        server.should_exit = True
        thread.join(timeout=60)
    finally:
        sock.close()
        logging.getLogger().removeHandler(capture)
        for n in names:
            logger = logging.getLogger(n)
            logger.level, logger.propagate, logger.disabled = saved[n]


@pytest.fixture(scope="module")
def scripted(served: Served) -> Served:
    """The conversation and the agents' work; every response is recorded in `served.responses`."""
    engine = served.app.state.engine
    pepper = token_pepper(served.settings)
    every_queue = {q.id: 3 for q in served.app.state.understanding.contract.queues}
    tokens = {
        "anna": create_agent(engine, pepper, tenant_id=TENANT, agent_id="anna", name="Anna", skills=every_queue),
        "sara": create_agent(engine, pepper, tenant_id=TENANT, agent_id="sara", name="Sara",
                             role=AgentRole.SUPERVISOR),
    }  # fmt: skip
    r = served.call("POST", "/chat/api/messages", leak="chat-echo",
                    json={"tenant": TENANT, "text": f"Hej, mit cpr er {CPR}"})  # fmt: skip
    assert r.status_code == 200, r.text
    session = r.json()["session"]
    r = served.call("POST", "/chat/api/messages", json={
        "session": session, "text": f"Jeg vil gerne tale med et menneske. Ring på {PHONE} eller skriv til {EMAIL}",
    })  # fmt: skip
    assert r.status_code == 200, r.text
    served.call("GET", f"/chat/api/history?session={session}", leak="chat-history")
    other = served.call("POST", "/chat/api/messages", json={"tenant": TENANT, "text": "Hvornår har I åbent?"})
    r = served.call("POST", "/chat/api/contact-requests", json={
        "session": other.json()["session"], "kind": "message", "phone": PHONE,
        "text": f"Mit cpr er {CPR_BARE}, skriv til {EMAIL}",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    # An attacker's guesses put CPR numbers in URLs: they reach the access log and error bodies.
    served.call("GET", f"/chat/api/history?session={CPR_BARE}")
    served.call("GET", f"/agent/api/contacts/{CPR}", tokens["sara"], leak="error-echo")
    for who in ("anna", "sara"):
        assert served.call("GET", "/agent/api/tasks", tokens[who]).status_code == 200
    served.call("POST", "/agent/api/state", tokens["anna"], json={"state": "available"})
    r = served.call("POST", "/agent/api/next", tokens["anna"])
    assert r.status_code == 200, r.text
    contact_id, queue_id = r.json()["contact"]["id"], r.json()["contact"]["queue_id"]
    to_queue = "borgerservice_basis" if queue_id != "borgerservice_basis" else "sygesikring_folkeregister"
    served.call("GET", f"/agent/api/contacts/{contact_id}", tokens["anna"])
    served.call("GET", f"/agent/api/contacts/{contact_id}", tokens["sara"])
    served.call("POST", f"/agent/api/contacts/{contact_id}/reply", tokens["anna"], leak="agent-reply",
                json={"text": f"Vi har noteret {CPR}"})  # fmt: skip
    r = served.call("POST", f"/agent/api/contacts/{contact_id}/transfer", tokens["anna"],
                    json={"queue_id": to_queue, "note": f"Borgerens cpr {CPR}, tlf {PHONE}"})
    assert r.status_code == 200, r.text
    served.call("GET", "/agent/api/supervisor/overview", tokens["sara"])
    served.call("GET", f"/agent/api/contacts/{contact_id}", tokens["sara"])
    return served


def test_the_script_ran_and_was_logged(scripted: Served) -> None:
    assert len(scripted.responses) >= 15
    access = [line for line in scripted.logs.lines if '"GET /agent/api/tasks HTTP/1.1" 200' in line]
    assert len(access) == 2, "uvicorn's access lines were not captured"


def test_no_api_response_holds_a_cpr_number(scripted: Served) -> None:
    found = [call for call, body, leak in scripted.responses if leak is None and find_cprs(body)]
    assert found == [], f"CPR number in clear in: {found}"


@pytest.mark.parametrize(
    "leak", ECHOES
)
def test_echoed_text_is_redacted(scripted: Served, leak: str) -> None:
    bodies = [body for _, body, tag in scripted.responses if tag == leak]
    assert bodies and not any(find_cprs(body) for body in bodies)


def test_agent_task_list_shows_the_note_redacted_to_agents_and_supervisors(scripted: Served) -> None:
    bodies = [body for call, body, _ in scripted.responses if call.startswith("GET /agent/api/tasks")]
    assert len(bodies) == 2
    for body in bodies:
        assert "Mit cpr er [CPR], skriv til [E-MAIL]" in body and EMAIL not in body


def test_no_log_line_holds_a_cpr_number_or_is_lost(scripted: Served) -> None:
    assert scripted.logs.lost == []
    found = [line for line in scripted.logs.lines if find_cprs(line)]
    assert found == []
    assert any("/chat/api/history?session=[CPR]" in line for line in scripted.logs.lines)


def test_nothing_stored_in_clear_but_the_messages(scripted: Served) -> None:
    db = scripted.app.state.db
    with db.read() as s:
        stored = {
            "tasks.note": "\n".join(s.scalars(select(Task.note))),
            "events.data": "\n".join(repr(d) for d in s.scalars(select(Event.data))),
            "handoffs.packet": "\n".join(repr(p) for p in s.scalars(select(Handoff.packet))),
        }
    for where, text in stored.items():
        assert not find_cprs(text), f"CPR number in clear in {where}"
        assert EMAIL not in text, f"e-mail address in clear in {where}"
        assert PHONE not in text, f"phone number in clear in {where}"


def test_log_capture_is_honest() -> None:
    """The capture used above does see a planted CPR number and a line its formatter loses."""
    capture = _Capture()
    logger = logging.getLogger("tests.redaction.planted")
    logger.propagate = False
    logger.addHandler(capture)
    try:
        logger.warning("borger %s", CPR)
    finally:
        logger.removeHandler(capture)
    lost = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "flattened", (), None)
    capture.handle(lost)
    assert find_cprs(capture.lines[0]) == [CPR] and capture.lost == ["uvicorn.access: ValueError"]
