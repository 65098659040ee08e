"""`EngineCallStore`: the voice channel's `CallStore` on the conversation engine.

One call is one engine contact: channel `voice`, external_ref = Twilio's CallSid, so a retried
webhook (same CallSid) finds the same contact on any worker. The contact-centre steps map to
engine steps:

    start             open_contact (tenant from the called number, phone = caller)
    save              the caller's new utterances become citizen messages (idempotent per index)
    enqueue           request_handoff with the reason (once: a retry finds the contact queued)
    request_callback  request_callback (once per call)
    dequeue "hangup"  mark_abandoned;  finish while BOT/QUEUED/OFFERED: mark_abandoned

IVR-local state (language, counters, the survey, remembered TwiML) is a `CallRecord` kept in
this process; a worker that has not seen the call rebuilds a minimal record from the contact.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from bot.engine import ConversationEngine
from bot.errors import NumberNotServed, UnknownCall
from bot.routing.handoff import PacketReason
from bot.storage import repository as repo
from bot.storage.models import Channel, ContactState
from bot.storage.repository import ContactView
from bot.types import Action, HandoffReason, TriageDecision
from connectors.voice.calls import (
    CallbackRequest,
    CallRecord,
    CallState,
    HandoffContext,
    HandoffVia,
    after_queue_state,
    check_survey_answer,
    final_state,
)

__all__ = ["TEXTS_DA", "EngineCallStore", "handoff_reason"]

TEXTS_DA = {"callback_note": "Ønsker at blive ringet op (telefon)."}
_LEAVABLE = (ContactState.BOT, ContactState.QUEUED, ContactState.OFFERED)
_VIA_REASON = {
    HandoffVia.MENU: PacketReason.ASKED_FOR_HUMAN,
    HandoffVia.ASKED: PacketReason.ASKED_FOR_HUMAN,
    HandoffVia.ENGLISH: PacketReason.ASKED_FOR_HUMAN,
    HandoffVia.EXTENSION: PacketReason.ASKED_FOR_HUMAN,
    HandoffVia.NO_INPUT: PacketReason.LOW_CONFIDENCE,
    HandoffVia.ERROR: PacketReason.LOW_CONFIDENCE,
    HandoffVia.SPEECH: PacketReason.ASKED_FOR_HUMAN,
}


def handoff_reason(context: HandoffContext) -> PacketReason:
    """The packet reason for a voice handoff: the core's reason, else how the call got there."""
    if context.sensitive:
        return PacketReason.SENSITIVE
    if context.reason is not None:
        return PacketReason(context.reason)
    return _VIA_REASON[context.via]


