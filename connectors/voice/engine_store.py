"""`EngineCallStore`: the calls of the phone channel, in the database and on the engine.

One call is one engine contact: channel `voice`, external_ref = Twilio's CallSid. The call's own
state (`CallRecord`) is one row of `voice_calls` (bot.storage.voice), read and changed in a
locked transaction per step, so any worker serves any webhook of any call and a worker that
dies mid-call loses nothing. The contact-centre steps are engine steps:

    start             open_contact (tenant from the called number, phone = caller)
    hear              the caller's utterance becomes a citizen message (idempotent per index)
    said              the bot's spoken answer becomes a bot reply (what the bot said, for the packet)
    enqueue           request_handoff with a summary (once: a retry finds the contact queued)
    request_callback  request_callback (an engine task; once per call)
    finish            the caller hung up: mark_abandoned while BOT/QUEUED/OFFERED
    agent_leg         the agent's phone did not answer: return_unconnected (front of the queue)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.engine import ConversationEngine
from bot.errors import IllegalTransition, NotAssignedAgent, NumberNotServed, UnknownCall
from bot.routing.handoff import PacketReason
from bot.storage import repository as repo
from bot.storage import voice as store_db
from bot.storage.models import Channel, ContactState, EventKind
from bot.storage.repository import ContactView
from bot.tenants import Tenants
from bot.types import Action, HandoffReason, TriageDecision
from connectors.voice.calls import (
    AgentLeg,
    CallbackRequest,
    CallRecord,
    CallState,
    HandoffContext,
    HandoffVia,
    check_survey_answer,
    final_state,
    from_json,
    heard,
    to_json,
    without_personal_data,
)

__all__ = ["TEXTS_DA", "EngineCallStore", "handoff_reason", "response_key", "tenant_by_number"]

log = logging.getLogger("kontakt.voice")

# What the back office reads on the task (Danish, shown in the console).
TEXTS_DA = {"callback_note": "Ønsker at blive ringet op (telefon)."}
_LEAVABLE = (ContactState.BOT, ContactState.QUEUED, ContactState.OFFERED)
_SILENT = (ContactState.CLOSED, ContactState.ABANDONED)
AGENT_LEG_FAILED = frozenset({"busy", "no-answer", "failed", "canceled"})
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


def response_key(call_sid: str, path_and_query: str, token: str) -> str:
    """The key of a remembered TwiML answer: one per call, webhook URL and idempotency token."""
    return hashlib.sha256(f"{call_sid}\n{path_and_query}\n{token}".encode()).hexdigest()


def tenant_by_number(tenants: Tenants) -> Callable[[str], str]:
    """`tenant_for(called)`: the tenant whose phone_numbers hold the called number; the default
    tenant when no tenant lists numbers or no number was called; `NumberNotServed` otherwise."""
    by_number = {n: t.id for t in tenants.tenants for n in t.phone_numbers}

    def tenant_for(called: str) -> str:
        if not by_number or not called:
            return tenants.default_tenant
        if called not in by_number:
            raise NumberNotServed(f"no tenant lists the called number {called[:32]!r} under phone_numbers")
        return by_number[called]

    return tenant_for


class EngineCallStore:
    """The calls, in the database. `tenant_for(called)` picks the tenant of a new call."""

    def __init__(self, engine: ConversationEngine, tenant_for: Callable[[str], str]) -> None:
        self.engine = engine
        self.db = engine.db
        self.tenant_for = tenant_for

    # -- reading and changing the record ---------------------------------------------------------
    def get(self, call_sid: str) -> CallRecord | None:
        with self.db.read() as s:
            row = store_db.get_call(s, call_sid=call_sid)
            return None if row is None else from_json(row.record)

    def _require(self, call_sid: str) -> CallRecord:
        record = self.get(call_sid)
        if record is None:
            raise UnknownCall(f"call {call_sid!r} is not known; only /voice/incoming starts a call")
        return record

    def _mutate(
        self, call_sid: str, change: Callable[[CallRecord], CallRecord], *, event: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> CallRecord:
        """Change the stored record under a row lock (two webhooks of one call never undo each
        other's fields), optionally with an event in the same transaction."""
        with self.db.write() as s:
            row = store_db.get_call(s, call_sid=call_sid, lock=True)
            if row is None:
                raise UnknownCall(f"call {call_sid!r} is not known; only /voice/incoming starts a call")
            record = change(from_json(row.record))
            row.record, row.state = to_json(record), record.state.value
            if now is not None:
                row.updated_at = now
            if event is not None:
                repo.add_event(s, tenant_id=row.tenant_id, contact_id=row.contact_id, at=event.pop("at"),
                               kind=event.pop("kind"), data=event)  # fmt: skip
            return record

    def update(self, call_sid: str, **changes: Any) -> CallRecord:
        """Set the given fields of the record (only those: a concurrent step keeps its own)."""
        return self._mutate(call_sid, lambda r: replace(r, **changes))

    def contact(self, record: CallRecord) -> ContactView:
        return self.engine.contact(record.tenant_id, record.contact_id)

    # -- the call's steps ------------------------------------------------------------------------
    def start(self, call_sid: str, *, caller: str, called: str, now: datetime) -> tuple[CallRecord, bool]:
        """The call's record, created on first sight (with its contact). Returns (record, created)."""
        found = self.get(call_sid)
        if found is not None:
            return found, False
        tenant_id = self.tenant_for(called)
        contact = self.engine.open_contact(tenant_id, Channel.VOICE, call_sid, phone=caller or None, now=now)
        record = CallRecord(call_sid, contact.id, caller, called, now, tenant_id=tenant_id)
        try:
            with self.db.write() as s:
                if store_db.get_call(s, call_sid=call_sid, lock=True) is None:
                    store_db.insert_call(s, call_sid=call_sid, tenant_id=tenant_id, contact_id=contact.id,
                                         state=record.state.value, record=to_json(record), at=now)  # fmt: skip
                    return record, True
        except IntegrityError:
            pass  # another worker started the same call at the same moment
        return self._require(call_sid), False

    def hear(self, call_sid: str, utterance: str, now: datetime) -> CallRecord:
        """The caller said `utterance`: a citizen message on the contact, and the recent ones."""
        record = self._require(call_sid)
        if self.contact(record).state not in _SILENT:
            # the index is the message's idempotency key: a retried webhook writes nothing twice
            self.engine.record_inbound(record.tenant_id, record.contact_id, utterance, f"{call_sid}:{record.heard}",
                                       now=now)  # fmt: skip
        return self._mutate(call_sid, lambda r: heard(r, utterance))

    def said(self, call_sid: str, text: str, decision: TriageDecision | None, now: datetime) -> None:
        """The bot answered (spoken): a bot reply on the contact while the bot has it."""
        record = self._require(call_sid)
        if self.engine.bot_may_answer(record.tenant_id, record.contact_id):
            self.engine.record_bot_reply(record.tenant_id, record.contact_id, text, decision, now=now)

    def enqueue(self, call_sid: str, handoff: HandoffContext, now: datetime, summary: str | None = None) -> CallRecord:
        """To a person: the contact is queued in the engine (once; a retry finds it queued)."""
        record = self._require(call_sid)
        if self.contact(record).state is ContactState.BOT:
            queue = handoff.queue if handoff.queue in self.engine.contract.queue_by_id else None
            decision = TriageDecision(
                action=Action.HANDOFF, topic=handoff.topic, queue=queue, sensitive=handoff.sensitive,
                confidence=handoff.confidence or 0.0, reason=handoff.reason or HandoffReason.ASKED_FOR_HUMAN,
                explanation=handoff.explanation,
            )  # fmt: skip
            try:
                self.engine.request_handoff(record.tenant_id, record.contact_id, decision, handoff_reason(handoff),
                                            summary=summary, now=now)  # fmt: skip
            except IllegalTransition:  # a retry of this webhook on another worker queued it first
                log.info("call %s: contact already queued", call_sid)
        return self._mutate(call_sid, lambda r: replace(r, state=CallState.QUEUED, handoff=handoff,
                                                           language=handoff.language, wait_polls=0), now=now)  # fmt: skip

    def request_callback(self, call_sid: str, number: str, now: datetime) -> CallRecord:
        """The caller asked to be called back: an engine task (once per call)."""
        record = self._require(call_sid)
        if record.callback is not None and record.callback.number == number:
            return record  # a retry: one request per call
        state = self.contact(record).state
        if state is ContactState.OFFERED:  # an agent's console is ringing: take it back, the caller chose
            for offer in self.engine.offers(record.tenant_id):
                if offer.contact_id == record.contact_id:
                    self.engine.decline_or_expire_offer(record.tenant_id, offer.id, expired=True, now=now)
            state = self.contact(record).state
        if state in (ContactState.BOT, ContactState.HANDOFF_REQUESTED, ContactState.QUEUED):
            self.engine.request_callback(record.tenant_id, record.contact_id, number, TEXTS_DA["callback_note"],
                                         now=now)  # fmt: skip
        closed = record.state is not CallState.QUEUED
        queue = record.handoff.queue if record.handoff else None
        request = CallbackRequest(number, now, None if closed else queue, closed)
        return self._mutate(call_sid, lambda r: replace(r, callback=request, pending_number=None,
                                                           state=CallState.CALLBACK), now=now)  # fmt: skip

    def finish(self, call_sid: str, call_status: str, now: datetime) -> CallRecord:
        """The caller's call ended (status callback). Hung up while the bot or the queue had
        them, while an agent was being offered the call, or while the accepting agent's phone
        rang: the contact is abandoned (the agent is free again)."""
        record = self._require(call_sid)
        if record.ended_at is not None:
            return record  # a repeated callback
        leg = record.agent
        ringing = leg is not None and not leg.answered and not leg.returned
        contact = self.contact(record)
        if ringing and leg is not None and contact.state is ContactState.ASSIGNED:
            self._unconnected(record, leg.agent_id, agent_missed=False, now=now)
            contact = self.contact(record)
        # Put through to an extension or another authority, the caller was served, not abandoned.
        if contact.state in _LEAVABLE and record.state not in (CallState.TRANSFERRED, CallState.CONNECTED):
            try:
                self.engine.mark_abandoned(record.tenant_id, record.contact_id, now=now)
            except IllegalTransition:  # a repeated callback on another worker got there first
                log.info("call %s: contact already left the queue", call_sid)
        state = final_state(record, call_status)

        def ended(r: CallRecord) -> CallRecord:
            if r.ended_at is not None:
                return r
            agent = replace(r.agent, returned=True) if ringing and r.agent is not None else r.agent
            return without_personal_data(replace(r, state=state, ended_at=now, end_status=call_status, agent=agent))

        record = self._mutate(call_sid, ended, now=now)
        with self.db.write() as s:
            store_db.forget_responses(s, call_sid=call_sid)
        return record

    def _unconnected(self, record: CallRecord, agent_id: str, *, agent_missed: bool, now: datetime) -> None:
        try:
            self.engine.return_unconnected(record.tenant_id, record.contact_id, agent_id, agent_missed=agent_missed,
                                           now=now)  # fmt: skip
        except (IllegalTransition, NotAssignedAgent) as exc:  # closed meanwhile, or another agent has it
            log.info("call %s: contact not returned to the queue (%s)", record.call_sid, type(exc).__name__)

    def record_survey_answer(self, call_sid: str, question: int, score: int, now: datetime) -> CallRecord:
        """One answer of the phone survey: on the record and as a feedback event for statistics."""
        check_survey_answer(question, score)

        def answer(r: CallRecord) -> CallRecord:
            answers = {**r.survey_answers(), question: score}  # a retry overwrites, never duplicates
            return replace(r, survey=tuple(sorted(answers.items())))

        event = {"kind": EventKind.FEEDBACK, "at": now, "channel": "voice", "level": "agent", "scale": [1, 9],
                 "scores": {str(question): score}}  # fmt: skip
        return self._mutate(call_sid, answer, event=event, now=now)

    # -- the bridge to the agent -----------------------------------------------------------------
    def call_of(self, tenant_id: str, contact_id: str) -> CallRecord | None:
        with self.db.read() as s:
            row = store_db.call_for_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            return None if row is None else from_json(row.record)

    def agent_target(self, tenant_id: str, agent_id: str) -> str | None:
        """The agent's phone number or "client:<identity>", None when they have no line."""
        with self.db.read() as s:
            line = store_db.agent_line(s, tenant_id=tenant_id, agent_id=agent_id)
        return None if line is None else line.target

    def bridging(self, call_sid: str, agent_id: str, target: str, now: datetime) -> CallRecord:
        leg = AgentLeg(agent_id, target, now)
        return self._mutate(call_sid, lambda r: replace(r, agent=leg, state=CallState.BRIDGING), now=now)

    def redirected(self, call_sid: str) -> CallRecord:
        return self._mutate(call_sid, lambda r: r if r.agent is None else replace(r, agent=replace(r.agent, redirected=True)))

    def agent_leg(self, call_sid: str, leg_sid: str | None, status: str, now: datetime) -> CallRecord:
        """A status of the agent's leg (status callback or the <Dial> action). Answered: the call
        is connected. Busy, no answer, failed: the contact goes back to the front of its queue
        (once, however many callbacks say so) and the caller hears the hold loop again."""
        record = self._require(call_sid)
        leg = record.agent
        if leg is None or (leg_sid and leg.leg_sid and leg.leg_sid != leg_sid):
            return record  # no bridge, or a callback of an earlier leg
        if status in ("in-progress", "answered", "completed"):  # "completed" only follows an answer
            return self._mutate(call_sid, lambda r: replace(
                r, state=CallState.CONNECTED if r.ended_at is None else r.state,
                agent=replace(leg, leg_sid=leg_sid or leg.leg_sid, status=status, answered=True)), now=now)  # fmt: skip
        if status in AGENT_LEG_FAILED and not leg.answered and not leg.returned:
            self._unconnected(record, leg.agent_id, agent_missed=True, now=now)
            state = CallState.QUEUED if record.ended_at is None else record.state
            return self._mutate(call_sid, lambda r: replace(r, state=state, wait_polls=0, agent=replace(
                leg, leg_sid=leg_sid or leg.leg_sid, status=status, returned=True)), now=now)  # fmt: skip
        return self._mutate(call_sid, lambda r: r if r.agent is None else replace(
            r, agent=replace(r.agent, leg_sid=leg_sid or r.agent.leg_sid, status=status)), now=now)  # fmt: skip

    # -- replayed answers ------------------------------------------------------------------------
    def cached_response(self, key: str) -> str | None:
        with self.db.read() as s:
            return store_db.cached_response(s, key=key)

    def remember_response(self, key: str, call_sid: str, body: str, now: datetime) -> str:
        with self.db.write() as s:
            return store_db.remember_response(s, key=key, call_sid=call_sid, body=body, at=now)
