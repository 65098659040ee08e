"""Access policy (issue 6 §5): every endpoint states who may call it, and each is tried without
credentials and with the wrong ones; tenant isolation is tried with real ids of another tenant.

`POLICY` is the one table. It lists every route of `connectors.app.build_app` (the real app with
all routers) with its access class, and `docs/access-policy.md` mirrors it. A new endpoint cannot
be added without stating its policy: `test_policy_lists_every_route_of_the_real_app` fails until
it is in the table, and `test_docs_mirror_the_policy_table` until it is in the docs.

Access classes:

* public: citizen-facing or static; no credentials.
* twilio-signed: a valid X-Twilio-Signature (HMAC of URL + form with the Twilio auth token).
* email-secret: the shared secret in X-Kontakt-Email-Secret.
* agent / supervisor / admin: an agent bearer token whose agent has at least that role; the
  token also fixes the tenant. An editor's token is refused on all of them.
* editor: an editor or admin token; the token's tenant decides which local articles it reaches.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import SecretStr
from sqlalchemy import select
from starlette.exceptions import StarletteDeprecationWarning
from starlette.routing import Mount, Route, WebSocketRoute
from twilio.request_validator import RequestValidator

from bot.agent_accounts import create_agent, token_pepper
from bot.config import RateLimitSettings
from bot.engine import ConversationEngine
from bot.storage.agent_queries import agent_live
from bot.storage.models import Agent, AgentRole, Contact, ContactState, Offer, OfferStatus, Task, TaskStatus
from connectors.app import build_app
from connectors.email.routes import SECRET_HEADER
from connectors.email.settings import EmailSettings
from connectors.voice.config import VoiceSettings

with warnings.catch_warnings():
    # As in tests/connectors/voice/voice_helpers.py: starlette warns about the pinned httpx when
    # its TestClient is imported; the warning concerns the test transport, not our code.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[1] / "docs" / "access-policy.md"


class Access(StrEnum):
    PUBLIC = "public"
    TWILIO_SIGNED = "twilio-signed"
    EMAIL_SECRET = "email-secret"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    EDITOR = "editor"


AGENT_CLASSES = (Access.AGENT, Access.SUPERVISOR, Access.ADMIN)
ROLE_OF = {
    Access.AGENT: AgentRole.AGENT,
    Access.SUPERVISOR: AgentRole.SUPERVISOR,
    Access.ADMIN: AgentRole.ADMIN,
}
RANK = {AgentRole.AGENT: 0, AgentRole.SUPERVISOR: 1, AgentRole.ADMIN: 2}


@dataclass(frozen=True)
class Endpoint:
    method: str  # an HTTP method, or "WS" for a WebSocket
    path: str  # the route's path template, exactly as the app declares it
    access: Access
    body: Mapping[str, Any] | None = field(default=None, compare=False)  # a valid JSON body, if any

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


# fmt: off
POLICY: tuple[Endpoint, ...] = (
    # Core (bot/api/rasa.py) and FastAPI's own docs: public.
    Endpoint("GET", "/", Access.PUBLIC),
    Endpoint("GET", "/health", Access.PUBLIC),
    Endpoint("POST", "/model/parse", Access.PUBLIC, {"text": "Hvornår kommer skraldebilen?"}),
    Endpoint("GET", "/openapi.json", Access.PUBLIC),
    Endpoint("GET", "/docs", Access.PUBLIC),
    Endpoint("GET", "/docs/oauth2-redirect", Access.PUBLIC),
    Endpoint("GET", "/redoc", Access.PUBLIC),
    # Rasa's REST and callback channels (connectors/rasa/routes.py): citizen-facing, keyed by `sender`.
    Endpoint("GET", "/webhooks/rest/", Access.PUBLIC),
    Endpoint("POST", "/webhooks/rest/webhook", Access.PUBLIC, {"sender": "borger-ap-1", "message": "Hej"}),
    Endpoint("GET", "/webhooks/callback/", Access.PUBLIC),
    Endpoint("POST", "/webhooks/callback/webhook", Access.PUBLIC, {"sender": "borger-ap-2", "message": "Hej"}),
    # Web chat (connectors/webchat/routes.py): citizen-facing; a session id is the only key.
    Endpoint("GET", "/chat/widget.js", Access.PUBLIC),
    Endpoint("GET", "/chat/widget.css", Access.PUBLIC),
    Endpoint("GET", "/chat/demo", Access.PUBLIC),
    Endpoint("OPTIONS", "/chat/api/{path:path}", Access.PUBLIC),
    Endpoint("POST", "/chat/api/messages", Access.PUBLIC, {"tenant": "kobenhavn", "text": "Åbningstider?"}),
    Endpoint("GET", "/chat/api/messages", Access.PUBLIC),
    Endpoint("GET", "/chat/api/history", Access.PUBLIC),
    Endpoint("GET", "/chat/api/config", Access.PUBLIC),
    Endpoint("POST", "/chat/api/end", Access.PUBLIC, {"session": "{session}"}),
    Endpoint("POST", "/chat/api/feedback", Access.PUBLIC, {"session": "{session}", "scores": {"q1": 8}}),
    Endpoint("POST", "/chat/api/contact-requests", Access.PUBLIC,
             {"session": "{session}", "kind": "message", "text": "Ring mig op"}),
    Endpoint("WS", "/chat/ws", Access.PUBLIC),
    # Agent console page and its assets (bot/api/console.py): hold no data.
    Endpoint("GET", "/agent", Access.PUBLIC),
    Endpoint("GET", "/agent/static/{name}", Access.PUBLIC),
    Endpoint("GET", "/agent/static/capacity/{name}", Access.PUBLIC),
    Endpoint("GET", "/agent/static/vendor/{name}", Access.PUBLIC),
    Endpoint("GET", "/api/v1/capacity/staffing", Access.SUPERVISOR),
    Endpoint("GET", "/agent/api/supervisor/quarantine", Access.SUPERVISOR),
    Endpoint("GET", "/agent/api/supervisor/alerts", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/capacity/erlang", Access.SUPERVISOR),
    # Management information (bot/api/reports.py, bot/api/wallboard.py): pages public, data supervisor.
    Endpoint("GET", "/agent/wallboard", Access.PUBLIC),
    Endpoint("GET", "/agent/reports", Access.PUBLIC),
    Endpoint("GET", "/agent/static/reports/{name}", Access.PUBLIC),
    Endpoint("GET", "/api/v1/stats/summary", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/stats/contacts", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/stats/contacts.csv", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/stats/questions", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/stats/metering", Access.SUPERVISOR),
    Endpoint("GET", "/api/v1/stats/live", Access.SUPERVISOR),
    Endpoint("GET", "/metrics", Access.SUPERVISOR),
    # Knowledge review (bot/api/knowledge_review.py).
    Endpoint("GET", "/api/v1/knowledge/stale", Access.SUPERVISOR),
    # Voice (connectors/voice/routes.py): router-wide Twilio signature check.
    Endpoint("POST", "/voice/incoming", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/gather", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/after-dial", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/wait", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/callback", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/after-bridge", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/agent-status", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/survey", Access.TWILIO_SIGNED),
    Endpoint("POST", "/voice/status", Access.TWILIO_SIGNED),
    # E-mail push (connectors/email/routes.py).
    Endpoint("POST", "/email/inbound", Access.EMAIL_SECRET),
    # Agent API (bot/api/agents.py): any role; tenant from the token.
    Endpoint("GET", "/agent/api/me", Access.AGENT),
    Endpoint("GET", "/agent/api/queues", Access.AGENT),
    Endpoint("POST", "/agent/api/state", Access.AGENT, {"state": "paused"}),
    Endpoint("POST", "/agent/api/next", Access.AGENT),
    Endpoint("GET", "/agent/api/offers", Access.AGENT),
    Endpoint("GET", "/agent/api/live", Access.AGENT),
    Endpoint("POST", "/agent/api/offers/{offer_id}/accept", Access.AGENT),
    Endpoint("POST", "/agent/api/offers/{offer_id}/decline", Access.AGENT),
    Endpoint("GET", "/agent/api/contacts", Access.AGENT),
    Endpoint("GET", "/agent/api/contacts/{contact_id}", Access.AGENT),
    Endpoint("POST", "/agent/api/contacts/{contact_id}/reply", Access.AGENT, {"text": "Jeg kigger på det."}),
    Endpoint("POST", "/agent/api/contacts/{contact_id}/transfer", Access.AGENT,
             {"queue_id": "borgerservice_basis", "note": "Videre til rette afdeling"}),
    Endpoint("POST", "/agent/api/contacts/{contact_id}/close", Access.AGENT, {"outcome": "straksafklaret"}),
    Endpoint("GET", "/agent/api/tasks", Access.AGENT),
    Endpoint("POST", "/agent/api/tasks/{task_id}/done", Access.AGENT, {"outcome": "besked_taget"}),
    # Supervisor API (bot/api/supervisor.py).
    Endpoint("GET", "/agent/api/supervisor/overview", Access.SUPERVISOR),
    Endpoint("PUT", "/agent/api/supervisor/agents/{agent_id}/skills", Access.SUPERVISOR,
             {"borgerservice_basis": 5}),
    Endpoint("POST", "/agent/api/supervisor/agents/{agent_id}/state", Access.SUPERVISOR, {"state": "paused"}),
    Endpoint("PUT", "/agent/api/supervisor/agents/{agent_id}/line", Access.SUPERVISOR, {"phone": "+4533661234"}),
    Endpoint("POST", "/agent/api/supervisor/agents", Access.ADMIN, {"id": "ny.medarbejder", "name": "Ny"}),
    # Crisis mode (bot/api/crisis.py). Listed in this order: the join needs the crisis the POST starts.
    Endpoint("GET", "/agent/crisis", Access.PUBLIC),
    Endpoint("GET", "/agent/static/crisis/{name}", Access.PUBLIC),
    Endpoint("GET", "/chat/api/crisis", Access.PUBLIC),
    Endpoint("GET", "/agent/api/supervisor/crisis", Access.SUPERVISOR),
    Endpoint("POST", "/agent/api/supervisor/crisis", Access.SUPERVISOR,
             {"message_da": "Stormflod i aften. Hold dig inde.", "queue": "krise"}),
    Endpoint("POST", "/agent/api/supervisor/crisis/join", Access.SUPERVISOR,
             {"queue": "borgerservice_basis", "min_level": 5}),
    Endpoint("DELETE", "/agent/api/supervisor/crisis", Access.SUPERVISOR),
    # Knowledge editing (bot/api/knowledge.py): `tenant` is "*" (national) or the caller's own tenant.
    Endpoint("GET", "/agent/knowledge", Access.PUBLIC),
    Endpoint("GET", "/agent/static/knowledge/{name}", Access.PUBLIC),
    Endpoint("GET", "/api/v1/knowledge/articles", Access.EDITOR),
    Endpoint("GET", "/api/v1/knowledge/articles/{article_id}", Access.EDITOR),
    Endpoint("PUT", "/api/v1/knowledge/articles/{article_id}", Access.EDITOR),
    Endpoint("POST", "/api/v1/knowledge/articles/{article_id}/rollback", Access.EDITOR),
    Endpoint("POST", "/api/v1/knowledge/preview", Access.EDITOR,
             {"file": "---\noverrides: affald_toemning\n---\n", "question": "Hvornår tømmes der?"}),
)
# fmt: on

# Static mounts (app.mount(..., StaticFiles(...), name=...)) are files, not endpoints; list them
# here by name. Any other Mount fails the route test. Today every asset is served by a route.
STATIC_MOUNTS: frozenset[str] = frozenset()

# Realistic ids that exist nowhere, for the negative tests.
FAKE_IDS = {
    "contact_id": "8f14e45f-ceea-4e7a-9b1c-3d2a6f0b7c21",
    "offer_id": "4711",
    "task_id": "815",
    "agent_id": "mette.k",
    "name": "console.js",
    "path": "messages",
    "session": "Zk3q9VbT1xR2mN8pL4sW6yHc0dJf5gAe",
    "article_id": "affald_toemning",
}
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def concrete(path: str, ids: Mapping[str, str] | None = None) -> str:
    values = {**FAKE_IDS, **(ids or {})}
    return PARAM.sub(lambda m: values[m[1]], path)


def by_access(*classes: Access) -> list[Endpoint]:
    return [e for e in POLICY if e.access in classes]


def ids_of(endpoints: list[Endpoint]) -> list[str]:
    return [str(e) for e in endpoints]


# --- the table against the app ----------------------------------------------------------------------


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every endpoint the app serves. FastAPI >= 0.137 keeps included routers
    as lazy wrappers in `app.routes`; `iter_route_contexts` flattens them with their full paths.
    Starlette's own GET routes (/docs ...) also answer HEAD; HEAD is not listed separately."""
    served: set[tuple[str, str]] = set()
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, Mount):
            assert route.name in STATIC_MOUNTS, (
                f"mount {route.name!r} at {rc.path!r} is not a known static mount; add it to STATIC_MOUNTS"
                " if it only serves files, else give its routes a policy in POLICY"
            )
            continue
        if isinstance(route, WebSocketRoute):
            served.add(("WS", rc.path))
        elif isinstance(route, Route):
            methods = set(rc.methods or ())
            if "GET" in methods:
                methods.discard("HEAD")
            assert methods, f"route {rc.path!r} declares no methods"
            served.update((m, rc.path) for m in methods)
        else:
            pytest.fail(f"unknown route type {type(route).__name__} at {rc.path!r}: state its policy")
    return served


