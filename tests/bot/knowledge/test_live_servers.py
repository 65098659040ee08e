"""Knowledge edited on one server is answered by another within seconds, without a restart: two
`python -m bot serve` processes share one database (SQLite, then PostgreSQL). An editor made with
`python -m bot agent add --role editor` publishes a change of København's local article through
process A; the test waits (polling with a deadline) until `/model/parse` and the web chat's
answer on process B show it; then rolls back through B and waits until A no longer shows it. The
change log records both versions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.bot.conftest import pg_cluster  # noqa: F401
from tests.fault_helpers import ROOT, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "knowledge-servers-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
OVERLAY = (ROOT / "knowledge" / "local" / "kobenhavn" / "affald_toemning.md").read_text(encoding="utf-8")
SOURCE = "Spørgsmål og svar om affald i etageejendomme (Københavns Kommune)"
NEW_SOURCE = "Affaldsvagten svarer (Københavns Kommune)"
MARK = "Ring til affaldsvagten, hvis beholderen stadig står fuld næste morgen."
QUESTION = "Min skraldespand er ikke blevet tømt"
DEADLINE = 30.0  # seconds; the pollers look once a second


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(request, tmp_path: Path, understanding) -> Iterator[tuple[ServerProcess, ServerProcess, dict[str, str]]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'knowledge.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database()
    env = {"KONTAKT_DATABASE_URL": url, "KONTAKT_AGENT_TOKEN_PEPPER": PEPPER, "KONTAKT_EMAIL_IMAP_HOST": ""}
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):  # one after the other: the first one migrates the new database
            started.append(ServerProcess.start(env, tmp_path / f"server-{name}.log"))
            started[-1].wait_ready(timeout=90)
        yield started[0], started[1], env
    finally:
        for server in started:
            server.stop()


def _editor(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "agent", "add", "--tenant", "kobenhavn", "--id", "eva", "--name", "Eva",
         "--role", "editor"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip()}"}


def _parse_source(server: ServerProcess) -> str:
    r = httpx.post(server.base_url + "/model/parse", json={"text": QUESTION, "tenant": "kobenhavn"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["triage"]["article"]["source"]


def _chat_answer(server: ServerProcess) -> str:
    """The bot's answer in a new chat: its texts and the sources it cites."""
    r = httpx.post(server.base_url + "/chat/api/messages", json={"text": QUESTION, "tenant": "kobenhavn"}, timeout=30)
    assert r.status_code == 200, r.text
    bot = [m for m in r.json()["messages"] if m["kind"] == "bot"]
    return "\n".join([*(m["text"] or "" for m in bot), *(m["article"]["source"] for m in bot if m.get("article"))])


def _until(check: Callable[[], bool], what: str, server: ServerProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {DEADLINE} s:\n{server.log_tail()}")
        time.sleep(0.2)


def test_a_published_change_and_its_rollback_reach_the_other_server(servers):
    a, b, env = servers
    eva = _editor(env)
    assert _parse_source(b) == SOURCE and MARK not in _chat_answer(b)

    edited = OVERLAY.replace(f"title: {SOURCE}", f"title: {NEW_SOURCE}").replace(
        "## Ikke tømt?\n", f"## Ikke tømt?\n\n{MARK}\n")  # fmt: skip
    r = httpx.put(a.base_url + "/api/v1/knowledge/articles/affald_toemning", params={"tenant": "kobenhavn"},
                  content=edited.encode(), headers={**eva, "Content-Type": "text/markdown"}, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert _parse_source(a) == NEW_SOURCE  # in force where it was published when the answer came

    _until(lambda: _parse_source(b) == NEW_SOURCE, "the new source in /model/parse on B", b)
    answer = _chat_answer(b)
    assert MARK in answer and NEW_SOURCE in answer, answer

    r = httpx.post(b.base_url + "/api/v1/knowledge/articles/affald_toemning/rollback",
                   params={"tenant": "kobenhavn", "version": 0}, headers=eva, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    _until(lambda: _parse_source(a) == SOURCE, "the file's source again in /model/parse on A", a)
    assert MARK not in _chat_answer(a)

    log = httpx.get(a.base_url + "/api/v1/knowledge/articles/affald_toemning", params={"tenant": "kobenhavn"},
                    headers=eva, timeout=30).json()  # fmt: skip
    assert log["version"] == 2 and log["text"] == OVERLAY
    assert [(v["version"], v["author"]) for v in log["history"]] == [(2, "eva"), (1, "eva")]
    assert log["history"][0]["summary"].startswith("tilbage til version 0")
    assert "ændret: sources" in log["history"][1]["summary"]
