"""The agent and supervisor API against the real app, a real engine and a temporary SQLite
database: authentication, roles, tenant isolation, the personal-data rule and a full flow."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, hash_token, token_matches, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.supervisor import router as supervisor_router
from bot.engine import ConversationEngine
from bot.errors import AuthNotConfigured
from bot.storage.models import Agent, EventKind

PEPPER = "test-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
CPR_TEXT = "Mit cpr-nummer er 010190-1234 og jeg mangler svar om min boligstøtte."

pytestmark = pytest.mark.integration


@dataclass
class World:
    client: TestClient
    engine: ConversationEngine
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def handoff(self, ref: str, *, authenticated: bool = False, tenant: str = "kobenhavn", text: str = CPR_TEXT) -> str:
        c = self.engine.open_contact(tenant, "chat", ref, name="Jens Hansen", authenticated=authenticated)
        self.engine.record_inbound(tenant, c.id, text)
        self.engine.request_handoff(tenant, c.id, None, "asked_for_human")
        return c.id


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("agents-api") / "kontakt.sqlite3"
    local = settings.model_copy(update={"database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER)})
    app = create_app(local, routers=[agents_router, supervisor_router], understanding=understanding)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
        with TestClient(app) as client:
            engine: ConversationEngine = app.state.engine
            pepper = token_pepper(local)
            tokens = {
                "anne": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                                     skills={"borgerservice_basis": 7}),
                "bo": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="bo", name="Bo",
                                   skills={"borgerservice_basis": 3}),
                "sara": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara",
                                     role="supervisor"),
                "adam": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="adam", name="Adam", role="admin"),
                "rita": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rita", name="Rita",
                                     role="admin", skills={"borgerservice_basis": 9}),
            }  # fmt: skip
            yield World(client, engine, tokens)


# --- tokens ---------------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_peppered_hashes(world):
    with world.engine.db.read() as s:
        stored = s.get(Agent, "anne").token_hash
    token = world.tokens["anne"]
    assert token.startswith("kontakt_") and len(token) > 40
    assert token not in stored and stored.startswith("hmac-sha256$")
    assert token_matches(token, stored, PEPPER.encode())
    assert not token_matches(token, stored, b"another-pepper-0123456789abcdefghij")
    assert hash_token(token, PEPPER.encode()) == stored


@pytest.mark.parametrize("value", [None, "", "short", "changethis"])
def test_missing_or_weak_pepper_is_refused(value, monkeypatch):
    monkeypatch.delenv("KONTAKT_AGENT_TOKEN_PEPPER", raising=False)
    if value is not None:
        monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", value)
    with pytest.raises(AuthNotConfigured, match="KONTAKT_AGENT_TOKEN_PEPPER"):
        token_pepper(None)


# --- 401 / 403 / other tenant, for every endpoint -------------------------------------------------

AGENT_ENDPOINTS = [
    ("GET", "/agent/api/me", None),
    ("GET", "/agent/api/queues", None),
    ("POST", "/agent/api/state", {"state": "paused"}),
    ("POST", "/agent/api/next", None),
    ("GET", "/agent/api/offers", None),
    ("POST", "/agent/api/offers/1/accept", None),
    ("POST", "/agent/api/offers/1/decline", None),
    ("GET", "/agent/api/contacts", None),
    ("GET", "/agent/api/contacts/{cid}", None),
    ("POST", "/agent/api/contacts/{cid}/reply", {"text": "Hej"}),
    ("POST", "/agent/api/contacts/{cid}/transfer", {"queue_id": "borgerservice_basis", "note": "x"}),
    ("POST", "/agent/api/contacts/{cid}/close", {"outcome": "straksafklaret"}),
    ("GET", "/agent/api/tasks", None),
    ("POST", "/agent/api/tasks/1/done", {"outcome": "besked_taget"}),
]
SUPERVISOR_ENDPOINTS = [
    ("GET", "/agent/api/supervisor/overview", None),
    ("PUT", "/agent/api/supervisor/agents/bo/skills", {"borgerservice_basis": 4}),
    ("POST", "/agent/api/supervisor/agents/bo/state", {"state": "paused"}),
]
ADMIN_ENDPOINTS = [("POST", "/agent/api/supervisor/agents", {"id": "nyt", "name": "Ny"})]


def _call(world, method, path, body, headers=None, cid="none"):
    return world.client.request(method, path.format(cid=cid), json=body, headers=headers or {})


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ENDPOINTS + SUPERVISOR_ENDPOINTS + ADMIN_ENDPOINTS)
@pytest.mark.parametrize("auth", [None, "Bearer kontakt_not-a-token", "Basic YW5uZTpwdw==", "Bearer "])
def test_every_endpoint_needs_a_valid_token(world, method, path, body, auth):
    r = _call(world, method, path, body, {"Authorization": auth} if auth else {})
    assert r.status_code == 401, r.text
    assert set(r.json()) == {"error", "message"} and r.json()["error"] == "NotAuthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), SUPERVISOR_ENDPOINTS + ADMIN_ENDPOINTS)
def test_agent_role_gets_403_on_supervisor_endpoints(world, method, path, body):
    r = _call(world, method, path, body, world.h("anne"))
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
def test_supervisor_gets_403_on_admin_endpoints(world, method, path, body):
    r = _call(world, method, path, body, world.h("sara"))
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden"


def test_other_tenant_sees_nothing_of_ours(world):
    cid = world.handoff("iso-1")
    rita = world.h("rita")  # an admin of Rødovre with every skill
    for method, path, body in AGENT_ENDPOINTS:
        if "{cid}" in path:
            r = _call(world, method, path, body, rita, cid=cid)
            assert r.status_code == 404, (path, r.text)
            assert "010190" not in r.text and "Jens" not in r.text
    assert world.client.get("/agent/api/supervisor/overview", headers=rita).json()["waiting"] == 0
    for method, path, body in SUPERVISOR_ENDPOINTS[1:]:
        assert _call(world, method, path, body, rita).status_code == 404  # bo is in København
    assert world.client.post("/agent/api/next", headers=rita).status_code == 204
    ov = world.client.get("/agent/api/supervisor/overview", headers=rita).json()
    assert [a["id"] for a in ov["agents"]] == ["rita"]
    assert world.engine.contact("kobenhavn", cid).state == "queued"
    world.engine.mark_abandoned("kobenhavn", cid)


# --- happy paths ----------------------------------------------------------------------------------


def test_me_and_queues(world):
    me = world.client.get("/agent/api/me", headers=world.h("anne")).json()
    assert (me["id"], me["role"], me["tenant"]) == ("anne", "agent", {"id": "kobenhavn", "name": "Københavns Kommune"})
    assert me["skills"] == {"borgerservice_basis": 7}
    cid = world.handoff("q-1")
    qs = world.client.get("/agent/api/queues", headers=world.h("anne")).json()["queues"]
    assert [q["id"] for q in qs] == ["borgerservice_basis"]
    assert qs[0]["waiting"] >= 1 and qs[0]["oldest_wait_seconds"] >= 0 and qs[0]["level"] == 7
    every = world.client.get("/agent/api/queues?all=true", headers=world.h("anne")).json()["queues"]
    assert len(every) > 10 and {q["id"] for q in every} >= {"borgerservice_basis"}
    world.engine.mark_abandoned("kobenhavn", cid)


def test_state_changes_and_validation(world):
    for state in ("available", "paused", "offline"):
        r = world.client.post("/agent/api/state", json={"state": state}, headers=world.h("bo"))
        assert r.status_code == 200 and r.json()["state"] == state
    r = world.client.post("/agent/api/state", json={"state": "busy"}, headers=world.h("bo"))
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_full_flow_handoff_take_reply_transfer_close(world):
    h = world.h("anne")
    cid = world.handoff("flow-1")
    world.engine.set_agent_state("kobenhavn", "bo", "offline")

    r = world.client.post("/agent/api/next", headers=h)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["contact"]["id"] == cid and detail["contact"]["mine"] and detail["contact"]["state"] == "assigned"
    packet = detail["packet"]
    assert packet["reason"] == "asked_for_human" and packet["queue"]["id"] == "borgerservice_basis"
    assert "boligstøtte" in packet["summary"] and "010190-1234" not in r.text  # not authenticated → redacted
    assert detail["revealed"] is False and "[CPR]" in detail["transcript"][0]["text"]

    r = world.client.post(f"/agent/api/contacts/{cid}/reply", json={"text": "Jeg kigger på det nu."}, headers=h)
    assert r.status_code == 201 and r.json()["author"] == "agent"
    assert [m.text for m in world.engine.messages_since("kobenhavn", cid)][-1] == "Jeg kigger på det nu."

    # Bo is not assigned: he may not reply (403); unknown outcome is 422; unknown queue 404.
    world.engine.set_agent_state("kobenhavn", "bo", "available")
    assert world.client.post(f"/agent/api/contacts/{cid}/reply", json={"text": "x"},
                             headers=world.h("bo")).status_code == 403  # fmt: skip
    assert world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "done"}, headers=h).status_code == 422
    r = world.client.post(f"/agent/api/contacts/{cid}/transfer", json={"queue_id": "nope", "note": "x"}, headers=h)
    assert r.status_code == 404 and r.json()["error"] == "UnknownQueue"

    r = world.client.post(f"/agent/api/contacts/{cid}/transfer",
                          json={"queue_id": "borgerservice_basis", "note": "Borgeren venter på svar om boligstøtte"},
                          headers=h)  # fmt: skip
    assert r.status_code == 200 and r.json()["reason"] == "transfer" and r.json()["note"].startswith("Borgeren")
    assert world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "straksafklaret"},
                             headers=h).status_code == 409  # fmt: skip  (it is queued again)

    world.engine.set_agent_state("kobenhavn", "anne", "offline")
    r = world.client.post("/agent/api/next", headers=world.h("bo"))
    assert r.status_code == 200 and r.json()["packet_version"] == 2
    r = world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "omstillet"}, headers=world.h("bo"))
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["outcome"] == "omstillet"
    kinds = [e.kind for e in world.engine.events("kobenhavn", cid)]
    for kind in (EventKind.OFFERED, EventKind.OFFER_ACCEPTED, EventKind.AGENT_REPLIED, EventKind.TRANSFERRED,
                 EventKind.CLOSED):  # fmt: skip
        assert kind in kinds
    assert world.client.post("/agent/api/next", headers=world.h("bo")).status_code == 204
    # Anne handled it before: she may still read it; closing again is an illegal step.
    assert world.client.get(f"/agent/api/contacts/{cid}", headers=h).status_code == 200
    assert world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "omstillet"},
                             headers=world.h("bo")).status_code == 409  # fmt: skip
    world.engine.set_agent_state("kobenhavn", "bo", "offline")


def test_offers_accept_and_decline(world):
    world.engine.set_agent_state("kobenhavn", "bo", "offline")
    world.engine.set_agent_state("kobenhavn", "anne", "available")
    cid = world.handoff("offer-1")
    world.engine.route("kobenhavn")
    offers = world.client.get("/agent/api/offers", headers=world.h("anne")).json()["offers"]
    assert [o["contact_id"] for o in offers] == [cid]
    oid = offers[0]["id"]
    # Not Bo's offer: 404, and the offer stays.
    assert world.client.post(f"/agent/api/offers/{oid}/accept", headers=world.h("bo")).status_code == 404
    r = world.client.post(f"/agent/api/offers/{oid}/decline", headers=world.h("anne"))
    assert r.status_code == 200 and r.json()["state"] == "paused"
    assert world.client.post(f"/agent/api/offers/{oid}/accept", headers=world.h("anne")).status_code == 409
    # Tag næste makes Anne available again and takes the same contact.
    r = world.client.post("/agent/api/next", headers=world.h("anne"))
    assert r.status_code == 200 and r.json()["contact"]["id"] == cid
    mine = world.client.get("/agent/api/contacts", headers=world.h("anne")).json()["contacts"]
    assert [c["id"] for c in mine] == [cid]
    r = world.client.post("/agent/api/state", json={"state": "offline"}, headers=world.h("anne"))
    assert r.status_code == 409 and r.json()["error"] == "AgentBusy"
    world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "straksafklaret"}, headers=world.h("anne"))
    world.engine.set_agent_state("kobenhavn", "anne", "offline")


def test_cpr_is_revealed_only_to_the_assigned_agent_of_an_authenticated_citizen(world):
    world.engine.set_agent_state("kobenhavn", "bo", "offline")
    cid = world.handoff("cpr-1", authenticated=True)
    # Before assignment Anne (skilled for the queue) sees it redacted.
    r = world.client.get(f"/agent/api/contacts/{cid}", headers=world.h("anne"))
    assert r.status_code == 200 and "010190-1234" not in r.text and r.json()["revealed"] is False
    r = world.client.post("/agent/api/next", headers=world.h("anne"))
    assert r.json()["revealed"] is True and r.json()["transcript"][0]["text"] == CPR_TEXT
    assert "010190-1234" not in str(r.json()["packet"])  # stored packets stay redacted
    # The supervisor and the admin monitor it redacted; Bo (another agent, skilled) gets 403.
    for who in ("sara", "adam"):
        r = world.client.get(f"/agent/api/contacts/{cid}", headers=world.h(who))
        assert r.status_code == 200 and "010190-1234" not in r.text and r.json()["revealed"] is False
    r = world.client.get(f"/agent/api/contacts/{cid}", headers=world.h("bo"))
    assert r.status_code == 403 and "010190" not in r.text
    world.client.post(f"/agent/api/contacts/{cid}/close", json={"outcome": "straksafklaret"}, headers=world.h("anne"))
    # Closed: no longer assigned, so no longer revealed even to Anne.
    r = world.client.get(f"/agent/api/contacts/{cid}", headers=world.h("anne"))
    assert r.json()["revealed"] is False and "010190-1234" not in r.text
    world.engine.set_agent_state("kobenhavn", "anne", "offline")


def test_tasks_listing_and_done(world):
    c = world.engine.open_contact("kobenhavn", "chat", "task-1")
    world.engine.record_inbound("kobenhavn", c.id, "Ring mig op om boligstøtte")
    task = world.engine.request_callback("kobenhavn", c.id, "12345678", "Boligstøtte", )
    assert task.queue_id == "borgerservice_basis"
    ids = [t["id"] for t in world.client.get("/agent/api/tasks", headers=world.h("anne")).json()["tasks"]]
    assert task.id in ids
    assert task.id in [t["id"] for t in world.client.get("/agent/api/tasks", headers=world.h("sara")).json()["tasks"]]
    assert world.client.get("/agent/api/tasks", headers=world.h("rita")).json()["tasks"] == []
    assert world.client.post(f"/agent/api/tasks/{task.id}/done", json={"outcome": "tilbagekald_aftalt"},
                             headers=world.h("rita")).status_code == 404  # fmt: skip
    r = world.client.post(f"/agent/api/tasks/{task.id}/done", json={"outcome": "tilbagekald_aftalt"},
                          headers=world.h("anne"))  # fmt: skip
    assert r.status_code == 200
    assert world.engine.contact("kobenhavn", c.id).state == "closed"


def test_supervisor_overview_skills_state_and_admin_creates_agent(world):
    cid = world.handoff("sup-1")
    ov = world.client.get("/agent/api/supervisor/overview", headers=world.h("sara")).json()
    basis = next(q for q in ov["queues"] if q["id"] == "borgerservice_basis")
    assert basis["waiting"] >= 1 and basis["oldest_wait_seconds"] is not None
    assert {a["id"] for a in ov["agents"]} == {"anne", "bo", "sara", "adam"}

    r = world.client.put("/agent/api/supervisor/agents/bo/skills", json={"borgerservice_basis": 5, "esb": 2},
                         headers=world.h("sara"))  # fmt: skip
    assert r.status_code == 200 and r.json()["skills"] == {"borgerservice_basis": 5, "esb": 2}
    for bad in ({"borgerservice_basis": 10}, {"borgerservice_basis": -1}, {"borgerservice_basis": "5"}):
        assert world.client.put("/agent/api/supervisor/agents/bo/skills", json=bad,
                                headers=world.h("sara")).status_code == 422  # fmt: skip
    r = world.client.put("/agent/api/supervisor/agents/bo/skills", json={"esb": 0, "nope": 3}, headers=world.h("sara"))
    assert r.status_code == 404 and "nope" in r.json()["message"]
    assert world.engine.agent_state("kobenhavn", "bo").skills["esb"] == 2  # nothing written
    assert world.client.put("/agent/api/supervisor/agents/ghost/skills", json={},
                            headers=world.h("sara")).status_code == 404  # fmt: skip

    r = world.client.post("/agent/api/supervisor/agents/bo/state", json={"state": "available"}, headers=world.h("sara"))
    assert r.status_code == 200 and r.json()["state"] == "available"
    ov = world.client.get("/agent/api/supervisor/overview", headers=world.h("sara")).json()
    basis = next(q for q in ov["queues"] if q["id"] == "borgerservice_basis")
    assert basis["agents"].get("available", 0) >= 1

    r = world.client.post("/agent/api/supervisor/agents", json={"id": "carl", "name": "Carl", "role": "supervisor",
                                                                "skills": {"esb": 4}}, headers=world.h("adam"))
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    me = world.client.get("/agent/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["id"], me["role"], me["tenant"]["id"], me["skills"]) == ("carl", "supervisor", "kobenhavn", {"esb": 4})
    r = world.client.post("/agent/api/supervisor/agents", json={"id": "rita", "name": "X"}, headers=world.h("adam"))
    assert r.status_code == 409  # ids are unique across tenants
    world.engine.set_agent_state("kobenhavn", "bo", "offline")
    world.engine.mark_abandoned("kobenhavn", cid)


def test_responses_are_not_cached(world):
    r = world.client.get("/agent/api/me", headers=world.h("anne"))
    assert r.headers["cache-control"] == "no-store"
