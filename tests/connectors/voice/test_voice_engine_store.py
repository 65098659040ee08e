"""EngineCallStore: the CallStore contract on the conversation engine (SQLite and PostgreSQL), and
the voice routes on it: one call is one contact, however often Twilio retries."""

from __future__ import annotations

import pytest
from test_voice_calls import SID as SUITE_SID
from test_voice_calls import T0, CallStoreSuite
from voice_helpers import fixture, twiml

from bot.engine import ConversationEngine
from bot.routing.handoff import PacketReason
from bot.storage.models import ContactState, EventKind
from bot.tenants import load_tenants
from connectors.voice.calls import CallState, HandoffContext, HandoffVia
from connectors.voice.engine_store import EngineCallStore, handoff_reason, tenant_by_number
from tests.bot.conftest import FakeClock, contract, db, migrated_pg_template, migrated_sqlite, pg_cluster  # noqa: F401

pytestmark = pytest.mark.integration

SID = fixture("incoming")["CallSid"]


@pytest.fixture
def tenants(settings):
    return load_tenants(settings.tenants_file)


@pytest.fixture
def engine(db, contract, tenants) -> ConversationEngine:  # noqa: F811
    eng = ConversationEngine(db, contract, FakeClock(T0))
    for t in tenants.tenants:
        eng.ensure_tenant(t.id, t.name, priorities=dict(t.priorities), schedules=t.schedules(), now=T0)
    return eng


def _store(engine, tenants) -> EngineCallStore:
    return EngineCallStore(engine, tenant_by_number(tenants), lambda: [t.id for t in tenants.tenants])


@pytest.fixture
def store(engine, tenants) -> EngineCallStore:
    """Used by the voice conftest's `app`: the routes run on the engine store."""
    return _store(engine, tenants)


class TestEngineCallStore(CallStoreSuite):
    @pytest.fixture
    def store(self, engine, tenants):
        return _store(engine, tenants)

    def test_engine_store_call_is_a_voice_contact(self, store, engine):
        record, _ = self._start(store)
        contact = engine.contact("kobenhavn", record.contact_id)  # +4533663366 is København's number
        assert contact.channel.value == "voice" and contact.external_ref == SUITE_SID
        assert contact.citizen_phone == "+4520123456"

    def test_engine_store_second_worker_sees_the_call(self, store, engine, tenants):
        record, _ = self._start(store)
        store.enqueue(SUITE_SID, HandoffContext(queue="borgerservice_basis", via=HandoffVia.MENU), T0)
        other = _store(engine, tenants)  # nothing shared but the database
        again, created = other.start(SUITE_SID, caller="+4520123456", called="+4533663366", now=T0)
        assert not created and again.contact_id == record.contact_id and again.state is CallState.QUEUED
        other.finish(SUITE_SID, "completed", T0)
        assert engine.contact("kobenhavn", record.contact_id).state is ContactState.ABANDONED


def test_engine_store_handoff_call_is_one_contact_despite_retries(twilio, store, engine):
    first = twilio.post("/voice/incoming", fixture("incoming"))
    twilio.post("/voice/incoming", fixture("incoming"))  # Twilio retried the webhook
    speech = fixture("gather_speech", SpeechResult="hvad er status på min sag", Confidence="0.92")
    a = twiml(twilio.post("/voice/gather?step=menu", speech))
    b = twiml(twilio.post("/voice/gather?step=menu", speech))  # retried again, without a token
    assert a.find("Enqueue").text == b.find("Enqueue").text == "borgerservice_basis"
    assert first.status_code == 200
    record = store.get(SID)
    contact = engine.contact("kobenhavn", record.contact_id)
    assert contact.state is ContactState.QUEUED and contact.external_ref == SID
    events = engine.events("kobenhavn")
    opened = [e for e in events if e.kind is EventKind.CONTACT_OPENED and e.data.get("channel") == "voice"]
    assert len(opened) == 1
    assert len([e for e in events if e.kind is EventKind.HANDOFF_REQUESTED]) == 1
    (packet,) = engine.handoff_packets("kobenhavn", contact.id)
    assert packet.reason is PacketReason.CASEWORK
    assert [t.text for t in packet.transcript] == ["hvad er status på min sag"]


def test_engine_store_status_callback_abandons_a_queued_call(twilio, store, engine):
    twilio.post("/voice/incoming", fixture("incoming"))
    twiml(twilio.post("/voice/gather?step=menu", fixture("gather_digits", Digits="1")))
    twilio.post("/voice/status", fixture("status_completed"))
    twilio.post("/voice/status", fixture("status_completed"))
    contact = engine.contact("kobenhavn", store.get(SID).contact_id)
    assert contact.state is ContactState.ABANDONED
    assert len([e for e in engine.events("kobenhavn", contact.id) if e.kind is EventKind.ABANDONED]) == 1


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