@pytest.fixture(scope="module")
def app(settings, understanding) -> FastAPI:
    return build_app(settings, understanding=understanding)  # not started: only its routes are read


def test_policy_table_has_no_duplicates():
    keys = [e.key for e in POLICY]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_policy_lists_every_route_of_the_real_app(app):
    served = served_routes(app)
    listed = {e.key for e in POLICY}
    missing = sorted(served - listed)
    stale = sorted(listed - served)
    assert not missing, (
        f"routes without an access policy (add them to POLICY and docs/access-policy.md): {missing}"
    )
    assert not stale, f"POLICY lists routes the app no longer serves (remove them): {stale}"
    assert len(served) > 40  # the enumeration itself must not silently degrade to nothing


def test_docs_mirror_the_policy_table():
    row = re.compile(
        r"^\|\s*(GET|POST|PUT|PATCH|DELETE|OPTIONS|WS)\s*\|\s*`([^`]+)`\s*\|\s*([a-z-]+)\s*\|", re.MULTILINE
    )
    documented = {(m, p, a) for m, p, a in row.findall(DOCS.read_text(encoding="utf-8"))}
    table = {(e.method, e.path, e.access.value) for e in POLICY}
    assert sorted(table - documented) == [], "rows missing from (or different in) docs/access-policy.md"
    assert sorted(documented - table) == [], "docs/access-policy.md lists rows that POLICY does not"


