"""Phone calls on real servers: two `python -m bot serve` processes share one database (SQLite,
then PostgreSQL), and consecutive webhooks of the same call go to different processes, as behind
a load balancer. Twilio's side is played by signed webhooks and by a recorder HTTP server on
loopback that receives the REST call update the real `twilio` client sends when an agent accepts.

1. A call goes through the menu to a person, waits in the engine's queue (hold loop), an agent
   takes it through the agent API, the live call is redirected to dial that agent, the agent
   leg's status callbacks arrive (one twice), the caller answers the survey, the agent closes
   with an outcome: one contact, the events of each step, the survey answer in the database.
2. A caller speaks English about a fire (language and safety flag set on process A); A is
   killed; the next webhook, served by B, continues in English as a sensitive handoff, and the
   caller hanging up in the queue abandons the contact through the engine.

The servers run on the wall clock, so the test's tenants file opens København around the clock
(no public holidays): what the test controls is the tenant's hours, not the time.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.storage import Database
from bot.storage.models import Contact, ContactState, EventKind, Handoff
from bot.storage.repository import events
from bot.storage.voice import VoiceCall
from tests.bot.conftest import pg_cluster  # noqa: F401
from tests.fault_helpers import ROOT, ServerProcess
from tests.pg import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUBLIC = "https://kontakt.example.dk"  # what Twilio is configured with; both processes sit behind it
ACCOUNT = "AC" + "5" * 32
NUMBER = "+4533663366"  # København's number
AGENT_PHONE = "+4533661234"  # Anne's
BO_PHONE = "+4533665678"
CALL_1 = "CA" + "a1" * 16
CALL_2 = "CA" + "b2" * 16
LEG_1 = "CA" + "c3" * 16
LEG_2 = "CA" + "d4" * 16
PEPPER = "voice-servers-pepper-0123456789abcdefghijklmnopqrstuvwxyz"


# --- Twilio's REST API, recorded ------------------------------------------------------------------


@dataclass
class Recorded:
    path: str
    form: dict[str, str]
    authorization: str


@dataclass
class TwilioRecorder:
    """An HTTP server on 127.0.0.1 that answers call updates as Twilio does and keeps each one."""

    port: int = field(default_factory=free_port)
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TwilioRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                recorder.requests.append(Recorded(self.path, form, self.headers.get("authorization", "")))
                sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                payload = json.dumps({"sid": sid, "account_sid": ACCOUNT, "status": "in-progress"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# --- the servers ----------------------------------------------------------------------------------


@dataclass
class Cluster:
    a: ServerProcess
    b: ServerProcess
    url: str
    token: str
    env: dict[str, str]

    def webhook(self, server: ServerProcess, path: str, params: dict[str, str]) -> ET.Element:
        """POST a webhook signed as Twilio signs it (for the public URL, whichever process serves it)."""
        signature = RequestValidator(self.token).compute_signature(PUBLIC + path, params)
        r = httpx.post(server.base_url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/xml")
        return ET.fromstring(r.content)


def _call(sid: str, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+4520123456", "To": NUMBER, "Called": NUMBER,
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}  # fmt: skip


def _said(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter("Say")]


def _tenants_file(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "knowledge" / "tenants.yaml").read_text(encoding="utf-8"))
    always = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    for tenant in data["tenants"]:
        tenant["schedule"] = {**always, "public_holidays": False}
        tenant.pop("queue_schedules", None)
        # Offers here end by Twilio's callbacks, never by the clock: on a busy machine two servers
        # can take longer than an offer's 30 s between the test's steps.
        tenant.setdefault("routing", {})["offer_timeout_seconds"] = 600
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request, tmp_path: Path, understanding) -> Iterator[tuple[Cluster, TwilioRecorder]]:
    """Two server processes on one database and the recorder; all stopped at the end."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'voice.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database()
    recorder = TwilioRecorder().start()
    token = secrets.token_urlsafe(24)
    env = {
        "KONTAKT_DATABASE_URL": url,
        "KONTAKT_TENANTS_FILE": str(_tenants_file(tmp_path)),
        "KONTAKT_AGENT_TOKEN_PEPPER": PEPPER,
        "KONTAKT_TWILIO_ACCOUNT_SID": ACCOUNT,
        "KONTAKT_TWILIO_AUTH_TOKEN": token,
        "KONTAKT_TWILIO_API_BASE_URL": recorder.base_url,
        "KONTAKT_VOICE_PUBLIC_BASE_URL": PUBLIC,
        "KONTAKT_VOICE_HOLD_PAUSE_SECONDS": "5",
        "KONTAKT_EMAIL_IMAP_HOST": "",
    }
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):  # one after the other: the first one migrates the new database
            servers.append(ServerProcess.start(env, tmp_path / f"server-{name}.log"))
            servers[-1].wait_ready(timeout=90)
        yield Cluster(servers[0], servers[1], url, token, env), recorder
    finally:
        for server in servers:
            server.stop()
        recorder.stop()