class EngineCallStore:
    """A `CallStore` whose calls are engine contacts. `tenant_for(called)` picks the tenant."""

    def __init__(
        self,
        engine: ConversationEngine,
        tenant_for: Callable[[str], str],
        tenant_ids: Callable[[], list[str]] | None = None,
        *,
        max_calls: int = 10_000,
        max_responses: int = 10_000,
    ) -> None:
        self.engine = engine
        self.tenant_for = tenant_for
        self.tenant_ids = tenant_ids
        self._calls: OrderedDict[str, tuple[str, CallRecord]] = OrderedDict()  # sid -> (tenant, record)
        self._responses: OrderedDict[str, str] = OrderedDict()
        self._max_calls, self._max_responses = max_calls, max_responses
        self._lock = threading.RLock()

    # -- local records -------------------------------------------------------------------------
    def _put(self, tenant_id: str, record: CallRecord) -> CallRecord:
        with self._lock:
            self._calls[record.call_sid] = (tenant_id, record)
            self._calls.move_to_end(record.call_sid)
            while len(self._calls) > self._max_calls:
                self._calls.popitem(last=False)
        return record

    def _find(self, call_sid: str) -> tuple[str, CallRecord] | None:
        with self._lock:
            found = self._calls.get(call_sid)
        if found is not None:
            return found
        if self.tenant_ids is None:
            return None
        with self.engine.db.read() as s:  # another worker started the call
            for tenant_id in self.tenant_ids():
                c = repo.find_contact(s, tenant_id=tenant_id, channel=Channel.VOICE, external_ref=call_sid)
                if c is not None:
                    view = ContactView.of(c)
                    break
            else:
                return None
        record = CallRecord(call_sid, view.id, view.citizen_phone or "", "", view.created_at,
                            state=_call_state(view.state), topic=view.topic)  # fmt: skip
        return tenant_id, self._put(tenant_id, record)

    def _require(self, call_sid: str) -> tuple[str, CallRecord]:
        found = self._find(call_sid)
        if found is None:
            raise UnknownCall(f"call {call_sid!r} is not in the call store; start() it first")
        return found

    def _contact(self, tenant_id: str, record: CallRecord) -> ContactView:
        return self.engine.contact(tenant_id, record.contact_id)

    # -- CallStore -------------------------------------------------------------------------------
    def start(self, call_sid: str, *, caller: str, called: str, now: datetime) -> tuple[CallRecord, bool]:
        found = self._find(call_sid)
        if found is not None:
            return found[1], False
        tenant_id = self.tenant_for(called)
        with self.engine.db.read() as s:
            existed = repo.find_contact(s, tenant_id=tenant_id, channel=Channel.VOICE, external_ref=call_sid)
        contact = self.engine.open_contact(tenant_id, Channel.VOICE, call_sid, phone=caller or None, now=now)
        record = CallRecord(call_sid, contact.id, caller, called, now)
        return self._put(tenant_id, record), existed is None

    def get(self, call_sid: str) -> CallRecord | None:
        found = self._find(call_sid)
        return found[1] if found else None

    def save(self, record: CallRecord) -> CallRecord:
        tenant_id, old = self._require(record.call_sid)
        self._record_utterances(tenant_id, record)
        return self._put(tenant_id, record)

    def _record_utterances(self, tenant_id: str, record: CallRecord) -> None:
        contact = self._contact(tenant_id, record)
        if contact.state in (ContactState.CLOSED, ContactState.ABANDONED):
            return
        for i, utterance in enumerate(record.transcript):
            # idempotent: the index is the client message id, so a retry writes nothing
            self.engine.record_inbound(tenant_id, record.contact_id, utterance, f"{record.call_sid}:{i}")

    def enqueue(self, call_sid: str, handoff: HandoffContext, now: datetime) -> CallRecord:
        tenant_id, record = self._require(call_sid)
        record = replace(record, transcript=handoff.transcript or record.transcript)
        self._record_utterances(tenant_id, record)
        if self._contact(tenant_id, record).state is ContactState.BOT:
            queue = handoff.queue if handoff.queue in self.engine.contract.queue_by_id else None
            decision = TriageDecision(
                action=Action.HANDOFF, topic=handoff.topic, queue=queue, sensitive=handoff.sensitive,
                confidence=handoff.confidence or 0.0, reason=handoff.reason or HandoffReason.ASKED_FOR_HUMAN,
                explanation=handoff.explanation,
            )  # fmt: skip
            self.engine.request_handoff(tenant_id, record.contact_id, decision, handoff_reason(handoff),
                                        summary=handoff.explanation or None, now=now)  # fmt: skip
        return self._put(tenant_id, replace(record, state=CallState.QUEUED, handoff=handoff,
                                            language=handoff.language))  # fmt: skip

    def request_callback(self, call_sid: str, number: str, now: datetime) -> CallRecord:
        tenant_id, record = self._require(call_sid)
        if record.callback is not None and record.callback.number == number:
            return record  # a retry: one request per call
        if self._contact(tenant_id, record).state in (ContactState.BOT, ContactState.HANDOFF_REQUESTED,
                                                       ContactState.QUEUED):  # fmt: skip
            self.engine.request_callback(tenant_id, record.contact_id, number, TEXTS_DA["callback_note"], now=now)
        closed = record.state is not CallState.QUEUED
        queue = record.handoff.queue if record.handoff else None
        request = CallbackRequest(number, now, None if closed else queue, closed)
        state = CallState.CALLBACK if closed else record.state  # a queued caller leaves next
        return self._put(tenant_id, replace(record, callback=request, pending_number=None, state=state))

    def dequeue(self, call_sid: str, queue_result: str, now: datetime) -> CallRecord:
        tenant_id, record = self._require(call_sid)
        state = after_queue_state(record, queue_result)
        if state is CallState.ABANDONED:
            self._abandon(tenant_id, record, now)
        return self._put(tenant_id, replace(record, queue_result=queue_result, state=state))

    def finish(self, call_sid: str, call_status: str, now: datetime) -> CallRecord:
        tenant_id, record = self._require(call_sid)
        if record.ended_at is not None:
            return record
        state = final_state(record, call_status)
        if state in (CallState.ABANDONED, CallState.FAILED) or record.state in (CallState.IVR, CallState.CLOSED):
            self._abandon(tenant_id, record, now)  # hung up while the bot or the queue had them
        return self._put(tenant_id, replace(record, state=state, ended_at=now, end_status=call_status))

    def _abandon(self, tenant_id: str, record: CallRecord, now: datetime) -> None:
        if self._contact(tenant_id, record).state in _LEAVABLE:
            self.engine.mark_abandoned(tenant_id, record.contact_id, now=now)

    def record_survey_answer(self, call_sid: str, question: int, score: int, now: datetime) -> CallRecord:
        check_survey_answer(question, score)
        tenant_id, record = self._require(call_sid)
        answers = {**record.survey_answers(), question: score}  # a retry overwrites, never duplicates
        return self._put(tenant_id, replace(record, survey=tuple(sorted(answers.items()))))

    def cached_response(self, key: str) -> str | None:
        with self._lock:
            return self._responses.get(key)

    def remember_response(self, key: str, body: str) -> None:
        with self._lock:
            self._responses[key] = body
            while len(self._responses) > self._max_responses:
                self._responses.popitem(last=False)