# --- one running app with agents of both tenants ---------------------------------------------------

PEPPER = "access-policy-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
EMAIL_SECRET = "email-secret-0123456789abcdefghijklmnop"
CITIZEN = "Kirsten Holmgaard"
CITIZEN_TEXT = "Jeg bor på Amagerbrogade 117 og venter stadig på svar om min boligstøtte fra marts."
CITIZEN_PHONE = "22 71 93 58"
TASK_NOTE = "Ring venligst tilbage om ejendomsskatten på Amagerbrogade 117."
# agent id -> (tenant, role, skills)
AGENTS: dict[str, tuple[str, AgentRole, dict[str, int]]] = {
    "anne.kbh": ("kobenhavn", AgentRole.AGENT, {"borgerservice_basis": 7}),
    "carl.kbh": ("kobenhavn", AgentRole.AGENT, {"borgerservice_basis": 5}),
    "bo.kbh": ("kobenhavn", AgentRole.AGENT, {"borgerservice_basis": 3}),
    "sara.kbh": ("kobenhavn", AgentRole.SUPERVISOR, {}),
    "adam.kbh": ("kobenhavn", AgentRole.ADMIN, {}),
    "rolf.rdv": ("rodovre", AgentRole.AGENT, {"borgerservice_basis": 9}),
    "rikke.rdv": ("rodovre", AgentRole.SUPERVISOR, {"borgerservice_basis": 9}),
    "rita.rdv": ("rodovre", AgentRole.ADMIN, {"borgerservice_basis": 9}),
    "ella.kbh": ("kobenhavn", AgentRole.EDITOR, {}),
    "erik.rdv": ("rodovre", AgentRole.EDITOR, {}),
}


