"""The agent's side of a call, over the agent API: the line calls are put through to, the
bridge when Twilio's REST API cannot be reached, and a written reply to a caller."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from voice_helpers import TestClient, Twilio, fixture, said, twiml

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.supervisor import router as supervisor_router
from bot.config import TwilioSettings
from connectors.voice.calls import CallState
from connectors.voice.routes import get_now, router
from connectors.voice.security import get_voice_settings
from connectors.voice.wiring import voice_channel
from tests.pg import free_port

pytestmark = pytest.mark.slow

SID = fixture("incoming")["CallSid"]
PEPPER = "voice-agents-pepper-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def app(app_settings, understanding, voice_settings, clock):
    # A Twilio account whose API cannot be reached: the bridge's REST call fails.
    twilio = TwilioSettings(account_sid="AC" + "5" * 32, auth_token=SecretStr("x" * 32),
                            api_base_url=f"http://127.0.0.1:{free_port()}")  # fmt: skip
    local = app_settings.model_copy(update={"agent_token_pepper": SecretStr(PEPPER), "twilio": twilio})
    app = create_app(local, routers=[router, agents_router, supervisor_router], understanding=understanding,
                     background=[voice_channel])  # fmt: skip
    app.dependency_overrides[get_voice_settings] = lambda: voice_settings
    app.dependency_overrides[get_now] = lambda: clock.now
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _agent(app, agent_id: str, role: str = "agent", tenant: str = "kobenhavn") -> dict[str, str]:
    token = create_agent(app.state.engine, token_pepper(app.state.settings), tenant_id=tenant, agent_id=agent_id,
                         name=agent_id.title(), role=role, skills={"borgerservice_basis": 5})  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def _queued(twilio: Twilio) -> None:
    twilio.post("/voice/incoming", fixture("incoming"))
    twilio.post("/voice/gather?step=menu", fixture("gather_digits", Digits="1"))


def test_agents_supervisor_sets_an_agents_line(app, client):
    boss = _agent(app, "birte", role="supervisor")
    _agent(app, "anne")
    r = client.put("/agent/api/supervisor/agents/anne/line", headers=boss, json={"phone": "+45 33 66 12 34"})
    assert r.status_code == 200 and r.json() == {"agent_id": "anne", "phone": "+4533661234", "client_identity": None}
    bad = client.put("/agent/api/supervisor/agents/anne/line", headers=boss, json={"phone": "33661234"})
    assert bad.status_code == 422 and "international form" in bad.json()["message"]
    _agent(app, "rene", tenant="rodovre")
    other = client.put("/agent/api/supervisor/agents/rene/line", headers=boss, json={"client_identity": "rene"})
    assert other.status_code == 404  # another tenant's agent is unknown here
    assert client.put("/agent/api/supervisor/agents/anne/line", headers=_agent(app, "bo"),
                      json={"phone": "+4533661234"}).status_code == 403  # fmt: skip


def test_agents_unreachable_twilio_still_puts_the_caller_through(app, client, store):
    twilio = Twilio(client)
    boss = _agent(app, "birte", role="supervisor")
    anne = _agent(app, "anne")
    client.put("/agent/api/supervisor/agents/anne/line", headers=boss, json={"client_identity": "anne"})
    _queued(twilio)
    taken = client.post("/agent/api/next", headers=anne)
    assert taken.status_code == 200 and taken.json()["contact"]["channel"] == "voice"
    record = store.get(SID)
    assert record.state is CallState.BRIDGING and not record.agent.redirected  # the REST call failed
    root = twiml(twilio.post("/voice/wait", fixture("wait")))  # the hold loop's next round
    assert said(root) == ["Nu stiller jeg dig om til en medarbejder."]
    assert root.find("Dial/Client").text == "anne"


def test_agents_written_reply_to_a_caller_becomes_a_callback_task(app, client, store):
    twilio = Twilio(client)
    anne = _agent(app, "anne")
    client.put("/agent/api/supervisor/agents/anne/line", headers=_agent(app, "birte", role="supervisor"),
               json={"phone": "+4533661234"})  # fmt: skip
    _queued(twilio)
    contact_id = client.post("/agent/api/next", headers=anne).json()["contact"]["id"]
    body = {"text": "Dit pas er klar til afhentning.", "client_message_id": "r-1"}
    r = client.post(f"/agent/api/contacts/{contact_id}/reply", headers=anne, json=body)
    assert r.status_code == 201 and r.json()["text"] == "Dit pas er klar til afhentning."
    again = client.post(f"/agent/api/contacts/{contact_id}/reply", headers=anne, json=body)  # a retry
    assert again.status_code == 201
    (task,) = app.state.engine.tasks("kobenhavn")
    assert task.kind.value == "callback" and task.phone == "+4520123456" and task.contact_id == contact_id
    assert "Dit pas er klar til afhentning." in task.note
    transcript = client.get(f"/agent/api/contacts/{contact_id}", headers=anne).json()["transcript"]
    assert [m["text"] for m in transcript if m["author"] == "agent"] == ["Dit pas er klar til afhentning."]
    closed = client.post(f"/agent/api/contacts/{contact_id}/close", headers=anne, json={"outcome": "tilbagekald_aftalt"})
    assert closed.status_code == 200
