"""Bad input against the real app (connectors/app.py, SQLite in a temp dir, the real Danish
model): every answer is a clear 4xx (or, for voice, TwiML), never a 5xx; the chat WebSocket
answers every bad frame with an error frame and stays open, and opens no contact before its
first message; the limits hold however the client varies what it controls."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.agent_accounts import create_agent, token_pepper
from bot.api.ratelimit import RateLimitSettings
from bot.storage.models import Contact
from connectors.app import build_app
from connectors.email.settings import EmailSettings
from connectors.voice.config import VoiceSettings
from connectors.voice.routes import get_now

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "bad-input-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
TWILIO_TOKEN = "test-auth-token-0123456789abcdef"
NUMBER = "+4533663366"  # København's number in knowledge/tenants.yaml
TENANT_NAMES = ("kobenhavn", "rodovre", "Københavns", "Rødovre")
BIG = 2**63  # one past the largest 64-bit database integer
OPEN_NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))  # a Tuesday morning


@dataclass
class World:
    app: object
    client: TestClient
    agent: dict[str, str]

    def contacts(self, external_ref: str | None = None) -> int:
        query = select(func.count()).select_from(Contact)
        if external_ref is not None:
            query = query.where(Contact.external_ref == external_ref)
        with self.app.state.db.read() as s:
            return s.scalar(query)


def _app(settings, understanding, tmp_path_factory, name: str, limits: RateLimitSettings):
    db = tmp_path_factory.mktemp(name) / "kontakt.sqlite3"
    local = settings.model_copy(update={"database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER)})
    app = build_app(local, understanding=understanding, rate_limits=limits)
    app.state.voice_settings = VoiceSettings(_env_file=None, twilio_auth_token=TWILIO_TOKEN)
    app.state.email_settings = EmailSettings(_env_file=None, inbound_secret=SecretStr("e" * 40), smtp_host=None,
                                             imap_host=None)  # fmt: skip
    app.dependency_overrides[get_now] = lambda: OPEN_NOW
    return app, local


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    app, local = _app(settings, understanding, tmp_path_factory, "bad-input",
                      RateLimitSettings(_env_file=None, enabled=False))  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        token = create_agent(app.state.engine, token_pepper(local), tenant_id="kobenhavn", agent_id="bad-anne",
                             name="Anne", role="admin", skills={"borgerservice_basis": 5})  # fmt: skip
        yield World(app, client, {"Authorization": f"Bearer {token}"})


def no_tenant_named(text: str) -> bool:
    return not any(name in text for name in TENANT_NAMES)


# --- agent API: ids the database cannot hold ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/agent/api/offers/{}/accept", "/agent/api/offers/{}/decline",
                                  "/agent/api/tasks/{}/done"])  # fmt: skip
@pytest.mark.parametrize("ident", [BIG, 2**64, 10**30, 0, -1, "abc", "1e3", 2**63 - 1])
def test_bad_input_agent_ids_are_404_or_422(world, path, ident):
    r = world.client.post(path.format(ident), headers=world.agent, json={"outcome": "straksafklaret"})
    assert r.status_code in (404, 422), r.text
    if ident == 2**63 - 1:
        assert r.status_code == 404  # a valid id that names nothing


# --- chat over HTTP --------------------------------------------------------------------------------


def test_bad_input_chat_unknown_tenant_is_404_naming_no_tenant(world):
    before = world.contacts()
    r = world.client.post("/chat/api/messages", json={"tenant": "zzz", "text": "Hej"})
    assert r.status_code == 404 and r.json()["error"] == "unknown_tenant"
    assert no_tenant_named(r.text)
    assert world.contacts() == before


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "<script>", "text": "Hej"},
        {"tenant": "kobenhavn", "text": "\ud800"},
        {"tenant": "kobenhavn", "text": "Hej \udfff du"},
        {"tenant": "\ud800", "text": "Hej"},
        {"session": "\ud800", "text": "Hej"},
        {"text": "Hej", "client_message_id": "\ud800"},
        {"text": 1e308},
        {"text": ["Hej"]},
        {"text": {"a": {"b": "c"}}},
        {"text": None},
    ],
)
def test_bad_input_chat_bodies_are_4xx(world, body):
    before = world.contacts()
    r = world.client.post("/chat/api/messages", content=json.dumps(body), headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert world.contacts() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/api/feedback", {"session": "x" * 20, "scores": {"\ud800": 3}}),
        ("/chat/api/feedback", {"session": "x" * 20, "scores": {"tilfredshed": 10**40}}),
        ("/chat/api/feedback", {"session": "x" * 20, "comment": "\ud800"}),
        ("/chat/api/contact-requests", {"session": "x" * 20, "kind": "message", "text": "\ud800"}),
        ("/chat/api/end", {"session": "\ud800"}),
    ],
)
def test_bad_input_chat_side_routes_are_4xx(world, path, body):
    r = world.client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


def test_bad_input_chat_poll_with_huge_after_is_4xx(world):
    r = world.client.get("/chat/api/messages", params={"session": "x" * 20, "after": str(10**30)})
    assert 400 <= r.status_code < 500


# --- Rasa endpoints ------------------------------------------------------------------------------------

RAW_BODIES = [
    b"{not json",
    b"",
    b"\xff\xfe\x00",
    b"[" * 100_000,
    b"[" * 60_000,
    b'{"a":' * 12_000,
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
]


@pytest.mark.parametrize("path", ["/model/parse", "/webhooks/rest/webhook"])
@pytest.mark.parametrize("raw", RAW_BODIES, ids=[f"raw{i}" for i in range(len(RAW_BODIES))])
def test_bad_input_rasa_raw_bodies_are_400_or_422(world, path, raw):
    r = world.client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 413, 422), r.text[:300]
    assert r.json()["message"]


PARSE_BODIES = [
    {"text": 42},
    {"text": None},
    {"text": ["hej"]},
    {"text": {"nested": {"deep": ["x"]}}},
    {"text": 1e308},
    {"text": "\ud800"},
    {"text": "hej", "tenant": "\ud800"},
    {"text": "hej", "tenant": 7},
    {"text": "hej", "message_id": "\udc00"},
]
WEBHOOK_BODIES = [
    {"sender": 42, "message": "hej"},
    {"sender": "", "message": "hej"},
    {"sender": "\ud800", "message": "hej"},
    {"sender": "b", "message": "\ud800"},
    {"sender": "b", "message": ["hej"]},
    {"sender": "b", "message": {"a": 1}},
    {"sender": "b", "message": 10**20},
    {"sender": ["b"], "message": "hej"},
    {"sender": "b", "message": "hej", "metadata": {"tenant": 5}},
    {"sender": "b", "message": "hej", "metadata": {"tenant": "\ud800"}},
    {"sender": "b", "message": "hej", "metadata": "kobenhavn"},
]


@pytest.mark.parametrize("body", PARSE_BODIES)
def test_bad_input_model_parse_bodies_are_422(world, body):
    r = world.client.post("/model/parse", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text[:300]


@pytest.mark.parametrize("body", WEBHOOK_BODIES)
def test_bad_input_webhook_bodies_are_422(world, body):
    r = world.client.post("/webhooks/rest/webhook", content=json.dumps(body),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 422, r.text[:300]


@pytest.mark.parametrize("huge", [b'{"text": 1' + b"0" * 5000 + b"}", b'{"text": 1e999999}'])
def test_bad_input_huge_numbers_are_4xx(world, huge):
    r = world.client.post("/model/parse", content=huge, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/model/parse", {"text": "Hvornår kommer skraldebilen?", "tenant": "zzz"}),
        ("/webhooks/rest/webhook", {"sender": "b", "message": "hej", "metadata": {"tenant": "zzz"}}),
    ],
)
def test_bad_input_rasa_unknown_tenant_is_404_naming_no_tenant(world, path, body):
    r = world.client.post(path, json=body)
    assert r.status_code == 404 and r.json()["error"] == "unknown_tenant"
    assert no_tenant_named(r.text)


def test_bad_input_agent_reply_with_a_lone_surrogate_is_422(world):
    body = json.dumps({"text": "Hej \ud800"})
    r = world.client.post("/agent/api/contacts/c-1/reply", content=body,
                          headers={**world.agent, "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 422


# --- voice ---------------------------------------------------------------------------------------------


def _signed(client: TestClient, path: str, params: dict[str, str]):
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("http://testserver" + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _call(sid: str, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+4520123456", "To": NUMBER,
            "CallStatus": "in-progress", "Direction": "inbound", **extra}  # fmt: skip


@pytest.mark.parametrize("digits", ["²", "١", "1²", "abc", "１", "9" * 100])
def test_bad_input_voice_keys_outside_the_keypad_are_400(world, digits):
    sid = "CA" + "b" * 32
    r = _signed(world.client, "/voice/gather?step=clarify", _call(sid, Digits=digits))
    assert r.status_code == 400 and "Digits" in r.text


@pytest.mark.parametrize("digits", ["99999999999999999999", "*", "#", "0"])
def test_bad_input_voice_odd_keypad_input_is_twiml(world, digits):
    r = _signed(world.client, "/voice/gather?step=clarify", _call("CA" + "c" * 32, Digits=digits))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")


def test_bad_input_voice_unknown_number_is_told_in_danish_and_opens_nothing(world):
    sid = "CA" + "d" * 32
    r = _signed(world.client, "/voice/incoming", _call(sid, To="+4599999999", Called="+4599999999"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert "bliver ikke betjent her" in r.text and "<Hangup" in r.text
    assert world.contacts(sid) == 0


# --- the chat WebSocket ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [("tenant=zzz", "unknown_tenant"), ("tenant=%3Cx%3E", "invalid_tenant"), ("tenant=kobenhavn&after=%C2%B2", "invalid_after"),
     ("after=-1", "invalid_after"), ("after=" + "9" * 40, "invalid_after")],
)  # fmt: skip
def test_bad_input_ws_bad_query_closes_with_1008(world, query, code):
    before = world.contacts()
    with world.client.websocket_connect("/chat/ws?" + query) as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == code and frame["message"]
        assert no_tenant_named(frame["message"])
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
    assert world.contacts() == before


BAD_FRAMES = [
    ("bytes", b"\x00\x01binary", "binary_frame"),
    ("text", "{not json", "invalid_json"),
    ("text", "[" * 60_000, "invalid_json"),  # nested deeper than the parser goes
    ("text", '{"a":' * 12_000, "invalid_json"),
    ("text", "[1, 2]", "invalid_json"),
    ("text", "x" * 70_000, "frame_too_large"),
    ("text", '{"type": "dance"}', "unknown_type"),
    ("text", '{"type": ["message"]}', "unknown_type"),
    ("text", '{"type": "message"}', "invalid_message"),
    ("text", '{"type": "message", "text": 5}', "invalid_message"),
    ("text", '{"type": "message", "text": "hej", "client_message_id": {"a": 1}}', "invalid_message"),
    ("text", '{"type": "message", "text": "\\ud800"}', "invalid_text"),
    ("text", json.dumps({"type": "message", "text": "hej \ud800"}, ensure_ascii=False).replace("\ud800", "\\ud800"),
     "invalid_text"),
    ("text", '{"type": "message", "text": "hej", "client_message_id": "\\ud800"}', "invalid_client_message_id"),
    ("text", '{"type": "message", "text": "   "}', "empty_text"),
]  # fmt: skip


def test_bad_input_ws_answers_every_bad_frame_and_stays_open(world):
    before = world.contacts()
    with world.client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session" and hello["created"] is True
        for kind, payload, code in BAD_FRAMES:
            if kind == "bytes":
                ws.send_bytes(payload)
            else:
                ws.send_text(payload)
            frame = ws.receive_json()
            assert frame["type"] == "error" and frame["code"] == code, (payload[:40], frame)
            assert frame["message"] and frame["message"].isprintable()
        ws.send_text("{\"type\": \"message\", \"text\": \"hej \ud800\"}")  # a raw lone surrogate in the frame
        assert ws.receive_json()["code"] == "invalid_text"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # still open
        assert world.contacts(hello["session"]) == 0
    assert world.contacts() == before


def test_bad_input_ws_opens_no_contact_until_the_first_message(world):
    before = world.contacts()
    for _ in range(20):  # the attack opened one contact per socket
        with world.client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
            assert ws.receive_json()["type"] == "session"
    assert world.contacts() == before
    with world.client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        sid = ws.receive_json()["session"]
        ws.send_json({"type": "message", "text": "Hvornår kommer skraldebilen?", "client_message_id": "m1"})
        assert ws.receive_json()["type"] == "user"
    assert world.contacts(sid) == 1 and world.contacts() == before + 1


# --- limits that hold ------------------------------------------------------------------------------


class FrozenClock:
    """Buckets refill with time; this clock stands still, so nothing refills during a test."""

    def __call__(self) -> float:
        return 1000.0


@pytest.fixture
def limited(settings, understanding, tmp_path_factory, request) -> Iterator[World]:
    limits = RateLimitSettings(_env_file=None, trust_forwarded_for=True, **request.param)
    app, _ = _app(settings, understanding, tmp_path_factory, "limits", limits)
    app.state.rate_limits.limiter.clock = FrozenClock()
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(app, client, {})


def _from(ip: str) -> dict[str, str]:
    return {"x-forwarded-for": ip}


@pytest.mark.parametrize("limited", [{"sender_burst": 5, "sender_per_second": 0.001}], indirect=True)
def test_bad_input_limit_chat_session_is_not_escaped_by_varying_the_tenant(limited):
    c = limited.client
    first = c.post("/chat/api/messages", json={"tenant": "kobenhavn", "text": "hej"}, headers=_from("10.0.0.1"))
    sid = first.json()["session"]
    codes = [
        c.post("/chat/api/messages", json={"session": sid, "tenant": t, "text": "hej"}, headers=_from("10.0.0.1"))
        .status_code
        for t in ["kobenhavn", "rodovre", "zz", "", "kobenhavn"] * 4
    ]
    assert codes.count(200) <= 4 and codes[-1] == 429  # the first message (no session yet) was free


@pytest.mark.parametrize("limited", [{"sender_burst": 5, "sender_per_second": 0.001}], indirect=True)
def test_bad_input_limit_rasa_sender_cannot_be_locked_out_from_another_address(limited):
    c = limited.client
    body = {"sender": "borger-42", "message": "hej"}
    flood = [c.post("/webhooks/rest/webhook", json=body, headers=_from("10.6.6.6")).status_code for _ in range(25)]
    assert flood.count(429) >= 20
    assert c.post("/webhooks/rest/webhook", json=body, headers=_from("10.1.1.1")).status_code == 200


@pytest.mark.parametrize("limited", [{"ip_burst": 9, "ip_per_second": 0.001}], indirect=True)
def test_bad_input_limit_long_texts_cost_by_their_length(limited):
    c = limited.client
    text = "Hvornår kommer skraldebilen? " * 135  # 3,915 characters: costs 4 tokens, "hej" 1
    codes = [c.post("/model/parse", json={"text": text}, headers=_from("10.2.2.2")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert c.post("/model/parse", json={"text": "hej"}, headers=_from("10.2.2.2")).status_code == 200


@pytest.mark.parametrize("limited", [{"new_conversation_burst": 2}], indirect=True)
def test_bad_input_limit_new_conversations_per_address(limited):
    c = limited.client
    codes = [c.post("/chat/api/messages", json={"text": "hej", "session": f"{i:020d}"}, headers=_from("10.3.3.3"))
             .status_code for i in range(4)]  # fmt: skip
    assert codes == [200, 200, 429, 429]
    assert c.post("/chat/api/messages", json={"text": "hej"}, headers=_from("10.3.3.4")).status_code == 200


@pytest.mark.parametrize("limited", [{"ws_frames_burst": 3, "sender_burst": 100}], indirect=True)
def test_bad_input_limit_ws_frames_per_socket(limited):
    with limited.client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        ws.receive_json()
        replies = []
        for _ in range(6):
            ws.send_json({"type": "ping"})
            replies.append(ws.receive_json())
        assert replies[:3] == [{"type": "pong"}] * 3
        assert all(r["type"] == "error" and r["code"] == "rate_limited" for r in replies[3:])
        assert replies[-1]["retry_after"] >= 1 and replies[-1]["message"].startswith("Du har sendt mange")


@pytest.mark.parametrize("limited", [{"ws_per_address": 2}], indirect=True)
def test_bad_input_limit_open_sockets_per_address(limited):
    c = limited.client
    with c.websocket_connect("/chat/ws") as a, c.websocket_connect("/chat/ws") as b:
        a.receive_json(), b.receive_json()
        with c.websocket_connect("/chat/ws") as third:
            frame = third.receive_json()
            assert frame["code"] == "too_many_sockets"
            with pytest.raises(WebSocketDisconnect) as closed:
                third.receive_json()
            assert closed.value.code == 1008
    with c.websocket_connect("/chat/ws") as again:  # the others closed: room again
        assert again.receive_json()["type"] == "session"
