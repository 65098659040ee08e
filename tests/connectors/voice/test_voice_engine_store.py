"""EngineCallStore on SQLite and PostgreSQL: one call is one contact, its state is in the
database (a second store on the same database continues it), and the steps are engine steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.engine import ConversationEngine
from bot.errors import NumberNotServed, UnknownCall
from bot.routing.handoff import PacketReason
from bot.storage.models import ContactState, Event, EventKind
from bot.storage.voice import VoiceCall
from bot.tenants import load_tenants
from connectors.voice.calls import CallState, HandoffContext, HandoffVia, InvalidSurveyAnswer
from connectors.voice.engine_store import EngineCallStore, handoff_reason, tenant_by_number
from tests.bot.conftest import (  # noqa: F401
    MONDAY_10,
    FakeClock,
    contract,
    db,
    migrated_pg_template,
    migrated_sqlite,
    pg_cluster,
)

pytestmark = pytest.mark.integration

SID = "CA" + "1" * 32
CONTEXT = HandoffContext(queue="borgerservice_basis", via=HandoffVia.MENU)


@pytest.fixture
def tenants(settings):
    return load_tenants(settings.tenants_file)


@pytest.fixture
def now():
    return MONDAY_10  # open hours in Copenhagen


@pytest.fixture
def engine(db, contract, tenants, now) -> ConversationEngine:  # noqa: F811
    eng = ConversationEngine(db, contract, FakeClock(now))
    for t in tenants.tenants:
        eng.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules(), now=now)
    return eng


@pytest.fixture
def store(engine, tenants) -> EngineCallStore:
    return EngineCallStore(engine, tenant_by_number(tenants))


def _start(store, now, sid=SID, called="+4533663366"):
    return store.start(sid, caller="+4520123456", called=called, now=now)


def test_engine_store_start_is_one_voice_contact_per_callsid(store, engine, now):
    first, created = _start(store, now)
    again, created_again = _start(store, now)
    assert created and not created_again and again.contact_id == first.contact_id
    contact = engine.contact("kobenhavn", first.contact_id)  # +4533663366 is København's number
    assert contact.channel.value == "voice" and contact.external_ref == SID
    assert contact.citizen_phone == "+4520123456"
    other, _ = _start(store, now, "CA" + "2" * 32, called="+4536373637")
    assert other.tenant_id == "rodovre" and other.contact_id != first.contact_id


def test_engine_store_unknown_number_and_unknown_call(store, now):
    with pytest.raises(NumberNotServed):
        _start(store, now, called="+4599999999")
    assert store.get(SID) is None
    with pytest.raises(UnknownCall):
        store.enqueue(SID, CONTEXT, now)


def test_engine_store_second_store_continues_the_call(store, engine, tenants, now):
    record, _ = _start(store, now)
    store.update(SID, language="en", unclear=1)
    store.hear(SID, "der er brand i huset", now)
    other = EngineCallStore(engine, tenant_by_number(tenants))  # nothing shared but the database
    again = other.get(SID)
    assert again.language == "en" and again.unclear == 1 and again.transcript == ("der er brand i huset",)
    other.enqueue(SID, CONTEXT, now)
    assert engine.contact("kobenhavn", record.contact_id).state is ContactState.QUEUED
    other.finish(SID, "completed", now + timedelta(minutes=2))
    assert engine.contact("kobenhavn", record.contact_id).state is ContactState.ABANDONED
    assert store.get(SID).state is CallState.ABANDONED


def test_engine_store_finish_twice_abandons_once(store, engine, now):
    record, _ = _start(store, now)
    store.enqueue(SID, CONTEXT, now)
    first = store.finish(SID, "completed", now)
    assert store.finish(SID, "completed", now + timedelta(minutes=1)).ended_at == first.ended_at
    kinds = [e.kind for e in engine.events("kobenhavn", record.contact_id)]
    assert kinds.count(EventKind.ABANDONED) == 1


def test_engine_store_callback_is_an_engine_task_once(store, engine, now):
    record, _ = _start(store, now)
    store.enqueue(SID, CONTEXT, now)
    first = store.request_callback(SID, "33661234", now)
    again = store.request_callback(SID, "33661234", now + timedelta(seconds=5))
    assert again.callback == first.callback and first.callback.queue == "borgerservice_basis"
    (task,) = engine.tasks("kobenhavn")
    assert task.phone == "33661234" and task.contact_id == record.contact_id
    assert engine.contact("kobenhavn", record.contact_id).state is ContactState.CALLBACK_REQUESTED
    store.finish(SID, "completed", now)
    assert engine.contact("kobenhavn", record.contact_id).state is ContactState.CALLBACK_REQUESTED


def test_engine_store_survey_answers_are_in_the_database(store, engine, now):
    record, _ = _start(store, now)
    store.record_survey_answer(SID, 1, 7, now)
    store.record_survey_answer(SID, 1, 8, now)  # a retry overwrites, never duplicates
    store.record_survey_answer(SID, 2, 9, now)
    with engine.db.read() as s:
        row = s.scalars(select(VoiceCall).where(VoiceCall.call_sid == SID)).one()
        assert row.record["survey"] == [[1, 8], [2, 9]]
        events = s.scalars(select(Event).where(Event.contact_id == record.contact_id,
                                               Event.kind == EventKind.FEEDBACK)).all()  # fmt: skip
        assert [e.data["scores"] for e in events] == [{"1": 7}, {"1": 8}, {"2": 9}]
        assert {e.data["channel"] for e in events} == {"voice"}
    with pytest.raises(InvalidSurveyAnswer):
        store.record_survey_answer(SID, 5, 5, now)


def test_engine_store_handoff_packet_has_summary_and_what_the_bot_said(store, engine, now):
    record, _ = _start(store, now)
    store.hear(SID, "hvad er status på min sag", now)
    store.said(SID, "Det skal en medarbejder hjælpe dig med.", None, now)
    store.enqueue(SID, CONTEXT, now, summary="Opkald på engelsk. Borgeren sagde: hvad er status på min sag")
    (packet,) = engine.handoff_packets("kobenhavn", record.contact_id)
    assert packet.summary.startswith("Opkald på engelsk.")
    assert [(t.author.value, t.text) for t in packet.transcript] == [
        ("citizen", "hvad er status på min sag"), ("bot", "Det skal en medarbejder hjælpe dig med.")]


def test_engine_store_replayed_answers_are_shared(store, engine, tenants, now):
    assert store.cached_response("k" * 64) is None
    _start(store, now)
    assert store.remember_response("k" * 64, SID, "<Response/>", now) == "<Response/>"
    other = EngineCallStore(engine, tenant_by_number(tenants))
    assert other.remember_response("k" * 64, SID, "<Response><Hangup/></Response>", now) == "<Response/>"
    assert other.cached_response("k" * 64) == "<Response/>"


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (HandoffContext("q", HandoffVia.MENU), PacketReason.ASKED_FOR_HUMAN),
        (HandoffContext("q", HandoffVia.NO_INPUT), PacketReason.LOW_CONFIDENCE),
        (HandoffContext("q", HandoffVia.SPEECH, sensitive=True), PacketReason.SENSITIVE),
    ],
)
def test_engine_store_handoff_reason(context, reason):
    assert handoff_reason(context) is reason


def test_engine_store_ended_call_keeps_no_personal_data_in_its_row(store, engine, now):
    record, _ = _start(store, now)
    store.hear(SID, "mit nummer er 33 66 12 34", now)
    store.enqueue(SID, CONTEXT, now)
    store.request_callback(SID, "33661234", now)
    store.remember_response("r" * 64, SID, "<Response><Say>Du har tastet 33 66 12 34.</Say></Response>", now)
    store.finish(SID, "completed", now)
    with engine.db.read() as s:
        row = s.scalars(select(VoiceCall).where(VoiceCall.call_sid == SID)).one()
        text = str(row.record)
    assert not any(number in text for number in ("33661234", "33 66 12 34", "20123456"))
    assert store.cached_response("r" * 64) is None
    assert store.get(SID).state is CallState.CALLBACK  # what late callbacks need is kept
    # the contact keeps the caller's words and number, under its own retention rules
    assert [m.text for m in engine.transcript("kobenhavn", record.contact_id)] == ["mit nummer er 33 66 12 34"]