@dataclass
class World:
    app: FastAPI
    client: TestClient
    engine: ConversationEngine
    tokens: dict[str, str]

    def auth(self, agent_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[agent_id]}"}

    def call(
        self,
        e: Endpoint,
        headers: Mapping[str, str] | None = None,
        ids: Mapping[str, str] | None = None,
        query: str = "",
    ):
        if e.path == "/agent/api/live":  # one event, then the stream ends (the test client reads to the end)
            query += "&seconds=0" if query else "?seconds=0"
        return self.client.request(
            e.method, concrete(e.path, ids) + query, json=e.body, headers=dict(headers or {})
        )


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("access-policy") / "kontakt.sqlite3"
    local = settings.model_copy(
        update={"database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER)}
    )
    with pytest.MonkeyPatch.context() as mp:
        # One test client makes a few hundred requests from one address in seconds; a 429 from
        # the per-IP limiter (tested in tests/bot/api/test_ratelimit.py) would mask the status
        # under test here.
        mp.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
        app = build_app(local, understanding=understanding, rate_limits=RateLimitSettings(enabled=False))
        app.state.voice_settings = VoiceSettings(twilio_auth_token=TWILIO_TOKEN)
        app.state.email_settings = EmailSettings(inbound_secret=SecretStr(EMAIL_SECRET), smtp_host=None,
                                                 imap_host=None)  # fmt: skip
        with TestClient(app) as client:
            engine: ConversationEngine = app.state.engine
            pepper = token_pepper(local)
            tokens = {
                agent_id: create_agent(
                    engine,
                    pepper,
                    tenant_id=tenant,
                    agent_id=agent_id,
                    name=agent_id.title(),
                    role=role,
                    skills=skills,
                )
                for agent_id, (tenant, role, skills) in AGENTS.items()
            }
            yield World(app, client, engine, tokens)


# --- public --------------------------------------------------------------------------------------


@pytest.mark.parametrize("e", by_access(Access.PUBLIC), ids=ids_of(by_access(Access.PUBLIC)))
def test_public_routes_answer_without_credentials(world, e):
    """The table is honest about public routes too: no credentials, no 401/403, no 5xx."""
    if e.method == "WS":
        with world.client.websocket_connect(concrete(e.path) + "?tenant=kobenhavn") as ws:
            assert ws.receive_json()["type"] == "session"
        return
    query = f"?session={FAKE_IDS['session']}" if e.path in ("/chat/api/messages", "/chat/api/history") else ""
    body = (
        None
        if e.body is None
        else {k: (FAKE_IDS["session"] if v == "{session}" else v) for k, v in e.body.items()}
    )
    r = world.client.request(e.method, concrete(e.path) + query, json=body)
    assert r.status_code not in (401, 403) and r.status_code < 500, (str(e), r.status_code, r.text[:300])


# --- twilio-signed -------------------------------------------------------------------------------

TWILIO = by_access(Access.TWILIO_SIGNED)
TWILIO_TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://testserver"  # what the TestClient requests, so what Twilio would have signed


def call_params(call_sid: str) -> dict[str, str]:
    """The form fields of a Twilio webhook for an inbound call to København's number."""
    return {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "completed",
        "Called": "+4533663366",
        "Caller": "+4520123456",
        "Direction": "inbound",
        "From": "+4520123456",
        "To": "+4533663366",
    }


def post_voice(world, path: str, params: dict[str, str], signature: str | None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return world.client.post(path, data=params, headers=headers)


def sign(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.mark.parametrize("e", TWILIO, ids=ids_of(TWILIO))
@pytest.mark.parametrize(
    "how", ["unsigned", "forged-with-another-token", "garbage", "signed-for-another-url"]
)
def test_twilio_routes_refuse_missing_and_forged_signatures(world, e, how):
    path = concrete(e.path)
    params = call_params("CA9f0c2b7e4d1a6385b0e7c4d2a1f9e8b7")
    signature = {
        "unsigned": None,
        "forged-with-another-token": sign(BASE + path, params, token="not-the-auth-token-0123456789abcd"),
        "garbage": "dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=",
        "signed-for-another-url": sign(BASE + "/voice/incoming?step=replay", params),  # genuine, elsewhere
    }[how]
    r = post_voice(world, path, params, signature)
    assert r.status_code == 403, (str(e), how, r.status_code, r.text[:300])
    assert "<Response" not in r.text  # no TwiML: the call flow did not run


@pytest.mark.parametrize("e", TWILIO, ids=ids_of(TWILIO))
def test_twilio_routes_accept_a_genuine_signature(world, e):
    """Control: the 403s above come from the signature, not from a broken setup."""
    path = concrete(e.path)
    params = call_params("CA" + hashlib.md5(path.encode()).hexdigest())  # a fresh call per route
    r = post_voice(world, path, params, sign(BASE + path, params))
    assert r.status_code not in (401, 403) and r.status_code < 500, (str(e), r.status_code, r.text[:300])


# --- email-secret --------------------------------------------------------------------------------

MAIL = (b"From: Borger <borger@example.dk>\r\nTo: kontakt@kobenhavn.example\r\nSubject: Affald\r\n"
        b"Message-ID: <access-policy-1@example.dk>\r\n\r\nHvornaar kommer skraldebilen?\r\n")  # fmt: skip
EMAIL = by_access(Access.EMAIL_SECRET)


@pytest.mark.parametrize("e", EMAIL, ids=ids_of(EMAIL))
@pytest.mark.parametrize(
    ("secret", "status"),
    [
        pytest.param(None, 401, id="no-secret"),
        pytest.param("", 403, id="empty-secret"),
        pytest.param("email-secret-0123456789abcdefghijklmnoX", 403, id="wrong-secret-same-length"),
        pytest.param("wrong", 403, id="wrong-secret"),
    ],
)
def test_email_inbound_refuses_missing_and_wrong_secret(world, e, secret, status):
    headers = {"Content-Type": "message/rfc822", **({SECRET_HEADER: secret} if secret is not None else {})}
    before = len(world.engine.events("kobenhavn"))
    r = world.client.request(e.method, concrete(e.path) + "?tenant=kobenhavn", content=MAIL, headers=headers)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "message"}
    assert len(world.engine.events("kobenhavn")) == before  # nothing was ingested


@pytest.mark.parametrize("e", EMAIL, ids=ids_of(EMAIL))
def test_email_inbound_accepts_the_right_secret(world, e):
    """Control: with the right secret an empty push is refused for its content (400), not auth."""
    r = world.client.request(
        e.method,
        concrete(e.path),
        content=b"",
        headers={SECRET_HEADER: EMAIL_SECRET, "Content-Type": "message/rfc822"},
    )
    assert r.status_code == 400 and r.json()["error"] == "empty_message", r.text


# --- agent, supervisor, admin ----------------------------------------------------------------------

WITH_TOKEN = by_access(*AGENT_CLASSES)


@pytest.mark.parametrize("e", WITH_TOKEN, ids=ids_of(WITH_TOKEN))
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-token"),
        pytest.param("Bearer kontakt_q8Z1mN4vX7cR2tY5uI0oP3aS6dF9gH1jK4lZ7xC0vB2", id="garbage-token"),
        pytest.param("Bearer ", id="empty-bearer"),
        pytest.param("Basic YW5uZS5rYmg6cGFzc3dvcmQ=", id="basic-auth"),
    ],
)
def test_token_routes_refuse_missing_and_garbage_tokens(world, e, authorization):
    r = world.call(e, {"Authorization": authorization} if authorization else {})
    assert r.status_code == 401, (str(e), r.status_code, r.text[:300])
    assert r.json()["error"] == "NotAuthenticated" and r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("e", WITH_TOKEN, ids=ids_of(WITH_TOKEN))
