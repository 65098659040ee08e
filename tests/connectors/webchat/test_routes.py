"""Web chat routes through the in-process TestClient against the real Danish model."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from bot.api import create_app
from connectors.webchat import router
from tests.connectors.webchat.bot_only import provide_chat

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "Hvornår kommer skraldebilen?"


def post(client, text, session=None, cmid=None, tenant="kobenhavn"):
    return client.post("/chat/api/messages",
                       json={"session": session, "tenant": tenant, "text": text, "client_message_id": cmid})


# -- HTTP fallback ---------------------------------------------------------------------------------
def test_http_roundtrip_answer_has_structured_citation(client):
    r = post(client, QUESTION, cmid="c1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}", body["session"]) and body["created"] is True
    user, *bots = body["messages"]
    assert user == {"id": 1, "kind": "user", "text": QUESTION, "created_at": user["created_at"],
                    "client_message_id": "c1"}
    answer = bots[0]
    assert answer["kind"] == "bot" and answer["action"] == "answer"
    assert answer["article"]["cite"].startswith("Kilde: ")
    assert "senest gennemgået" in answer["article"]["cite"]
    assert re.search(r"\d{1,2}\. [a-zæøå]+ \d{4}", answer["article"]["cite"])  # Danish date
    assert "Kilde:" not in answer["text"]  # the citation is not repeated in the text
    assert answer["article"]["source_url"].startswith("https://")


def test_polling_returns_only_newer_messages(client):
    body = post(client, QUESTION).json()
    sid, last = body["session"], body["messages"][-1]["id"]
    assert client.get("/chat/api/messages", params={"session": sid, "after": last}).json() == {
        "session": sid, "messages": []}
    r = client.get("/chat/api/messages", params={"session": sid, "after": 1}).json()
    assert [m["id"] for m in r["messages"]] == list(range(2, last + 1))


def test_history_after_reload_continues_the_conversation(client):
    first = post(client, QUESTION).json()
    sid = first["session"]
    second = post(client, "pas", session=sid).json()
    assert second["session"] == sid and second["created"] is False
    history = client.get("/chat/api/history", params={"session": sid}).json()
    assert history["session"] == sid
    ids = [m["id"] for m in history["messages"]]
    assert ids == list(range(1, len(ids) + 1))
    assert [m["text"] for m in history["messages"] if m["kind"] == "user"] == [QUESTION, "pas"]
    assert history["messages"] == first["messages"] + second["messages"]


def test_repeated_client_message_id_is_answered_once(client):
    a = post(client, QUESTION, cmid="retry-1").json()
    b = post(client, QUESTION, session=a["session"], cmid="retry-1").json()
    assert b["messages"] == a["messages"]
    assert len(client.get("/chat/api/history", params={"session": a["session"]}).json()["messages"]) == len(
        a["messages"])


@pytest.mark.parametrize("session", ["Z" * 24, "not a session id!", "", None])
def test_unknown_session_starts_a_new_one(client, session):
    body = post(client, QUESTION, session=session).json()
    assert body["created"] is True and body["session"] != session
    assert body["messages"][0]["id"] == 1


def test_history_of_unknown_session_is_empty(client):
    empty = {"session": None, "messages": []}
    assert client.get("/chat/api/history", params={"session": "Q" * 30}).json() == empty
    assert client.get("/chat/api/messages", params={"session": "nope", "after": 0}).json() == {
        "session": None, "messages": []}


def _clarifying(client):
    """A reply that asks which kind of application is meant. Vague by meaning; which of these
    wordings the model still finds too vague depends on the training data, so try a few."""
    for text in ("ansøgning", "hjælp til ansøgning", "jeg vil søge om noget", "ansøge"):
        body = post(client, text).json()
        if body["messages"][-1]["action"] == "clarify":
            return body
    pytest.fail("none of the vague messages made the bot ask which kind is meant")


def test_button_payload_is_shown_as_its_title(client):
    clarify = _clarifying(client)
    sid = clarify["session"]
    buttons = clarify["messages"][-1]["buttons"]
    assert clarify["messages"][-1]["action"] == "clarify" and len(buttons) >= 2
    chosen = buttons[0]
    assert re.fullmatch(r"/[a-z][a-z0-9_]*", chosen["payload"])
    reply = post(client, chosen["payload"], session=sid).json()["messages"]
    assert reply[0]["kind"] == "user" and reply[0]["text"] == chosen["title"]
    human = post(client, "/dialog_menneske", session=sid).json()["messages"]
    assert human[0]["text"] == "Tal med en medarbejder"
    assert human[1]["action"] == "handoff" and "medarbejder" in human[1]["text"]


def test_selfservice_steps_are_structured(client):
    msgs = post(client, "Jeg skal flytte, hvordan melder jeg flytning?").json()["messages"]
    ss = next(m for m in msgs if "selfservice" in m)
    assert len(ss["selfservice"]["steps"]) >= 2 and ss["selfservice"]["url"].startswith("https://")
    assert not re.search(r"^\d+\. ", ss["text"], re.M)  # steps are not repeated in the text
    assert ss["selfservice"]["url"] not in ss["text"]
    assert {"title": "Tal med en medarbejder", "payload": "/dialog_menneske"} in ss["buttons"]


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(client, text):
    r = post(client, text)
    assert r.status_code == 422 and r.json()["error"] == "empty_text"


def test_100_kb_text_is_refused_with_413(client):
    r = post(client, "a" * 100_000)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


def test_text_over_the_character_limit_is_refused_with_413(client, settings):
    r = post(client, "ø" * (settings.max_text_chars + 1))
    assert r.status_code == 413 and r.json()["error"] == "text_too_long"


def test_invalid_json_is_a_400(client):
    r = client.post("/chat/api/messages", content=b'{"text": "hej"',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("body", [{}, {"text": 5}, {"text": ["a"]}, [1, 2]])
def test_wrong_shape_is_a_422(client, body):
    assert client.post("/chat/api/messages", json=body).status_code == 422


def test_bad_tenant_and_client_message_id_are_refused(client):
    assert post(client, QUESTION, tenant="Kø benhavn").json()["error"] == "invalid_tenant"
    assert post(client, QUESTION, cmid="<x>").json()["error"] == "invalid_client_message_id"


def test_html_and_script_are_returned_as_plain_text(client):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & æøå'
    r = post(client, evil)
    assert r.headers["content-type"].startswith("application/json")
    msgs = r.json()["messages"]
    assert msgs[0]["text"] == evil  # unchanged: the widget inserts it with textContent
    assert all("<script" not in m["text"] for m in msgs[1:])
    history = client.get("/chat/api/history", params={"session": r.json()["session"]}).json()
    assert history["messages"][0]["text"] == evil


# -- end, feedback, contact requests --------------------------------------------------------------
def test_feedback_is_recorded_once_with_topic_and_level(client, chat_app):
    sid = post(client, QUESTION).json()["session"]
    assert client.post("/chat/api/end", json={"session": sid}).status_code == 200
    r = client.post("/chat/api/feedback", json={"session": sid, "scores": {"tilfredshed": 9, "afklaring": 10,
                                                                          "sprog": 8}, "comment": " Fint "})
    assert r.status_code == 201, r.text
    record = next(f for f in chat_app.state.chat_backend.feedback if f.session_id == sid)
    assert record.feedback.scores == {"tilfredshed": 9, "afklaring": 10, "sprog": 8}
    assert record.feedback.comment == "Fint"
    assert (record.channel, record.level, record.topic, record.tenant) == (
        "webchat", "bot", "affald_toemning", "kobenhavn")
    again = client.post("/chat/api/feedback", json={"session": sid, "scores": {"sprog": 1}})
    assert again.status_code == 409


@pytest.mark.parametrize("body, status", [
    ({"scores": {"tilfredshed": 11}}, 422),
    ({"scores": {"tilfredshed": 0}}, 422),
    ({"scores": {"humør": 5}}, 422),
    ({"scores": {}}, 422),
    ({"scores": {"sprog": "x"}}, 422),
])
def test_invalid_feedback_is_refused(client, body, status):
    sid = post(client, QUESTION).json()["session"]
    assert client.post("/chat/api/feedback", json={"session": sid, **body}).status_code == status


def test_feedback_and_end_for_unknown_session_are_404(client):
    body = {"session": "U" * 30, "scores": {"sprog": 5}}
    assert client.post("/chat/api/feedback", json=body).status_code == 404
    assert client.post("/chat/api/end", json={"session": "U" * 30}).status_code == 404


def test_ended_session_is_not_resumed(client):
    sid = post(client, QUESTION).json()["session"]
    client.post("/chat/api/end", json={"session": sid})
    body = post(client, "pas", session=sid).json()
    assert body["created"] is True and body["session"] != sid


def test_contact_requests(client):
    sid = post(client, QUESTION).json()["session"]
    bad = client.post("/chat/api/contact-requests", json={"session": sid, "kind": "callback"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_phone"
    bad = client.post("/chat/api/contact-requests", json={"session": sid, "kind": "callback", "phone": "12"})
    assert bad.status_code == 422
    bad = client.post("/chat/api/contact-requests", json={"session": sid, "kind": "message", "text": " "})
    assert bad.status_code == 422 and bad.json()["error"] == "empty_text"
    ok = client.post("/chat/api/contact-requests",
                     json={"session": sid, "kind": "callback", "phone": "+45 12 34 56 78",
                           "text": "Om min sag"})
    assert ok.status_code == 201
    (msg,) = ok.json()["messages"]
    assert msg["kind"] == "system" and "+4512345678" in msg["text"]


# -- static files and CORS -------------------------------------------------------------------------
@pytest.mark.parametrize("path, ctype, cache", [
    ("/chat/widget.js", "text/javascript; charset=utf-8", "public, max-age=300"),
    ("/chat/widget.css", "text/css; charset=utf-8", "public, max-age=300"),
    ("/chat/demo", "text/html; charset=utf-8", "no-cache"),
])
def test_static_files_have_type_cache_headers_and_etag(client, path, ctype, cache):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert r.headers["cache-control"] == cache
    assert r.headers["x-content-type-options"] == "nosniff"
    again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_demo_embeds_the_widget_with_one_script_tag_under_a_strict_csp(client):
    r = client.get("/chat/demo")
    scripts = re.findall(r"<script\b[^>]*>", r.text)
    assert scripts == ['<script src="/chat/widget.js" data-tenant="kobenhavn" async>']
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp


def test_widget_never_uses_innerhtml_or_eval(client):
    js = client.get("/chat/widget.js").text.split("*/", 1)[1]  # code after the header comment
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert banned not in js
    assert "https://" not in js  # no CDN or external resource


def test_api_allows_cross_origin_calls_without_credentials(client):
    pre = client.options("/chat/api/messages", headers={"Origin": "https://www.kk.dk",
                                                        "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "*"
    assert "Content-Type" in pre.headers["access-control-allow-headers"]
    r = client.get("/chat/api/history", params={"session": "x"})
    assert r.headers["access-control-allow-origin"] == "*"


# -- WebSocket -------------------------------------------------------------------------------------
def test_websocket_roundtrip_and_resume(client):
    with client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session" and hello["created"] is True
        sid = hello["session"]
        ws.send_json({"type": "message", "text": QUESTION, "client_message_id": "w1"})
        user = ws.receive_json()
        assert user["type"] == "user" and user["messages"][0]["client_message_id"] == "w1"
        bot = ws.receive_json()
        assert bot["type"] == "bot" and bot["messages"][0]["article"]["cite"].startswith("Kilde:")
        last = bot["messages"][-1]["id"]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    with client.websocket_connect(f"/chat/ws?tenant=kobenhavn&session={sid}&after=1") as ws:
        assert ws.receive_json() == {"type": "session", "session": sid, "created": False}
        missed = ws.receive_json()  # everything after id 1 is pushed at once
        assert missed["type"] == "bot" and missed["messages"][-1]["id"] == last
    assert client.get("/chat/api/history", params={"session": sid}).json()["messages"][0]["text"] == QUESTION


def test_websocket_bad_frames_get_error_frames(client, settings):
    with client.websocket_connect("/chat/ws") as ws:
        ws.receive_json()
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "invalid_json"
        ws.send_text(json.dumps({"type": "message", "text": "  "}))
        assert ws.receive_json()["code"] == "empty_text"
        ws.send_text(json.dumps({"type": "message", "text": "x" * (settings.max_text_chars + 1),
                                 "client_message_id": "big"}))
        err = ws.receive_json()
        assert err["code"] == "text_too_long" and err["client_message_id"] == "big"
        ws.send_text(json.dumps({"type": "dance"}))
        assert ws.receive_json()["code"] == "unknown_type"


def test_websocket_refuses_an_invalid_tenant(client):
    with client.websocket_connect("/chat/ws?tenant=%3Cscript%3E") as ws:
        assert ws.receive_json()["code"] == "invalid_tenant"


# -- another backend behind the same routes (the engine's place) -----------------------------------
def test_handoff_messages_from_a_backend_reach_the_client(settings, understanding, scripted_backend):
    app = create_app(settings, routers=[router], understanding=understanding,
                     background=[provide_chat(scripted_backend)])  # fmt: skip
    with TestClient(app) as c, c.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "text": "/dialog_menneske", "client_message_id": "h1"})
        frames = [ws.receive_json() for _ in range(3)]
        assert [f["type"] for f in frames] == ["user", "system", "agent"]
        assert frames[0]["messages"][0]["text"] == "Tal med en medarbejder"
        assert frames[1]["messages"][0]["queue_position"] == 2
        assert frames[2]["messages"][0]["author"] == "Anne"
        ws.send_json({"type": "message", "text": "er I lukket?", "client_message_id": "h2"})
        ws.receive_json()
        closed = ws.receive_json()
        assert closed["type"] == "closed" and closed["opens_at_text"] == "mandag kl. 8.00"
