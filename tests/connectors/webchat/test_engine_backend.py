"""EngineChatBackend: the web chat on the conversation engine, on SQLite and PostgreSQL, with the
real model. Two backend instances over one database stand for two workers."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from functools import partial

import pytest

from bot.engine import ConversationEngine
from bot.errors import FeedbackNotStorable
from bot.storage.models import AgentState, ContactState
from bot.tenants import load_tenants
from connectors.webchat.engine_backend import FEEDBACK_KIND, SLOTS, EngineChatBackend, chat_services
from connectors.webchat.notify import PollingFeed
from connectors.webchat.session import (
    HUMAN_PAYLOAD,
    ContactKind,
    ContactRequest,
    Feedback,
    FeedbackAlreadyRecorded,
    MessageKind,
    UnknownSession,
)
from tests.bot.conftest import FakeClock, contract, db, migrated_pg_template, migrated_sqlite, pg_cluster  # noqa: F401

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

QUESTION = "Hvornår kommer skraldebilen?"
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 3, 7, 11, 0, tzinfo=UTC)


@pytest.fixture
def tenants(settings):
    return load_tenants(settings.tenants_file)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10)


@pytest.fixture
def engine(db, contract, clock, tenants) -> ConversationEngine:  # noqa: F811
    eng = ConversationEngine(db, contract, clock)
    for t in tenants.tenants:
        eng.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules())
    eng.add_agent("kobenhavn", "anne", "Anne Holm", skills={q.id: 5 for q in contract.queues})
    return eng


@pytest.fixture
def backend(engine, understanding, tenants) -> EngineChatBackend:
    return EngineChatBackend(engine, understanding, tenants)


def _agent_takes(engine: ConversationEngine, contact_id: str) -> None:
    engine.set_agent_state("kobenhavn", "anne", AgentState.AVAILABLE)
    (offer,) = [o for o in engine.route("kobenhavn") if o.contact_id == contact_id]
    engine.accept_offer("kobenhavn", offer.id, "anne")


def _contact(backend: EngineChatBackend, sid: str):
    ref = backend._locate(sid)
    return backend.engine.contact(ref.tenant_id, ref.contact_id)


def test_engine_backend_answers_with_citation(backend):
    info = backend.open(None, "kobenhavn")
    assert info.created and info.tenant == "kobenhavn"
    out = backend.send(info.id, QUESTION, "m1")
    assert [m.kind for m in out] == [MessageKind.USER, MessageKind.BOT]
    assert out[0].client_message_id == "m1" and out[0].text == QUESTION
    assert out[1].article is not None and out[1].article.cite.startswith("Kilde:")
    assert out[1].action == "answer"
    assert out[0].id < out[1].id
    assert backend.open(info.id, "kobenhavn") == type(info)(info.id, "kobenhavn", created=False)


def test_engine_backend_handoff_queue_agent_and_silent_bot(backend, engine):
    sid = backend.open(None, None).id  # default tenant
    backend.send(sid, QUESTION)
    out = backend.send(sid, HUMAN_PAYLOAD)
    assert [m.kind for m in out] == [MessageKind.USER, MessageKind.BOT, MessageKind.SYSTEM]
    assert out[0].text == "Tal med en medarbejder"
    assert out[2].queue_position == 1
    contact = _contact(backend, sid)
    assert contact.state is ContactState.QUEUED
    seen = out[-1].id

    _agent_takes(engine, contact.id)
    engine.agent_reply("kobenhavn", "anne", contact.id, "Hej, det er Anne. Hvad drejer det sig om?")
    new = backend.poll(sid, seen)
    assert [(m.kind, m.author) for m in new] == [(MessageKind.AGENT, "Anne")]

    # the bot stays silent: only the citizen's message comes back, and no bot reply is stored
    out = backend.send(sid, QUESTION)
    assert [m.kind for m in out] == [MessageKind.USER]
    assert [m.kind for m in backend.poll(sid, new[-1].id)] == [MessageKind.USER]


def test_engine_backend_second_worker_renders_the_same_history(backend, engine, understanding, tenants):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, QUESTION)
    backend.send(sid, "/dialog_menneske")
    other = EngineChatBackend(engine, understanding, tenants)  # no shared caches
    mine, theirs = backend.history(sid), other.history(sid)
    assert [(m.id, m.kind, m.text, m.article, m.queue_position) for m in mine] == [
        (m.id, m.kind, m.text, m.article, m.queue_position) for m in theirs
    ]
    assert other.open(sid, "kobenhavn").created is False


def test_engine_backend_repeated_client_message_id(backend, engine):
    sid = backend.open(None, "kobenhavn").id
    first = backend.send(sid, QUESTION, "same")
    again = backend.send(sid, QUESTION, "same")
    assert [m.id for m in again] == [m.id for m in first]
    ref = backend._locate(sid)
    assert len(engine.transcript("kobenhavn", ref.contact_id)) == 2


def test_engine_backend_out_of_hours_offers_message_and_callback(backend, clock):
    clock.now = SATURDAY_NOON
    sid = backend.open(None, "kobenhavn").id
    out = backend.send(sid, "Jeg vil gerne tale med en medarbejder")
    closed = out[-1]
    assert closed.kind is MessageKind.CLOSED and closed.opens_at_text == "mandag den 9. marts kl. 08.00"
    done = backend.request_contact(sid, ContactRequest(ContactKind.CALLBACK, "12345678", None))
    assert len(done) == 1 and done[0].kind is MessageKind.SYSTEM and "12345678" in done[0].text
    assert _contact(backend, sid).state is ContactState.CALLBACK_REQUESTED


def test_engine_backend_message_without_phone_is_a_chat_error(backend, clock):
    clock.now = SATURDAY_NOON
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, "/dialog_menneske")
    from connectors.webchat.session import ChatError

    with pytest.raises(ChatError, match="telefonnummer"):
        backend.request_contact(sid, ContactRequest(ContactKind.MESSAGE, None, "Ring mig op"))
    backend.request_contact(sid, ContactRequest(ContactKind.MESSAGE, "12345678", "Om min affaldsspand"))
    assert _contact(backend, sid).state is ContactState.MESSAGE_LEFT


def test_engine_backend_end_after_an_answer_is_resolved_by_the_bot_and_starts_anew(backend):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, QUESTION)
    assert backend.end(sid) == []
    # The bot answered, so the citizen closing the chat is a contact the bot resolved, not an abandon.
    contact = _contact(backend, sid)
    assert contact.state is ContactState.CLOSED
    assert [e.data["ending"] for e in backend.engine.events(contact.tenant_id, contact.id) if "ending" in e.data] == [
        "bot_answered"]  # fmt: skip
    again = backend.open(sid, "kobenhavn")
    assert again.created and again.id != sid
    with pytest.raises(UnknownSession):
        backend.send(sid, "hallo")


def test_engine_backend_end_with_an_agent_is_ended_for_every_worker(backend, engine, understanding, tenants):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, "/dialog_menneske")
    contact = _contact(backend, sid)
    _agent_takes(engine, contact.id)
    other_worker = EngineChatBackend(engine, understanding, tenants)
    assert other_worker.resume(sid) is not None
    assert backend.end(sid) == []
    assert _contact(backend, sid).state is ContactState.ASSIGNED  # the agent still closes it
    assert backend.resume(sid) is None and other_worker.resume(sid) is None  # kept in the database
    assert other_worker.open(sid, "kobenhavn").created


def test_engine_backend_agent_close_is_shown_and_ends_the_session(backend, engine):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, "/dialog_menneske")
    contact = _contact(backend, sid)
    _agent_takes(engine, contact.id)
    engine.close("kobenhavn", "anne", contact.id, "straksafklaret")
    assert backend.poll(sid)[-1].text.startswith("Medarbejderen har afsluttet")
    assert backend.open(sid, "kobenhavn").created


def test_engine_backend_feedback_is_an_event(backend, engine):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, QUESTION)
    feedback = Feedback({"tilfredshed": 9}, "fint")
    if FEEDBACK_KIND is None:  # until bot.storage.models.EventKind has FEEDBACK
        with pytest.raises(FeedbackNotStorable, match="EventKind"):
            backend.record_feedback(sid, feedback)
        return
    backend.record_feedback(sid, feedback)
    (event,) = [e for e in engine.events("kobenhavn", _contact(backend, sid).id) if e.kind is FEEDBACK_KIND]
    assert event.data["scores"] == {"tilfredshed": 9} and event.data["level"] == "bot"
    with pytest.raises(FeedbackAlreadyRecorded):
        backend.record_feedback(sid, feedback)


def test_engine_backend_unknown_session(backend):
    with pytest.raises(UnknownSession):
        backend.poll("x" * 32)


def test_engine_backend_feed_avoids_rereading_until_something_changes(engine, understanding, tenants):
    feed = PollingFeed(engine.db, interval=3600)  # checked by hand below
    feed.start()
    try:
        ticks = [0.0]
        backend = EngineChatBackend(engine, understanding, tenants, feed=feed, monotonic=lambda: ticks[0])
        sid = backend.open(None, "kobenhavn").id
        out = backend.send(sid, "/dialog_menneske")
        contact = _contact(backend, sid)
        _agent_takes(engine, contact.id)
        engine.agent_reply("kobenhavn", "anne", contact.id, "Hej")
        assert backend.poll(sid, out[-1].id) == []  # cached: no notification yet
        assert contact.id in feed.check()
        assert [m.kind for m in backend.poll(sid, out[-1].id)] == [MessageKind.AGENT]
        engine.agent_reply("kobenhavn", "anne", contact.id, "Er du der?")
        ticks[0] += 10  # the safety refresh reads anyway
        assert len(backend.poll(sid, out[-1].id)) == 2
    finally:
        feed.stop()


def test_engine_backend_ids_leave_room_for_notices():
    assert SLOTS >= 2


def test_engine_backend_routes_and_websocket(settings, understanding, tmp_path):
    from bot.api import create_app
    from connectors.webchat import router

    own_db = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}"})
    # the engine on a fixed clock (a Monday morning: the queue is open); the backend is built by
    # the web chat's own start-up part, as in the product
    app = create_app(own_db, routers=[router], understanding=understanding, clock=FakeClock(MONDAY_10),
                     background=[partial(chat_services, feed=False)])  # fmt: skip
    with TestClient(app) as client:
        assert isinstance(app.state.chat_backend, EngineChatBackend)
        engine = app.state.engine
        r = client.post("/chat/api/messages", json={"tenant": "kobenhavn", "text": QUESTION})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [m["kind"] for m in body["messages"]] == ["user", "bot"]
        assert body["messages"][1]["article"]["cite"].startswith("Kilde:")
        sid = body["session"]
        with client.websocket_connect(f"/chat/ws?session={sid}&tenant=kobenhavn") as ws:
            assert ws.receive_json() == {"type": "session", "session": sid, "created": False}
            assert [f["type"] for f in (ws.receive_json(), ws.receive_json())] == ["user", "bot"]
            ws.send_json({"type": "message", "text": "Tal med en medarbejder", "client_message_id": "w1"})
            frames = [ws.receive_json() for _ in range(3)]
            assert [f["type"] for f in frames] == ["user", "bot", "system"]
            assert frames[2]["messages"][0]["queue_position"] >= 1
            contact = engine.open_contact("kobenhavn", "chat", sid)
            engine.add_agent("kobenhavn", "bo-ws", "Bo Jensen", skills={contact.queue_id: 5})
            engine.set_agent_state("kobenhavn", "bo-ws", AgentState.AVAILABLE)
            offer = next(o for o in engine.route("kobenhavn") if o.contact_id == contact.id)
            engine.accept_offer("kobenhavn", offer.id, "bo-ws")
            engine.agent_reply("kobenhavn", "bo-ws", contact.id, "Hej, det er Bo.")
            frame = ws.receive_json()  # the socket's poller delivers it
            assert frame["type"] == "agent" and frame["messages"][0]["author"] == "Bo"