def test_an_editor_token_opens_no_agent_route(world, e):
    r = world.call(e, world.auth("ella.kbh"), OWN_TENANT_TARGET)
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden", (str(e), r.status_code, r.text[:300])


# --- editor --------------------------------------------------------------------------------------

EDITOR_ROUTES = by_access(Access.EDITOR)
KBH_OVERLAY = "affald_toemning"  # København has a local overlay of it, Rødovre has none


def _editor_call(world, e: Endpoint, caller: str | None, tenant: str):
    query = {"tenant": tenant, **({"version": "0"} if e.path.endswith("/rollback") else {})}
    headers = world.auth(caller) if caller else {}
    if e.method == "PUT":
        return world.client.put(concrete(e.path), params=query, content=b"---\n", headers={
            **headers, "Content-Type": "text/markdown"})  # fmt: skip
    return world.client.request(e.method, concrete(e.path), params=query, json=e.body, headers=headers)


@pytest.mark.parametrize("e", EDITOR_ROUTES, ids=ids_of(EDITOR_ROUTES))
def test_editor_routes_refuse_no_token_agents_and_another_tenants_editor(world, e):
    assert _editor_call(world, e, None, "kobenhavn").status_code == 401
    for caller in ("anne.kbh", "sara.kbh"):
        r = _editor_call(world, e, caller, "kobenhavn")
        assert r.status_code == 403 and r.json()["error"] == "RoleForbidden", (str(e), caller, r.text[:300])
    for caller in ("erik.rdv", "rita.rdv"):  # Rødovre's editor and admin: never København's local articles
        r = _editor_call(world, e, caller, "kobenhavn")
        assert r.status_code == 403, (str(e), caller, r.status_code, r.text[:300])
        assert "Nem Affaldsservice" not in r.text  # København's local text


