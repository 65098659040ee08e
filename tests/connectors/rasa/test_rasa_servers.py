"""Rasa's REST and callback channels against real server processes (`python -m bot serve`): one
on SQLite, and two on one PostgreSQL where consecutive requests of the same sender go to
different processes. Nothing of a conversation may live in one process: the handoff queues the
contact with its packet, an agent takes and answers it through the agent API, and the answer
reaches the citizen: in the next REST answer, or POSTed to a real callback server on loopback
(also after it refused the first attempt). The bot is silent while the agent has the contact;
bad input is a clear 4xx and opens nothing."""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.agent_accounts import create_agent, token_pepper
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import Channel, Contact, ContactState, OutboxStatus
from bot.storage.outbox import Outbox
from tests.bot.conftest import contract, migrated_pg_template, pg_cluster  # noqa: F401
from tests.connectors.rasa.recorder import HttpRecorder
from tests.fault_helpers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TENANT = "kobenhavn"
PEPPER = "rasa-servers-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
HUMAN = "Jeg vil gerne tale med en medarbejder"
REST, CALLBACK = "/webhooks/rest/webhook", "/webhooks/callback/webhook"


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    rec = HttpRecorder.start()
    try:
        yield rec
    finally:
        rec.stop()


def _servers(url: str, count: int, tmp_path: Path, recorder: HttpRecorder) -> Iterator[list[ServerProcess]]:
    env = {
        "KONTAKT_DATABASE_URL": url,
        "KONTAKT_AGENT_TOKEN_PEPPER": PEPPER,
        "KONTAKT_CALLBACK_URL": recorder.url,
        "KONTAKT_CALLBACK_OUTBOX_SECONDS": "0.2",
        "KONTAKT_CALLBACK_RETRY_SECONDS": "0.2",
        "KONTAKT_RATELIMIT_ENABLED": "false",
    }
    started: list[ServerProcess] = []
    try:
        for i in range(count):
            started.append(ServerProcess.start(env, tmp_path / f"server{i}.log"))
        for server in started:
            server.wait_ready(timeout=120)
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def sqlite_world(tmp_path, recorder, understanding) -> Iterator[tuple[str, list[ServerProcess]]]:
    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"  # `understanding`: var/model is built before the server starts
    yield from ((url, s) for s in _servers(url, 1, tmp_path, recorder))


@pytest.fixture
def pg_world(tmp_path, recorder, understanding, pg_cluster, migrated_pg_template):  # noqa: F811
    if not pg_cluster.is_running():
        pg_cluster.start_again()
    url = pg_cluster.create_database(template=migrated_pg_template)
    yield from ((url, s) for s in _servers(url, 2, tmp_path, recorder))