def _call_state(state: ContactState) -> CallState:
    return {
        ContactState.BOT: CallState.IVR,
        ContactState.HANDOFF_REQUESTED: CallState.QUEUED,
        ContactState.QUEUED: CallState.QUEUED,
        ContactState.OFFERED: CallState.QUEUED,
        ContactState.ASSIGNED: CallState.CONNECTED,
        ContactState.AGENT_ACTIVE: CallState.CONNECTED,
        ContactState.CALLBACK_REQUESTED: CallState.CALLBACK,
        ContactState.MESSAGE_LEFT: CallState.CALLBACK,
        ContactState.ABANDONED: CallState.ABANDONED,
        ContactState.CLOSED: CallState.COMPLETED,
    }[state]


def tenant_by_number(tenants) -> Callable[[str], str]:
    """`tenant_for` from bot.tenants: the tenant whose phone_numbers hold the called number; the
    default tenant when no tenant lists numbers or no number was called; `NumberNotServed`
    for any other number (the routes refuse such calls before they reach the store)."""
    by_number = {n: t.id for t in tenants.tenants for n in t.phone_numbers}

    def tenant_for(called: str) -> str:
        if not by_number or not called:
            return tenants.default_tenant
        if called not in by_number:
            raise NumberNotServed(f"no tenant lists the called number {called[:32]!r} under phone_numbers")
        return by_number[called]

    return tenant_for


def install_engine_store(app) -> None:
    """Make the voice routes use the engine (sets app.state.voice_calls, built on first use)."""
    app.state.voice_calls = _LazyStore(app)


class _LazyStore:
    def __init__(self, app) -> None:
        self._app = app
        self._store: EngineCallStore | None = None
        self._lock = threading.Lock()

    def get(self, *args, **kwargs):  # CallStore.get
        return self._real().get(*args, **kwargs)

    def _real(self) -> EngineCallStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    state = self._app.state
                    tenants = state.tenants
                    self._store = EngineCallStore(state.engine, tenant_by_number(tenants),
                                                  lambda: [t.id for t in tenants.tenants])  # fmt: skip
        return self._store

    def __getattr__(self, name: str):
        return getattr(self._real(), name)