def _add_agent(cluster: Cluster, agent_id: str = "anne", phone: str = AGENT_PHONE) -> dict[str, str]:
    """`python -m bot agent add ... --phone`: the token on stdout, as the agent API's header."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "agent", "add", "--tenant", "kobenhavn", "--id", agent_id, "--name",
         agent_id.title(), "--skill", "borgerservice_basis=5", "--phone", phone],
        cwd=ROOT, env={**os.environ, **cluster.env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


def _dialled(update: Recorded, call_sid: str) -> str:
    """The number a recorded call update dials, after checking it is the REST call Twilio documents."""
    assert update.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json"
    assert update.authorization.startswith("Basic ")
    dial = ET.fromstring(update.form["Twiml"]).find("Dial")
    assert dial.get("action") == PUBLIC + "/voice/after-bridge"
    number = dial.find("Number")
    assert number.get("statusCallback") == PUBLIC + "/voice/agent-status"
    return number.text or ""


def _take_next(base_url: str, headers: dict[str, str]) -> httpx.Response:
    """Ask for the next contact as the console does. The other server's router may hold the
    waiting call at this very moment (a 204 then means "nothing for me yet"), so ask again."""
    for _ in range(30):
        taken = httpx.post(base_url + "/agent/api/next", headers=headers, timeout=30)
        if taken.status_code != 204:
            break
    return taken


def test_servers_call_is_queued_put_through_to_the_agent_and_closed(cluster):
    c, recorder = cluster
    a, b = c.a, c.b
    anne, bo = _add_agent(c), _add_agent(c, "bo", BO_PHONE)

    menu = c.webhook(a, "/voice/incoming", _call(CALL_1))
    assert _said(menu)[0] == "Velkommen til Københavns Kommune."
    handoff = c.webhook(b, "/voice/gather?step=menu",
                        _call(CALL_1, SpeechResult="Hvad er status på min sag?", Confidence="0.91"))  # fmt: skip
    assert handoff[-1].tag == "Redirect" and handoff[-1].text == PUBLIC + "/voice/wait"
    hold = c.webhook(a, "/voice/wait", _call(CALL_1))
    assert _said(hold)[0] == "Du er nummer 1 i køen. Vent venligst, tak for din tålmodighed."
    assert hold[-1].tag == "Redirect"

    # Anne takes it, but her phone is not answered: back to the front of the queue.
    taken = _take_next(b.base_url, anne)
    assert taken.status_code == 200, taken.text
    contact_id = taken.json()["contact"]["id"]
    assert taken.json()["contact"]["channel"] == "voice"
    (first,) = recorder.requests  # only this caller was redirected, once
    assert _dialled(first, CALL_1) == AGENT_PHONE
    missed = _call(LEG_1, ParentCallSid=CALL_1, Direction="outbound-dial", To=AGENT_PHONE, CallStatus="no-answer")
    c.webhook(a, "/voice/agent-status", missed)
    back = c.webhook(b, "/voice/after-bridge", _call(CALL_1, DialCallStatus="no-answer", DialCallSid=LEG_1))
    assert _said(back) == ["Medarbejderen kunne ikke tage telefonen. Du er forrest i køen igen."]
    c.webhook(b, "/voice/agent-status", missed)  # Twilio repeated it
    assert _said(c.webhook(a, "/voice/wait", _call(CALL_1)))[0].startswith("Du er nummer 1 i køen.")

    # Bo takes it (Anne is paused) and answers.
    taken = _take_next(a.base_url, bo)
    assert taken.status_code == 200 and taken.json()["contact"]["id"] == contact_id
    assert httpx.post(b.base_url + "/agent/api/next", headers=anne, timeout=30).status_code == 204
    assert [_dialled(r, CALL_1) for r in recorder.requests] == [AGENT_PHONE, BO_PHONE]
    leg = _call(LEG_2, ParentCallSid=CALL_1, Direction="outbound-dial", To=BO_PHONE)
    assert len(c.webhook(a, "/voice/agent-status", {**leg, "CallStatus": "ringing"})) == 0
    c.webhook(b, "/voice/agent-status", {**leg, "CallStatus": "in-progress"})
    c.webhook(a, "/voice/agent-status", {**leg, "CallStatus": "completed"})
    c.webhook(b, "/voice/agent-status", {**leg, "CallStatus": "completed"})  # Twilio repeated it
    survey = c.webhook(a, "/voice/after-bridge", _call(CALL_1, DialCallStatus="completed", DialCallSid=LEG_2))
    assert survey.find("Gather").get("action") == PUBLIC + "/voice/survey?q=1"
    nxt = c.webhook(b, "/voice/survey?q=1", _call(CALL_1, Digits="8"))
    assert "Hvor imødekommende var medarbejderen, du talte med?" in _said(nxt)

    closed = httpx.post(a.base_url + f"/agent/api/contacts/{contact_id}/close", headers=bo,
                        json={"outcome": "straksafklaret"}, timeout=30)  # fmt: skip
    assert closed.status_code == 200, closed.text
    c.webhook(a, "/voice/status", _call(CALL_1, CallStatus="completed"))
    c.webhook(b, "/voice/status", _call(CALL_1, CallStatus="completed"))

    db = Database(c.url)
    try:
        with db.read() as s:
            (contact,) = s.scalars(select(Contact).where(Contact.external_ref == CALL_1)).all()
            assert contact.id == contact_id and contact.state is ContactState.CLOSED
            assert contact.outcome.value == "straksafklaret" and contact.assigned_agent_id == "bo"
            kinds = [e.kind for e in events(s, tenant_id="kobenhavn", contact_id=contact_id)]
            for kind, count in ((EventKind.CONTACT_OPENED, 1), (EventKind.HANDOFF_REQUESTED, 1), (EventKind.QUEUED, 1),
                                (EventKind.OFFERED, 2), (EventKind.OFFER_ACCEPTED, 2), (EventKind.OFFER_DECLINED, 1),
                                (EventKind.FEEDBACK, 1), (EventKind.CLOSED, 1), (EventKind.ABANDONED, 0)):  # fmt: skip
                assert kinds.count(kind) == count, (kind, kinds)
            row = s.get(VoiceCall, CALL_1)
            assert row.record["survey"] == [[1, 8]] and row.record["agent"]["agent_id"] == "bo"
            assert row.record["agent"]["answered"]
            assert s.scalar(select(func.count()).select_from(Contact)) == 1
    finally:
        db.dispose()
    assert len(recorder.requests) == 2


def test_servers_a_killed_process_loses_nothing_of_the_call(cluster):
    c, _ = cluster
    a, b = c.a, c.b
    c.webhook(a, "/voice/incoming", _call(CALL_2))
    fire = c.webhook(a, "/voice/gather?step=menu",
                     _call(CALL_2, SpeechResult="Help, there is a fire in my house", Confidence="0.9"))  # fmt: skip
    assert "1 1 2" in _said(fire)[0] and fire.find(".//Say").get("language") == "en-GB"
    a.kill9()  # no shutdown: whatever A knew about the call is only what it wrote

    through = c.webhook(b, "/voice/gather?step=emergency", _call(CALL_2, Digits="1"))
    assert _said(through) == ["I am putting you through to an employee."]  # still English
    assert through.find("Say").get("language") == "en-GB"
    hold = c.webhook(b, "/voice/wait", _call(CALL_2))
    assert _said(hold)[0].startswith("You are number 1 in the queue")
    assert not any(t.startswith(("Did you know", "While you wait")) for t in _said(hold))  # no tips: flagged
    c.webhook(b, "/voice/status", _call(CALL_2, CallStatus="completed"))  # hung up in the queue

    db = Database(c.url)
    try:
        with db.read() as s:
            (contact,) = s.scalars(select(Contact).where(Contact.external_ref == CALL_2)).all()
            assert contact.state is ContactState.ABANDONED
            (packet,) = s.scalars(select(Handoff).where(Handoff.contact_id == contact.id)).all()
            assert packet.reason == "sensitive"
            assert packet.packet["summary"].startswith("Opkald på engelsk.")
            assert [t["author"] for t in packet.packet["transcript"]][:2] == ["citizen", "bot"]
            record = s.get(VoiceCall, CALL_2).record
            assert record["language"] == "en" and record["flagged"]["action"] == "emergency"
    finally:
        db.dispose()