def test_editor_control_own_tenant_is_let_through(world):
    """Control: the refusals above come from the role and the tenant, not from a broken route."""
    r = world.client.get(f"/api/v1/knowledge/articles/{KBH_OVERLAY}", params={"tenant": "kobenhavn"},
                         headers=world.auth("ella.kbh"))  # fmt: skip
    assert r.status_code == 200 and "Nem Affaldsservice" in r.json()["text"]
    assert world.client.get("/api/v1/knowledge/articles", headers=world.auth("erik.rdv")).status_code == 200


def test_a_token_from_the_database_is_not_a_token(world):
    """The stored value is a peppered hash; presenting it does not log in."""
    with world.engine.db.read() as s:
        stored = s.get(Agent, "anne.kbh").token_hash
    r = world.client.get("/agent/api/me", headers={"Authorization": f"Bearer {stored}"})
    assert r.status_code == 401


# For role tests, path ids name real targets in the caller's own tenant, so that a missing role
# check would act (200) instead of failing on an unknown id (404).
OWN_TENANT_TARGET = {"agent_id": "bo.kbh"}
SUPERVISOR_ONLY = by_access(Access.SUPERVISOR, Access.ADMIN)
ADMIN_ONLY = by_access(Access.ADMIN)


def _bo_snapshot(world):
    bo = agent_live(world.engine.db, "kobenhavn", "bo.kbh")
    return (bo.state, dict(bo.skills), bo.role)


def _agent_ids(world) -> set[str]:
    with world.engine.db.read() as s:
        return set(s.scalars(select(Agent.id)))


@pytest.mark.parametrize("e", SUPERVISOR_ONLY, ids=ids_of(SUPERVISOR_ONLY))
def test_supervisor_routes_refuse_a_plain_agent(world, e):
    before, agents = _bo_snapshot(world), _agent_ids(world)
    r = world.call(e, world.auth("anne.kbh"), OWN_TENANT_TARGET)
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden", (str(e), r.text)
    assert _bo_snapshot(world) == before and _agent_ids(world) == agents  # nothing changed


@pytest.mark.parametrize("e", ADMIN_ONLY, ids=ids_of(ADMIN_ONLY))
def test_admin_routes_refuse_a_supervisor(world, e):
    agents = _agent_ids(world)
    r = world.call(e, world.auth("sara.kbh"), OWN_TENANT_TARGET)
    assert r.status_code == 403 and r.json()["error"] == "RoleForbidden", (str(e), r.text)
    assert _agent_ids(world) == agents


def test_role_controls_supervisor_and_admin_are_let_through(world):
    """Control: the 403s above come from the role, not from a broken route."""
    sara, adam = world.auth("sara.kbh"), world.auth("adam.kbh")
    assert world.client.get("/agent/api/supervisor/overview", headers=sara).status_code == 200
    r = world.client.put(
        "/agent/api/supervisor/agents/bo.kbh/skills", json={"borgerservice_basis": 3}, headers=sara
    )
    assert r.status_code == 200, r.text
    r = world.client.post(
        "/agent/api/supervisor/agents/bo.kbh/state", json={"state": "offline"}, headers=sara
    )
    assert r.status_code == 200, r.text
    r = world.client.post("/agent/api/supervisor/agents", json={"id": "ny.kbh", "name": "Ny"}, headers=adam)
    assert r.status_code == 201 and r.json()["agent"]["role"] == "agent", r.text


