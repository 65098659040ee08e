"""Two uvicorn worker processes share one PostgreSQL. The citizen's WebSocket is held by worker A;
an agent reply is stored from elsewhere (an engine in this process, then NOTIFY) and must reach
A's socket within seconds; worker B serves the same conversation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.engine import ConversationEngine
from bot.storage import Database
from bot.storage.models import AgentState
from connectors.webchat.notify import CHANNEL, PgListener, notify
from tests.bot.conftest import contract, migrated_pg_template, pg_cluster  # noqa: F401
from tests.pg import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
DEADLINE = 8.0  # seconds for the agent reply to reach the other worker's socket


def _start_worker(url: str, tmp_path: Path, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "KONTAKT_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / f"{name}.log", "w") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.connectors.webchat.worker_app:create",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--ws", "websockets-sansio"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, f"127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen, host: str, tmp_path: Path, name: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker {name} exited: {(tmp_path / f'{name}.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://{host}/chat/widget.js", timeout=1).status_code == 200:
                # the lifespan has run once the first request is served
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"worker {name} did not start")


@pytest.fixture
def pg_url(pg_cluster, migrated_pg_template) -> str:  # noqa: F811
    if not pg_cluster.is_running():
        pg_cluster.start_again()
    return pg_cluster.create_database(template=migrated_pg_template)


@pytest.fixture
def workers(pg_url, tmp_path):
    procs = [(*_start_worker(pg_url, tmp_path, n), n) for n in ("a", "b")]
    try:
        for proc, host, name in procs:
            _wait_ready(proc, host, tmp_path, name)
        yield [host for _, host, _ in procs]
    finally:
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _frames_until(ws, predicate, timeout: float) -> list[dict]:
    seen: list[dict] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            frame = json.loads(ws.recv(timeout=max(0.05, end - time.monotonic())))
        except TimeoutError:
            break
        seen.append(frame)
        if predicate(frame):
            return seen
    pytest.fail(f"no matching frame within {timeout} s; got {seen}")


def test_two_workers_agent_reply_reaches_the_other_workers_socket(workers, pg_url, contract):  # noqa: F811
    from websockets.sync.client import connect

    a, b = workers
    with connect(f"ws://{a}/chat/ws?tenant=kobenhavn") as ws:
        hello = json.loads(ws.recv(timeout=10))
        sid = hello["session"]
        ws.send(json.dumps({"type": "message", "text": "Tal med en medarbejder", "client_message_id": "c1"}))
        frames = _frames_until(ws, lambda f: f["type"] in ("system", "closed"), 30)
        assert [f["type"] for f in frames][:2] == ["user", "bot"]

        # The agent side: another process's engine on the same database, then NOTIFY.
        db = Database(pg_url)
        try:
            engine = ConversationEngine(db, contract, clock=lambda: datetime.now(UTC))
            contact = engine.open_contact("kobenhavn", "chat", sid)
            engine.add_agent("kobenhavn", "sara", "Sara Nielsen", skills={contact.queue_id: 5})
            engine.set_agent_state("kobenhavn", "sara", AgentState.AVAILABLE)
            offer = next(o for o in engine.route("kobenhavn") if o.contact_id == contact.id)
            engine.accept_offer("kobenhavn", offer.id, "sara")
            started = time.monotonic()
            engine.agent_reply("kobenhavn", "sara", contact.id, "Hej, det er Sara fra borgerservice.")
            notify(db, contact.id)
            frames = _frames_until(ws, lambda f: f["type"] == "agent", DEADLINE)
            assert time.monotonic() - started < DEADLINE
            agent = frames[-1]["messages"][0]
            assert agent["author"] == "Sara" and "Sara fra borgerservice" in agent["text"]
        finally:
            db.dispose()

    # Worker B knows the session too: the whole conversation, from the database.
    history = httpx.get(f"http://{b}/chat/api/history", params={"session": sid}, timeout=10).json()
    assert history["session"] == sid
    assert [m["kind"] for m in history["messages"]][-1] == "agent"
    # ... and the bot stays silent there as well
    r = httpx.post(f"http://{b}/chat/api/messages", json={"session": sid, "text": "Hvornår kommer skraldebilen?"},
                   timeout=30)  # fmt: skip
    assert [m["kind"] for m in r.json()["messages"]] == ["user"]


def test_two_workers_listener_gets_notify_from_another_connection(pg_url):
    listener = PgListener(pg_url)
    listener.start()
    try:
        assert listener.listening.wait(10), f"LISTEN {CHANNEL} did not start"
        seen = listener.version("contact-x")
        db = Database(pg_url)
        try:
            notify(db, "contact-x")
        finally:
            db.dispose()
        assert listener.wait("contact-x", seen, timeout=5) != seen
    finally:
        listener.stop()


def test_two_workers_a_chat_the_bot_answered_ends_as_resolved_by_the_bot(workers, pg_url):
    """Question on worker A, the citizen ends the chat on worker B: one contact, ended as answered
    by the bot with the article it cited, never as abandoned."""
    from bot.stats.facts import Ending
    from bot.stats.service import load_facts

    a, b = workers
    r = httpx.post(f"http://{a}/chat/api/messages", params={"tenant": "kobenhavn"},
                   json={"text": "Hvornår bliver mit skrald hentet?", "client_message_id": "q1"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    sid = r.json()["session"]
    bot = [m for m in r.json()["messages"] if m["kind"] == "bot"]
    assert bot, r.json()
    ended = httpx.post(f"http://{b}/chat/api/end", json={"session": sid}, timeout=30)
    assert ended.status_code in (200, 204), ended.text

    db = Database(pg_url)
    try:
        facts = load_facts(db, tenant_id="kobenhavn", start=datetime(2000, 1, 1, tzinfo=UTC),
                           end=datetime(2100, 1, 1, tzinfo=UTC))  # fmt: skip
    finally:
        db.dispose()
    assert len(facts) == 1
    assert facts[0].ending is Ending.BOT_ANSWERED
    assert facts[0].article_id
