"""Waiting for a person, on the engine's queue (`router`, included by the voice router, so
prefixed /voice and signed like every voice webhook):

    POST /voice/wait          the hold loop: position and expected wait (engine.queue_status),
                              a tip, the callback offer by the engine's rule, music or a pause,
                              then <Redirect> here again
    POST /voice/after-bridge  <Dial> action of the bridge: survey after the agent, or back to
                              the front of the queue when the agent's phone did not answer
    POST /voice/agent-status  status callback of the agent's leg (ParentCallSid = the caller):
                              answered, completed, busy, no-answer, failed move the contact

A handed-off call waits as a QUEUED contact; the router offers it to an agent and the bridge
(`connectors.voice.bridge`) puts the caller through when the agent accepts.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from twilio.twiml.voice_response import VoiceResponse

from bot.storage.models import ContactState
from connectors.voice import flow
from connectors.voice.bridge import bridge_twiml
from connectors.voice.calls import CallState
from connectors.voice.context import Call, CallDep, twiml
from connectors.voice.edge import VoiceRoute
from connectors.voice.engine_store import AGENT_LEG_FAILED
from connectors.voice.prompts import Lang

log = logging.getLogger("kontakt.voice")

# Included by `connectors.voice.routes.router`, whose prefix (/voice) and signature check apply.
router = APIRouter(route_class=VoiceRoute)
AGENT_LEG_STATUSES = frozenset({"in-progress", "answered", "completed", *AGENT_LEG_FAILED})
_WAITING = (ContactState.HANDOFF_REQUESTED, ContactState.QUEUED, ContactState.OFFERED)


def survey_texts(call: Call) -> tuple[str, ...]:
    """The called municipality's own survey questions in the call's language (none: the shared four)."""
    return tuple(q.en if call.lang is Lang.EN else q.da for q in call.tenant.survey.questions)


def after_agent(call: Call) -> VoiceResponse:
    """The agent (or the dialled colleague) hung up and the caller is still on the line."""
    handoff = call.record.handoff
    surveyed = call.settings.survey_enabled and call.tenant.survey.enabled  # the installation's, then the tenant's
    if surveyed and not (handoff and handoff.sensitive) and call.record.flagged is None:
        return call.voice.survey_question(1, call.lang, intro=True, own=survey_texts(call))
    return call.voice.goodbye(call.lang)


def _hold(call: Call) -> VoiceResponse:
    record, lang = call.record, call.lang
    contact = call.store.contact(record)
    leg = record.agent
    agent_id = contact.assigned_agent_id
    if contact.state is ContactState.ASSIGNED and agent_id and (leg is None or leg.agent_id != agent_id):
        # Accepted, but the bridge never ran for this agent (it failed before a word was stored).
        target = call.store.agent_target(record.tenant_id, agent_id)
        record = call.record = call.store.bridging(call.sid, agent_id, target or "", call.now)
        if target is None:
            record = call.record = call.store.agent_leg(call.sid, None, "failed", call.now)
        contact, leg = call.store.contact(record), record.agent
    if contact.state is ContactState.ASSIGNED and leg is not None and leg.target and not leg.answered:
        # Accepted while the caller is still here: the REST redirect did not happen (or this
        # round raced it, and Twilio drops this answer): put the caller through from here.
        if not leg.redirected:
            call.record = call.store.redirected(call.sid)
        return bridge_twiml(call.voice, record, leg.target, call.settings)
    if contact.state not in _WAITING:
        log.info("call %s in the hold loop while its contact is %s", call.sid, contact.state.value)
        return call.voice.goodbye(lang)
    status = call.store.engine.queue_status(record.tenant_id, record.contact_id, now=call.now)
    polls = record.wait_polls + 1
    call.save(wait_polls=polls)
    if status.position is not None:
        lines = [call.text("queue_position", position=status.position)]
    else:
        lines = [call.text("queue_waiting")]
    wait = flow.spoken_wait(status.expected_wait, call.prompts, lang)
    if wait:
        lines.append(wait)
    if polls % 3 == 1:  # the tip on the first announcement and every third after it
        handoff = record.handoff
        u = call.understanding
        tip = flow.hold_tip(handoff.topic if handoff else record.topic,
                            bool(handoff and handoff.sensitive) or record.flagged is not None,
                            u.by_topic, u.articles, call.prompts, lang)  # fmt: skip
        if tip:
            lines.append(tip)
    offer = record.callback is None and status.offer_callback
    return call.voice.hold(lines, lang, offer_callback=offer, music_url=call.settings.hold_music_url,
                           pause_seconds=call.settings.hold_pause_seconds)  # fmt: skip


@router.post("/wait", summary="Hold loop: position, expected wait, tip, callback offer, music")
def wait(call: CallDep) -> Response:
    return twiml(call, lambda: _hold(call))


@router.post("/after-bridge", summary="<Dial> action of the bridge: survey, or back to the queue")
def after_bridge(call: CallDep) -> Response:
    def build() -> VoiceResponse:
        status = call.form.dial_call_status or "failed"
        call.record = call.store.agent_leg(call.sid, call.form.dial_call_sid, status, call.now)
        if status in ("completed", "answered"):
            return after_agent(call)
        if call.record.state is CallState.QUEUED:
            return call.voice.to_queue([call.text("agent_no_answer")], call.lang)
        return call.voice.goodbye(call.lang)

    return twiml(call, build)


@router.post("/agent-status", summary="Status callback of the agent's leg: answered, completed, no answer")
def agent_status(call: CallDep) -> Response:
    def build() -> VoiceResponse:
        status = call.form.call_status or ""
        if status in AGENT_LEG_STATUSES:
            call.record = call.store.agent_leg(call.sid, call.form.call_sid, status, call.now)
            log.info("call %s: agent leg %s", call.sid, status)
        return VoiceResponse()

    return twiml(call, build)