# --- tenant isolation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kobenhavn:
    """Live data of København that Rødovre must never see or touch."""

    assigned: str  # contact assigned to anne.kbh (after a handoff)
    offered: str  # contact with a pending offer
    queued: str  # contact waiting in a queue
    with_task: str  # contact with an open message (besked) task
    offer_id: int
    offer_agent: str
    task_id: int

    @property
    def contacts(self) -> tuple[str, ...]:
        return (self.assigned, self.offered, self.queued, self.with_task)


@pytest.fixture(scope="module")
def kbh(world) -> Kobenhavn:
    engine = world.engine

    def handoff(ref: str) -> str:
        c = engine.open_contact("kobenhavn", "chat", ref, name=CITIZEN, phone=CITIZEN_PHONE)
        engine.record_inbound("kobenhavn", c.id, CITIZEN_TEXT)
        engine.request_handoff("kobenhavn", c.id, None, "asked_for_human")
        return c.id

    for agent_id, (tenant, _, _) in AGENTS.items():
        engine.set_agent_state(tenant, agent_id, "offline")
    with engine.db.read() as s:  # e.g. calls queued by the voice controls: the router must offer ours
        waiting = list(s.scalars(select(Contact.id).where(Contact.tenant_id == "kobenhavn",
                                                          Contact.state == ContactState.QUEUED)))  # fmt: skip
    for contact_id in waiting:
        engine.mark_abandoned("kobenhavn", contact_id)
    # The app routes by itself (bot.engine.dispatch): its router may make an offer before ours, and
    # it would expire the pending offer below, which must still ring when the last test looks.
    engine.offer_timeout = timedelta(hours=1)
    engine.set_agent_state("kobenhavn", "anne.kbh", "available")
    assigned = handoff("iso-assigned")
    engine.route("kobenhavn")
    [offer] = [o for o in engine.offers("kobenhavn") if o.contact_id == assigned]
    engine.accept_offer("kobenhavn", offer.id, "anne.kbh")
    engine.set_agent_state("kobenhavn", "carl.kbh", "available")
    offered = handoff("iso-offered")
    engine.route("kobenhavn")
    [pending] = [o for o in engine.offers("kobenhavn") if o.contact_id == offered]
    for agent_id in ("anne.kbh", "carl.kbh"):  # routing any further contact stops here
        engine.set_agent_state("kobenhavn", agent_id, "paused")
    queued = handoff("iso-queued")
    with_task = handoff("iso-task")
    task = engine.leave_message("kobenhavn", with_task, CITIZEN_PHONE, TASK_NOTE, name=CITIZEN)
    assert engine.contact("kobenhavn", assigned).assigned_agent_id == "anne.kbh"
    assert engine.contact("kobenhavn", queued).state == "queued"
    return Kobenhavn(assigned, offered, queued, with_task, pending.id, pending.agent_id, task.id)


RODOVRE_CALLERS = ["rolf.rdv", "rikke.rdv", "rita.rdv"]  # agent, supervisor, admin
# Reports that take `tenant=` (it may name the caller's own): naming another answers 404, never data.
TENANT_QUERY = frozenset({"/api/v1/stats/summary", "/api/v1/stats/contacts", "/api/v1/stats/contacts.csv",
                          "/api/v1/stats/questions", "/api/v1/stats/metering", "/api/v1/stats/live",
                          "/api/v1/knowledge/stale"})  # fmt: skip
ISOLATION = [e for e in WITH_TOKEN if e.access is not Access.ADMIN]  # admin create: its own test below


def _secrets(kbh: Kobenhavn, allowed: str = "") -> list[str]:
    """Strings that would show København data in a Rødovre response. `allowed`: the id the caller
    put in the path itself (an error message may name it back)."""
    kbh_agents = [a for a, (t, _, _) in AGENTS.items() if t == "kobenhavn"]
    # Only distinctive strings: queue names are shared by every tenant ("Boligstøtte/orlovsordning").
    values = [CITIZEN, "Holmgaard", CITIZEN_TEXT, "Amagerbrogade", CITIZEN_PHONE, "22719358", TASK_NOTE,
              "Københavns Kommune", *kbh.contacts, *kbh_agents]  # fmt: skip
    return [v for v in values if v != allowed]


