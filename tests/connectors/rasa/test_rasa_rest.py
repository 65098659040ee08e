"""Rasa's REST and callback channels in the real app (connectors/app.py, the real Danish model,
a temporary SQLite database): Rasa's shapes, the engine's turn behind them, and the sender's
conversation across messages and after it was closed."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api.ratelimit import RateLimitSettings
from bot.conversation import handle_citizen_message
from bot.engine import ConversationEngine
from bot.errors import CallbackOutOfOrder
from bot.outbox_worker import deliver_due
from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import Channel, ContactState, OutboxKind, OutboxStatus
from bot.storage.outbox import Outbox
from connectors.app import build_app
from connectors.rasa.delivery import callback_sender
from connectors.rasa.inbound import RasaKind, RasaRef, parse_ref, ref_stem
from tests.connectors.rasa.recorder import HttpRecorder

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "rasa-rest-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
TENANT = "kobenhavn"
WEBHOOK = "/webhooks/rest/webhook"
CALLBACK = "/webhooks/callback/webhook"
HUMAN = "Jeg vil gerne tale med en medarbejder"


@pytest.fixture(scope="module")
def recorder() -> Iterator[HttpRecorder]:
    rec = HttpRecorder.start()
    try:
        yield rec
    finally:
        rec.stop()


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory, recorder):
    db = tmp_path_factory.mktemp("rasa") / "kontakt.sqlite3"
    local = settings.model_copy(update={
        "database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER),
        "callback": settings.callback.model_copy(update={"url": recorder.url, "outbox_seconds": 0.2,
                                                         "retry_seconds": 0.2, "sweep_seconds": 0.2}),
    })  # fmt: skip
    app = build_app(local, understanding=understanding, rate_limits=RateLimitSettings(_env_file=None, enabled=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        token = create_agent(app.state.engine, token_pepper(local), tenant_id=TENANT, agent_id="rasa-anne",
                             name="Anne Holm", skills={"borgerservice_basis": 5})  # fmt: skip
        yield app, client, {"Authorization": f"Bearer {token}"}


def contact_of(app, kind: RasaKind, sender: str, generation: int = 1):
    with app.state.db.read() as s:
        c = repo.find_contact(s, tenant_id=TENANT, channel=Channel.CHAT, external_ref=f"{ref_stem(kind, sender)}{generation}")
        return None if c is None else (c.id, c.state)


# --- Rasa's shapes (the assertions of the channel's first version) -----------------------------------


def test_rasa_rest_answers_in_danish(world):
    _, client, _ = world
    r = client.post(WEBHOOK, json={"sender": "borger-42", "message": "Kan jeg få tilskud til husleje?"})
    assert r.status_code == 200
    msgs = r.json()
    assert msgs and all(m["recipient_id"] == "borger-42" for m in msgs)
    assert "Kilde:" in msgs[0]["text"]


def test_rasa_rest_clarify_offers_buttons_and_payload_chooses_topic(world):
    _, client, _ = world
    msgs = client.post(WEBHOOK, json={"sender": "b-7", "message": "/affald_toemning"}).json()
    assert "Kilde:" in msgs[0]["text"]
    msgs = client.post(WEBHOOK, json={"sender": "b-8", "message": "det virker ikke"}).json()
    buttons = [b for m in msgs for b in m.get("buttons", [])]
    assert any(b["payload"] == "/dialog_menneske" for b in buttons)


def test_rasa_rest_distress_is_queued_and_the_bot_stays_silent(world):
    app, client, _ = world
    sender = "b-distress"
    first = client.post(WEBHOOK, json={"sender": sender, "message": "jeg kan ikke mere, jeg vil ikke leve"}).json()
    assert first[0]["custom"]["triage"]["action"] == "handoff"
    contact_id, state = contact_of(app, RasaKind.REST, sender)
    assert state is ContactState.QUEUED
    # The engine now holds the conversation for a person: the bot says nothing more (it used to
    # repeat its handoff answer), and the message waits for the agent in the transcript.
    later = client.post(WEBHOOK, json={"sender": sender, "message": "hvornår kommer skraldebilen"}).json()
    assert later == []
    packets = app.state.engine.handoff_packets(TENANT, contact_id)
    assert len(packets) == 1 and packets[0].reason.value in ("sensitive", "emergency")
    assert [m.text for m in app.state.engine.transcript(TENANT, contact_id)][-1] == "hvornår kommer skraldebilen"


def test_rasa_rest_empty_message_asks_for_words_and_opens_nothing(world):
    app, client, _ = world
    msgs = client.post(WEBHOOK, json={"sender": "b-empty", "message": "   "}).json()
    assert len(msgs) == 1 and "tom besked" in msgs[0]["text"]
    assert contact_of(app, RasaKind.REST, "b-empty") is None


# --- with an agent -------------------------------------------------------------------------------


def test_rasa_rest_agent_reply_comes_with_the_next_answer_once_and_closing_starts_anew(world):
    app, client, agent = world
    sender = "b-agent"
    assert client.post(WEBHOOK, json={"sender": sender, "message": HUMAN}).json()[0]["custom"]["triage"]["action"] == "handoff"
    contact_id, _ = contact_of(app, RasaKind.REST, sender)
    taken = client.post("/agent/api/next", headers=agent)
    assert taken.status_code == 200 and taken.json()["contact"]["id"] == contact_id
    assert taken.json()["packet"]["queue"]["id"] == "borgerservice_basis"
    r = client.post(f"/agent/api/contacts/{contact_id}/reply", headers=agent, json={"text": "Hej, det er Anne."})
    assert r.status_code == 201
    assert client.post(WEBHOOK, json={"sender": sender, "message": "Hej Anne"}).json() == [
        {"recipient_id": sender, "text": "Hej, det er Anne."}
    ]
    assert client.post(WEBHOOK, json={"sender": sender, "message": "Er du der?"}).json() == []
    closed = client.post(f"/agent/api/contacts/{contact_id}/close", headers=agent, json={"outcome": "straksafklaret"})
    assert closed.status_code == 200
    # The sender writes again: a new conversation with the bot, the closed one untouched.
    again = client.post(WEBHOOK, json={"sender": sender, "message": "Hvornår kommer skraldebilen?"}).json()
    assert again and "Kilde:" in again[0]["text"]
    assert contact_of(app, RasaKind.REST, sender, 1) == (contact_id, ContactState.CLOSED)
    assert contact_of(app, RasaKind.REST, sender, 2)[1] is ContactState.BOT


def test_rasa_callback_posts_bot_and_agent_messages_and_retries_a_refusal(world, recorder):
    app, client, agent = world
    sender = "cb-inproc"
    before = len(recorder.bodies())
    recorder.fail_next = 1  # the client's server is down for the first POST
    r = client.post(CALLBACK, json={"sender": sender, "message": HUMAN})
    assert r.status_code == 200 and r.text == "success"
    got = recorder.wait_for(before + 1)[before:]
    assert [m["recipient_id"] for m in got] == [sender] and got[0]["custom"]["triage"]["action"] == "handoff"
    assert recorder.refused >= 1
    contact_id, state = contact_of(app, RasaKind.CALLBACK, sender)
    assert state is ContactState.QUEUED
    taken = client.post("/agent/api/next", headers=agent).json()
    assert taken["contact"]["id"] == contact_id
    assert client.post(f"/agent/api/contacts/{contact_id}/reply", headers=agent,
                       json={"text": "Hej, det er Anne."}).status_code == 201  # fmt: skip
    assert recorder.wait_for(before + 2)[before + 1] == {"recipient_id": sender, "text": "Hej, det er Anne."}
    # The recorder has the POST; the worker marks the item sent right after: wait for that.
    deadline = time.monotonic() + 10
    while True:
        items = Outbox(app.state.db).items(TENANT, contact_id=contact_id)
        if all(i.status is OutboxStatus.SENT for i in items) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [i.status for i in items] == [OutboxStatus.SENT, OutboxStatus.SENT] and items[0].attempts >= 2


@pytest.mark.parametrize("path", [WEBHOOK, CALLBACK])
@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"sender": "b\u0000x", "message": "hej"}, 422, "invalid_request"),
        ({"sender": "b\nx", "message": "hej"}, 422, "invalid_request"),
        ({"sender": "b-nul", "message": "hej\u0000"}, 422, "invalid_request"),
        ({"sender": "", "message": "hej"}, 422, "invalid_request"),
        ({"sender": "b-long", "message": "hej " * 1001}, 413, "text_too_long"),
        ({"sender": "b-t", "message": "hej", "metadata": {"tenant": "zzz"}}, 404, "unknown_tenant"),
    ],
)
def test_rasa_bad_input_is_a_clear_4xx_and_opens_nothing(world, path, body, status, error):
    app, client, _ = world
    r = client.post(path, json=body)
    assert (r.status_code, r.json()["error"]) == (status, error), r.text[:300]
    assert r.json()["message"]
    if isinstance(body["sender"], str) and body["sender"]:
        for kind in RasaKind:
            assert contact_of(app, kind, body["sender"]) is None


def test_rasa_callback_refuses_an_empty_message(world):
    r = world[1].post(CALLBACK, json={"sender": "cb-empty", "message": " "})
    assert (r.status_code, r.json()["error"]) == (422, "empty_message")


def test_rasa_callback_catches_up_replies_stored_but_never_handed_over(world, recorder):
    app, client, agent = world
    sender = "cb-catch-up"
    before = len(recorder.bodies())
    # The turn is stored the way the webhook stores it, but the process "stops" before the
    # handover: the worker's sweep finds the bot's reply and delivers it with its triage.
    turn = handle_citizen_message(app.state.engine, app.state.understanding, TENANT, Channel.CHAT,
                                  f"{ref_stem(RasaKind.CALLBACK, sender)}1", HUMAN)  # fmt: skip
    got = recorder.wait_for(before + 1)[before]
    assert got["recipient_id"] == sender and got["custom"]["triage"]["action"] == "handoff"
    assert client.post("/agent/api/next", headers=agent).json()["contact"]["id"] == turn.contact.id
    # The same for an agent's reply stored without the agent API (no watcher runs).
    app.state.engine.agent_reply(TENANT, "rasa-anne", turn.contact.id, "Jeg kigger på det nu.")
    assert recorder.wait_for(before + 2)[before + 1] == {"recipient_id": sender, "text": "Jeg kigger på det nu."}


def test_rasa_callback_keeps_the_order_of_a_conversation(tmp_path, understanding, recorder):
    db = Database(f"sqlite:///{tmp_path / 'order.sqlite3'}")
    db.migrate()
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        engine = ConversationEngine(db, understanding.contract, clock=lambda: now)
        engine.ensure_tenant(TENANT, "Københavns Kommune")
        contact = engine.open_contact(TENANT, Channel.CHAT, "rasa-callback:order/1")
        outbox = Outbox(db)
        first, second = (
            outbox.enqueue(tenant_id=TENANT, channel=Channel.CHAT, kind=OutboxKind.AUTO_REPLY, now=now,
                           payload=json.dumps({"recipient_id": "order", "text": t}).encode(), dedupe_key=f"order:{t}",
                           contact_id=contact.id)[0]
            for t in ("første", "anden")
        )  # fmt: skip
        with httpx.Client(timeout=5) as http:
            send = callback_sender(db, recorder.url, http)
            with pytest.raises(CallbackOutOfOrder):
                send(second)  # the first is still owed: the second waits
            before = len(recorder.bodies())
            stats = deliver_due(db, {Channel.CHAT: send}, now)
        assert (stats.sent, stats.retried) == (2, 0)
        assert [b["text"] for b in recorder.bodies()[before:]] == ["første", "anden"]
        assert {i.status for i in outbox.items(TENANT, contact_id=contact.id)} == {OutboxStatus.SENT}
        assert first.id < second.id
    finally:
        db.dispose()


# --- the external_ref of a conversation ----------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("sender", ["borger-42", "a/2", "x:y", "1", "æøå/3/"])
@pytest.mark.parametrize("kind", list(RasaKind))
def test_rasa_ref_round_trips(kind, sender):
    assert parse_ref(f"{ref_stem(kind, sender)}7") == RasaRef(kind, sender, 7)


@pytest.mark.unit
@pytest.mark.parametrize("ref", ["Zq3Vw0f9dK2mX8pL", "anon:5f0c", "rasa-rest:/1", "rasa-rest:b", "rasa-rest:b/x",
                                 "rasa-rest:b/²", "<a@b.dk>", "rasa:b/1"])  # fmt: skip
def test_rasa_ref_of_other_channels_is_none(ref):
    assert parse_ref(ref) is None


def test_rasa_callback_without_a_url_is_not_offered(settings, understanding, tmp_path):
    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'k.sqlite3'}"})
    app = build_app(local, understanding=understanding, rate_limits=RateLimitSettings(_env_file=None, enabled=False))
    with TestClient(app) as client:
        r = client.post(CALLBACK, json={"sender": "cb-nourl", "message": HUMAN})
        assert (r.status_code, r.json()["error"]) == (404, "callback_not_configured")
        assert contact_of(app, RasaKind.CALLBACK, "cb-nourl") is None