class Citizen:
    """Posts to the servers in turn, so consecutive requests go to different processes."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self._next = itertools.cycle(servers)

    def post(self, path: str, **kw: object) -> httpx.Response:
        return httpx.post(f"{next(self._next).base_url}{path}", timeout=60, **kw)  # type: ignore[arg-type]


def agent_token(url: str, contract) -> str:  # noqa: F811
    db = Database(url)
    try:
        engine = ConversationEngine(db, contract, clock=lambda: datetime.now(UTC))
        settings = Settings(agent_token_pepper=SecretStr(PEPPER))
        return create_agent(engine, token_pepper(settings), tenant_id=TENANT, agent_id=f"anne-{secrets.token_hex(3)}",
                            name="Anne Holm", skills={"borgerservice_basis": 5})  # fmt: skip
    finally:
        db.dispose()


def conversation(url: str, kind: str, sender: str) -> tuple[str, ContactState, int, list[str]]:
    """(contact id, state, handoff packets, transcript texts) read straight from the database."""
    db = Database(url)
    try:
        with db.read() as s:
            c = repo.find_contact(s, tenant_id=TENANT, channel=Channel.CHAT, external_ref=f"{kind}:{sender}/1")
            assert c is not None, f"no {kind} contact for {sender}"
            packets = len(repo.handoffs(s, tenant_id=TENANT, contact_id=c.id))
            texts = [m.text for m in repo.messages(s, tenant_id=TENANT, contact_id=c.id)]
            return c.id, c.state, packets, texts
    finally:
        db.dispose()


def contacts(url: str) -> int:
    db = Database(url)
    try:
        with db.read() as s:
            return s.scalar(select(func.count()).select_from(Contact)) or 0
    finally:
        db.dispose()


def scenario(url: str, servers: list[ServerProcess], recorder: HttpRecorder, contract) -> None:  # noqa: F811
    citizen, agent = Citizen(servers), Citizen(servers[::-1])
    auth = {"Authorization": f"Bearer {agent_token(url, contract)}"}

    # REST: the handoff really queues the contact with its packet; the bot then stays silent.
    first = citizen.post(REST, json={"sender": "rest-1", "message": HUMAN})
    assert first.status_code == 200 and first.json()[0]["custom"]["triage"]["action"] == "handoff"
    contact_id, state, packets, _ = conversation(url, "rasa-rest", "rest-1")
    assert (state, packets) == (ContactState.QUEUED, 1)
    assert citizen.post(REST, json={"sender": "rest-1", "message": "Er der nogen?"}).json() == []

    # The other server's router may be offering it to Anne at this very moment: a 204 there means
    # "nothing for me yet", so she asks again, as the console does when the offer arrives.
    for _ in range(30):
        taken = agent.post("/agent/api/next", headers=auth)
        if taken.status_code != 204:
            break
    assert taken.status_code == 200, taken.text
    assert taken.json()["contact"]["id"] == contact_id
    assert HUMAN in [m["text"] for m in taken.json()["packet"]["transcript"]]
    reply = agent.post(f"/agent/api/contacts/{contact_id}/reply", headers=auth, json={"text": "Hej, det er Anne."})
    assert reply.status_code == 201, reply.text
    # The reply comes with the next answer, once; the bot says nothing of its own.
    assert citizen.post(REST, json={"sender": "rest-1", "message": "Hej Anne"}).json() == [
        {"recipient_id": "rest-1", "text": "Hej, det er Anne."}
    ]
    assert citizen.post(REST, json={"sender": "rest-1", "message": "Tak"}).json() == []
    _, state, packets, texts = conversation(url, "rasa-rest", "rest-1")
    assert (state, packets) == (ContactState.AGENT_ACTIVE, 1) and texts[-1] == "Tak"

    # Callback: the bot's answer is POSTed, also when the client's server refused the first try.
    recorder.fail_next = 1
    r = citizen.post(CALLBACK, json={"sender": "cb-1", "message": HUMAN})
    assert (r.status_code, r.text) == (200, "success")
    got = recorder.wait_for(1)
    assert got[0]["recipient_id"] == "cb-1" and got[0]["custom"]["triage"]["action"] == "handoff"
    assert recorder.refused == 1
    cb_id, state, packets, _ = conversation(url, "rasa-callback", "cb-1")
    # Anne is free for a second chat, so the router may already have offered it to her.
    assert state in (ContactState.QUEUED, ContactState.OFFERED) and packets == 1

    taken = agent.post("/agent/api/next", headers=auth)
    assert taken.status_code == 200 and taken.json()["contact"]["id"] == cb_id
    assert agent.post(f"/agent/api/contacts/{cb_id}/reply", headers=auth,
                      json={"text": "Hej, Anne her."}).status_code == 201  # fmt: skip
    assert recorder.wait_for(2)[1] == {"recipient_id": "cb-1", "text": "Hej, Anne her."}
    assert citizen.post(CALLBACK, json={"sender": "cb-1", "message": "Tusind tak"}).text == "success"
    _, state, _, texts = conversation(url, "rasa-callback", "cb-1")
    assert state is ContactState.AGENT_ACTIVE and texts[-1] == "Tusind tak"
    db = Database(url)
    try:  # silent bot: the citizen's last message added nothing to deliver
        items = Outbox(db).items(TENANT, contact_id=cb_id)
    finally:
        db.dispose()
    assert [i.status for i in items] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert items[0].attempts == 2

    # Bad input: a clear 4xx from every process, and no contact opened.
    before = contacts(url)
    for server in servers:
        for path in (REST, CALLBACK):
            bad = [
                (b"{not json", 400),
                (json.dumps({"message": "hej"}).encode(), 422),
                (json.dumps({"sender": "bad-1", "message": "hej", "metadata": {"tenant": "zzz"}}).encode(), 404),
                (json.dumps({"sender": "bad-1", "message": "hej " * 2000}).encode(), 413),
                (json.dumps({"sender": "bad-1", "message": "x" * 70_000}).encode(), 413),
            ]
            for content, status in bad:
                r = httpx.post(f"{server.base_url}{path}", content=content, timeout=60,
                               headers={"Content-Type": "application/json"})  # fmt: skip
                assert r.status_code == status, (path, status, r.text[:300])
                assert r.json()["message"]
    assert contacts(url) == before


def test_rasa_servers_sqlite(sqlite_world, recorder, contract):  # noqa: F811
    url, servers = sqlite_world
    scenario(url, servers, recorder, contract)


def test_rasa_servers_two_processes_on_postgresql(pg_world, recorder, contract):  # noqa: F811
    url, servers = pg_world
    scenario(url, servers, recorder, contract)
