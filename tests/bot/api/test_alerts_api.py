"""Emergency alerts against the real app (`connectors.app.build_app`, SQLite in a temporary
folder): a chat message describing acute danger leaves one `emergency_alert` event, which a
supervisor of the same tenant sees, redacted and newest first; agents and other tenants do not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.config import Settings
from bot.engine import ConversationEngine
from bot.storage.models import EventKind
from connectors.app import build_app

pytestmark = pytest.mark.integration

PEPPER = "alerts-test-pepper-0123456789abcdefghijklmnopq"
ALERTS = "/agent/api/supervisor/alerts"
ACUTE = "Min mand er faldet om og trækker ikke vejret, hans cpr er 010190-1234"
ROUTINE = "Hvad koster et nyt pas?"


@dataclass
class World:
    client: TestClient
    engine: ConversationEngine
    tokens: dict[str, str]

    def alerts(self, who: str) -> dict:
        r = self.client.get(ALERTS, headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert r.status_code == 200, r.text
        return r.json()

    def chat(self, text: str, session: str | None = None) -> str:
        body = {"tenant": "kobenhavn", "text": text, **({"session": session} if session else {})}
        r = self.client.post("/chat/api/messages", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["session"])


@pytest.fixture
def world(tmp_path, understanding, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'alerts.sqlite3'}", agent_token_pepper=SecretStr(PEPPER))
    app = build_app(settings, understanding=understanding)
    with TestClient(app) as client:
        engine = app.state.engine
        engine.ensure_tenant("aarhus", "Aarhus Kommune")
        pepper = token_pepper(settings)
        tokens = {
            "sara": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara", role="supervisor"),
            "anders": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anders", name="Anders", role="agent"),
            "aase": create_agent(engine, pepper, tenant_id="aarhus", agent_id="aase", name="Aase", role="supervisor"),
        }  # fmt: skip
        yield World(client, engine, tokens)


def test_alerts_api_lists_112_referrals_redacted_newest_first(world: World) -> None:
    assert world.alerts("sara") == {"items": [], "count": 0}
    world.chat(ROUTINE)
    assert world.alerts("sara")["count"] == 0

    first = world.chat(ACUTE)
    second = world.chat("Der er brand i opgangen og røg overalt, vi kan ikke komme ud")
    items = world.alerts("sara")["items"]
    assert len(items) == 2 and items[0]["id"] > items[1]["id"]
    assert {i["channel"] for i in items} == {"chat"}
    assert "brand" in items[0]["excerpt"]
    assert "010190-1234" not in items[1]["excerpt"] and "[CPR]" in items[1]["excerpt"]
    assert items[0]["contact_id"] != items[1]["contact_id"]

    world.chat(ACUTE, session=first)  # a new message about the danger is a new alert
    assert world.alerts("sara")["count"] == 3
    assert second


def test_alerts_api_one_alert_per_message_and_event_has_no_text(world: World) -> None:
    world.chat(ACUTE)
    (alert,) = world.alerts("sara")["items"]
    events = [e for e in world.engine.events("kobenhavn", alert["contact_id"]) if e.kind is EventKind.EMERGENCY_ALERT]
    assert len(events) == 1
    assert set(events[0].data) == {"about_message_id", "channel"}  # statistics: no personal data


def test_alerts_api_supervisor_of_own_tenant_only(world: World) -> None:
    world.chat(ACUTE)
    assert world.client.get(ALERTS).status_code == 401
    r = world.client.get(ALERTS, headers={"Authorization": f"Bearer {world.tokens['anders']}"})
    assert r.status_code == 403
    assert world.alerts("aase")["count"] == 0