@pytest.mark.parametrize("caller", RODOVRE_CALLERS)
@pytest.mark.parametrize("e", ISOLATION, ids=ids_of(ISOLATION))
def test_rodovre_gets_nothing_of_kobenhavn(world, kbh, e, caller):
    role = AGENTS[caller][1]
    allowed_role = RANK[role] >= RANK[ROLE_OF[e.access]]
    contact_ids = (
        [kbh.assigned, kbh.offered, kbh.queued, kbh.with_task] if "{contact_id}" in e.path else [None]
    )
    for contact_id in contact_ids:
        ids = {"contact_id": contact_id or "", "offer_id": str(kbh.offer_id), "task_id": str(kbh.task_id),
               "agent_id": "anne.kbh"}  # fmt: skip
        named = re.findall(r"\{(\w+)", e.path)
        in_path = ids[named[0]] if named else ""
        for query in ("", "?tenant=kobenhavn", "?all=true&tenant=kobenhavn"):
            r = world.call(e, world.auth(caller), ids, query)
            where = (str(e), caller, contact_id, query, r.status_code, r.text[:300])
            if not allowed_role:
                assert r.status_code == 403, where
            elif named or (query and e.path in TENANT_QUERY):
                assert r.status_code == 404, where  # another tenant's id answers like a missing one
            else:
                assert r.status_code in (200, 204), where
            leaked = [s for s in _secrets(kbh, in_path) if s in r.text]
            assert leaked == [], (where, leaked)
            if r.status_code == 200 and e.path in ("/agent/api/queues", "/agent/api/supervisor/overview"):
                body = r.json()
                assert all(q["waiting"] == 0 and q["in_progress"] == 0 for q in body["queues"]), where
            if r.status_code == 200 and e.path == "/agent/api/me":
                assert r.json()["tenant"]["id"] == "rodovre"


BY_ID = [e for e in ISOLATION if PARAM.search(e.path)]


@pytest.mark.parametrize("e", BY_ID, ids=ids_of(BY_ID))
def test_another_tenants_id_answers_exactly_like_a_missing_one(world, kbh, e):
    """Same status and body (bar the id itself) for a København id and an id that exists nowhere,
    so Rødovre cannot even learn which ids are in use."""
    real = {"contact_id": kbh.queued, "offer_id": str(kbh.offer_id), "task_id": str(kbh.task_id),
            "agent_id": "anne.kbh"}  # fmt: skip
    name = PARAM.search(e.path)[1]
    answers = []
    for ids in (real, FAKE_IDS):
        r = world.call(e, world.auth("rita.rdv"), ids)
        answers.append((r.status_code, r.text.replace(ids[name], "<id>")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404


def test_kobenhavn_is_untouched_by_rodovre(world, kbh):
    """After every Rødovre attempt (the tests above, which run first): København's contacts, offer,
    task and agents are as they were, and no Rødovre agent appears in any København event."""
    engine, db = world.engine, world.engine.db
    assert engine.contact("kobenhavn", kbh.assigned).assigned_agent_id == "anne.kbh"
    assert engine.contact("kobenhavn", kbh.assigned).state == "assigned"
    assert engine.contact("kobenhavn", kbh.queued).state == "queued"
    assert [m.author for m in engine.transcript("kobenhavn", kbh.assigned)].count("agent") == 0
    assert len(engine.handoff_packets("kobenhavn", kbh.assigned)) == 1  # no transfer
    with db.read() as s:
        offer = s.get(Offer, kbh.offer_id)
        assert (offer.status, offer.agent_id) == (OfferStatus.PENDING, kbh.offer_agent)
        assigned_to = set(
            s.scalars(select(Contact.assigned_agent_id).where(Contact.tenant_id == "kobenhavn"))
        )
        assert s.get(Task, kbh.task_id).status is TaskStatus.OPEN
    anne = agent_live(db, "kobenhavn", "anne.kbh")
    assert dict(anne.skills) == {"borgerservice_basis": 7} and anne.role is AgentRole.AGENT
    rodovre_agents = {a for a, (t, _, _) in AGENTS.items() if t == "rodovre"}
    assert {ev.agent_id for ev in engine.events("kobenhavn")} & rodovre_agents == set()
    assert assigned_to & rodovre_agents == set()


def test_rodovre_admin_cannot_create_or_take_over_a_kobenhavn_agent(world, kbh):
    rita = world.auth("rita.rdv")
    r = world.client.post(
        "/agent/api/supervisor/agents", json={"id": "anne.kbh", "name": "Anne", "role": "admin"}, headers=rita
    )
    assert r.status_code == 409, r.text  # ids are unique across tenants (documented)
    assert [s for s in _secrets(kbh, "anne.kbh") if s in r.text] == []
    # There is no tenant to choose: the body may not name one.
    r = world.client.post(
        "/agent/api/supervisor/agents",
        json={"id": "ny.rdv", "name": "Ny", "tenant": "kobenhavn"},
        headers=rita,
    )
    assert r.status_code == 422, r.text
    anne = agent_live(world.engine.db, "kobenhavn", "anne.kbh")
    assert (anne.name, anne.role) == ("Anne.Kbh", AgentRole.AGENT)
    # The new agent lands in the caller's tenant, and its token sees only Rødovre.
    r = world.client.post("/agent/api/supervisor/agents", json={"id": "ny.rdv", "name": "Ny"}, headers=rita)
    assert r.status_code == 201, r.text
    me = world.client.get("/agent/api/me", headers={"Authorization": f"Bearer {r.json()['token']}"}).json()
    assert me["tenant"]["id"] == "rodovre"
