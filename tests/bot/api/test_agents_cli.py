"""`python -m bot agent add`: creates the agent with skills and prints a token that works."""

from __future__ import annotations

import pytest

from bot.__main__ import main
from bot.agent_accounts import token_matches
from bot.config import get_settings
from bot.storage import Database
from bot.storage.models import Agent

PEPPER = "cli-test-pepper-0123456789abcdefghijklmnopqrs"


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("KONTAKT_DATABASE_URL", url)
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_agent_add_prints_a_working_token_once(cli_env, capsys):
    argv = ["agent", "add", "--tenant", "kobenhavn", "--id", "anne", "--name", "Anne", "--role", "supervisor",
            "--skill", "borgerservice_basis=7", "--skill", "esb=3"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("kontakt_") and "\n" not in token and token not in out.err
    db = Database(cli_env)
    try:
        with db.read() as s:
            agent = s.get(Agent, "anne")
            assert (agent.tenant_id, agent.role.value) == ("kobenhavn", "supervisor")
            assert token_matches(token, agent.token_hash, PEPPER.encode()) and token not in agent.token_hash
        from bot.storage import repository as repo

        with db.read() as s:
            assert repo.skills_of(s, tenant_id="kobenhavn", agent_ids=["anne"])["anne"] == {
                "borgerservice_basis": 7, "esb": 3}
    finally:
        db.dispose()
    assert main(argv) == 2  # the id is taken
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--skill", "esb=12"], "0..9"),
    (["--skill", "esb"], "QUEUE=LEVEL"),
    (["--skill", "nope=3"], "no queue"),
])  # fmt: skip
def test_agent_add_refuses_bad_input(cli_env, capsys, extra, message):
    assert main(["agent", "add", "--tenant", "kobenhavn", "--id", "bo", "--name", "Bo", *extra]) == 2
    assert message in capsys.readouterr().err


def test_agent_add_needs_a_known_tenant_and_a_pepper(cli_env, capsys, monkeypatch):
    assert main(["agent", "add", "--tenant", "atlantis", "--id", "bo", "--name", "Bo"]) == 2
    assert "unknown tenant" in capsys.readouterr().err
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", "")
    assert main(["agent", "add", "--tenant", "kobenhavn", "--id", "bo", "--name", "Bo"]) == 2
    assert "KONTAKT_AGENT_TOKEN_PEPPER" in capsys.readouterr().err
