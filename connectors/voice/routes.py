"""Twilio voice webhooks (`router`, prefix /voice). Every request must carry a valid
X-Twilio-Signature (router dependency); every answer is TwiML.

    POST /voice/incoming     time control, welcome and the level-1 menu (speech or keys)
    POST /voice/gather       ?step=menu|clarify|resolved|emergency|extension: the caller's answer
    POST /voice/callback     ?step=offer|number|confirm: callback request by keypad
    POST /voice/after-dial   Dial action of an extension or external number: survey, or the switchboard
    POST /voice/survey       ?q=1..4: the four feedback questions on a 1-9 keypad scale
    POST /voice/status       the caller's status callback: close the call, or abandon it if queued
    + the hold loop, the bridge's action and the agent leg's status (`connectors.voice.hold`)

The call's state is in the database (`connectors.voice.context`, `engine_store`); the called
number picks the tenant, whose opening hours, name, articles and queues the call uses. A call to
a number no tenant lists (knowledge/tenants.yaml, `phone_numbers`) is told in Danish that the
number is not served and hung up on; no contact is opened. A malformed webhook (a missing
CallSid, Digits that are not keypad keys) is a 400.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from twilio.twiml.voice_response import VoiceResponse

from bot.errors import KontaktError, NeverOpen
from bot.routing.calendar import closing_reason, next_open
from bot.triage import topic_decision
from bot.types import Action, HandoffReason, TriageDecision
from connectors.crisis import spoken_first
from connectors.voice import flow, hold
from connectors.voice.calls import SURVEY_QUESTIONS, CallState, HandoffContext, HandoffVia
from connectors.voice.context import Call, CallDep, get_call_store, get_now, twiml
from connectors.voice.edge import VoiceRoute
from connectors.voice.hold import after_agent, survey_texts
from connectors.voice.prompts import Lang
from connectors.voice.security import TwilioSigned
from connectors.voice.speech import format_phone, normalise_transcript, phone_number, yes_no
from connectors.voice.twiml import build_hints

__all__ = ["get_call_store", "get_now", "router"]

log = logging.getLogger("kontakt.voice")

TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
ENGLISH_TOPIC = "generelt_engelsk"
NO_QUEUE = "alarm_112"  # never enqueued or dialled: the caller rings 112 themselves


router = APIRouter(prefix="/voice", tags=["voice"], dependencies=[TwilioSigned], route_class=VoiceRoute)
_twiml = twiml


# --- building blocks ------------------------------------------------------------------------


def _hints(call: Call) -> str:
    titles = [t.title for t in call.contract.topics if t.domain != "dialog"]
    labels = [o.da for o in call.prompts.menu_for(call.tenant.id) if not o.english]
    return build_hints([*call.prompts.data.hints_da, *labels], titles)


def _to_human(
    call: Call,
    queue_id: str | None,
    via: HandoffVia,
    lines: list[str],
    decision: TriageDecision | None = None,
    lang: Lang | None = None,
) -> VoiceResponse:
    """Enqueue (or dial an external target) with the handoff context attached."""
    lang = lang or call.lang
    settings, contract = call.settings, call.contract
    if queue_id is None or queue_id == NO_QUEUE or queue_id not in contract.queue_by_id:
        queue_id = settings.fallback_queue
    queue_id = call.tenant.queue_for(queue_id, contract.queue_by_id)  # a queue not run here: the fallback
    context = HandoffContext(
        queue=queue_id,
        via=via,
        language=lang.value,
        topic=decision.topic if decision else call.record.topic,
        reason=decision.reason if decision else None,
        sensitive=bool(decision and decision.sensitive) or call.record.flagged is not None,
        confidence=decision.confidence if decision else None,
        transcript=call.record.transcript,
        explanation=decision.explanation if decision else via.value,
    )
    queue = contract.queue_by_id[queue_id]
    if queue.kind == "external":
        number = settings.transfer_numbers.get(queue_id)
        if number:
            call.save(state=CallState.TRANSFERRED, handoff=context)
            log.info("call %s transferred to external %s", call.sid, queue_id)
            return call.voice.dial(lines, number, lang, settings.dial_timeout_seconds)
        # No number configured: the switchboard puts the call through; the context names the target.
        context = replace(
            context, queue=settings.switchboard_queue, explanation=f"{context.explanation}; to {queue_id}"
        )
    summary = flow.handoff_summary(call.record.transcript, contract.queue_by_id[context.queue].name, lang,
                                   call.prompts)  # fmt: skip
    call.store.said(call.sid, " ".join(lines), decision, call.now)  # what the agent reads the bot said
    call.record = call.store.enqueue(call.sid, context, call.now, summary=summary)
    log.info("call %s queued in %s via %s", call.sid, context.queue, via.value)
    return call.voice.to_queue(lines, lang)


def _english(call: Call) -> VoiceResponse:
    call.save(language=Lang.EN.value)
    called = call.form.to or call.form.called or ""  # crisis mode: its English message first, if given
    lines = [*spoken_first(call.request.app, called, "en", translated_only=True), call.text("english_handoff", Lang.EN)]
    return _to_human(call, call.settings.english_queue, HandoffVia.ENGLISH, lines, lang=Lang.EN)


def _unclear(call: Call, key: str, extra: list[str] | None = None) -> VoiceResponse:
    """One more silence or unclear answer: ask again, or after `max_unclear` put through."""
    call.save(unclear=call.record.unclear + 1)
    lines = [*(extra or []), call.text(key)] if key else list(extra or [])
    if call.record.unclear >= call.settings.max_unclear:
        decision = TriageDecision(
            Action.HANDOFF,
            call.record.topic,
            call.settings.fallback_queue,
            False,
            0.0,
            reason=HandoffReason.LOW_CONFIDENCE,
            explanation="no or unclear input",
        )
        return _to_human(
            call, call.settings.fallback_queue, HandoffVia.NO_INPUT, [*lines, call.text("to_human")], decision
        )
    return call.voice.reprompt(lines, _hints(call), call.lang)


def _act(call: Call, decision: TriageDecision, lang: Lang) -> VoiceResponse:
    """Turn a triage decision into speech."""
    if decision.action is Action.EMERGENCY:
        call.store.said(call.sid, call.text("emergency", lang), decision, call.now)
        return call.voice.emergency(lang)
    if decision.action in (Action.ANSWER, Action.SELFSERVICE) and decision.article is not None:
        article = call.understanding.articles_for(call.tenant.id).get(decision.article.id)
        if article is not None:
            call.save(unclear=0, candidates=())
            call.store.said(call.sid, article.voice, decision, call.now)
            return call.voice.answer(article.voice, lang)
    if decision.action is Action.CLARIFY and decision.candidates:
        titles = [call.contract.by_id[t].title for t in decision.candidates]
        call.save(candidates=decision.candidates)
        call.store.said(call.sid, call.text("clarify", lang) + " " + ", ".join(titles), decision, call.now)
        return call.voice.clarify(titles, lang)
    if decision.action is Action.OUT_OF_SCOPE:
        return _unclear(call, "", [call.text("out_of_scope", lang)])
    queue = call.contract.queue_by_id.get(decision.queue) if decision.queue else None
    lines = flow.handoff_lines(decision, queue, call.prompts, lang)
    return _to_human(call, decision.queue, HandoffVia.SPEECH, lines, decision, lang)


def _speech(call: Call, speech: str, confidence: float | None) -> VoiceResponse:
    transcript = normalise_transcript(speech)
    if flow.is_unclear(transcript, confidence, call.settings.min_speech_confidence):
        return _unclear(call, "unclear")
    u = call.understanding
    try:
        parsed = u.parse(transcript, call.record.transcript, call.tenant.id, call.record.topic)
    except KontaktError as exc:
        log.error(
            "call %s: understanding failed (%s); putting through", call.sid, type(exc).__name__
        )
        return _to_human(call, call.settings.fallback_queue, HandoffVia.ERROR, [call.text("error")])
    decision, flagged = flow.apply_safety(parsed.decision, call.record.flagged)
    topic = call.record.topic
    if (
        decision.topic
        and decision.topic in u.contract.by_id
        and u.contract.by_id[decision.topic].domain != "dialog"
    ):
        topic = decision.topic
    call.record = call.store.hear(call.sid, transcript, call.now)
    english = parsed.nlu.language == "en" or decision.topic == ENGLISH_TOPIC
    lang = Lang.EN if english else call.lang
    call.save(flagged=flagged, topic=topic, language=lang.value)
    if english and decision.action is not Action.EMERGENCY and not decision.sensitive:
        return _english(call)
    return _act(call, decision, lang)


# --- webhooks -------------------------------------------------------------------------------


@router.post("/incoming", summary="Incoming call: time control, welcome and menu")
def incoming(call: CallDep) -> Response:
    def build() -> VoiceResponse:
        first = spoken_first(call.request.app, call.form.to or call.form.called or "", call.lang)  # crisis mode
        status = closing_reason(call.now, call.schedule)
        if not status.is_open:
            call.save(state=CallState.CLOSED)
            try:
                opens = next_open(call.now, call.schedule)
            except NeverOpen:
                return call.voice.closed([*first, call.text("closed")], call.lang, offer_callback=False)
            return call.voice.closed(
                [*first, *flow.closed_lines(status, opens, call.now, call.prompts, call.lang)], call.lang
            )
        welcome = call.text("welcome_named", name=call.tenant.name)
        return call.voice.menu(" ".join([*first, welcome]), _hints(call), call.lang, tenant_id=call.tenant.id)

    return _twiml(call, build)


@router.post("/gather", summary="The caller's answer to a <Gather> (keys or speech)")
def gather(call: CallDep, step: str = "menu") -> Response:
    def build() -> VoiceResponse:
        digits = (call.form.digits or "").strip()
        speech = (call.form.speech_result or "").strip()
        if step == "extension":
            return _extension(call, digits.rstrip("#"))
        if step == "emergency":
            if digits == "1":
                return _to_human(
                    call,
                    call.settings.fallback_queue,
                    HandoffVia.ASKED,
                    [call.text("to_human")],
                    call.record.flagged,
                )
            return call.voice.goodbye(call.lang, lines=[call.text("emergency")])
        if step == "resolved":
            said = yes_no(speech) if speech else None
            if digits == "1" or said is True:
                return call.voice.goodbye(call.lang, "answer_done")
            if digits == "2" or said is False:
                topic = call.contract.by_id.get(call.record.topic or "")
                return _to_human(
                    call, topic.queue if topic else None, HandoffVia.ASKED, [call.text("to_human")]
                )
            if speech:
                return _speech(call, speech, call.form.confidence)  # a new question
            return call.voice.goodbye(call.lang)
        if step == "clarify":
            if digits == flow.HUMAN_KEY:
                return _to_human(
                    call, call.settings.fallback_queue, HandoffVia.ASKED, [call.text("to_human")]
                )
            if digits.isascii() and digits.isdigit() and 1 <= int(digits) <= len(call.record.candidates):
                u = call.understanding
                topic = call.record.candidates[int(digits) - 1]
                decision = topic_decision(topic, 1.0, u.contract, (), u.article_refs, u.by_topic)
                decision, flagged = flow.apply_safety(decision, call.record.flagged)
                call.save(topic=topic, candidates=(), flagged=flagged)
                return _act(call, decision, call.lang)
        # step == "menu" (and unmatched keys of a clarify)
        if digits:
            return _menu_key(call, digits)
        if speech:
            return _speech(call, speech, call.form.confidence)
        return _unclear(call, "no_input")

    return _twiml(call, build)


def _menu_key(call: Call, digits: str) -> VoiceResponse:
    choice = flow.menu_choice(digits, call.prompts, call.tenant.id)
    if choice.kind is flow.ChoiceKind.EXTENSION:
        return call.voice.extension_prompt(call.lang)
    if choice.kind is flow.ChoiceKind.ENGLISH:
        return _english(call)
    if choice.kind is flow.ChoiceKind.HUMAN:
        return _to_human(call, call.settings.switchboard_queue, HandoffVia.ASKED, [call.text("to_human")])
    if choice.kind is flow.ChoiceKind.QUEUE and choice.queue:
        queue_id = call.tenant.queue_for(choice.queue, call.contract.queue_by_id)  # one this municipality runs
        queue = call.contract.queue_by_id.get(queue_id)
        name = call.tenant.queue_name(queue_id, queue.name if queue else queue_id)
        return _to_human(call, queue_id, HandoffVia.MENU, [call.text("handoff_menu", queue=name)])
    return _unclear(call, "unclear")


def _extension(call: Call, extension: str) -> VoiceResponse:
    target = call.settings.extensions.get(extension) if extension else None
    if target is None:
        return _to_human(
            call, call.settings.switchboard_queue, HandoffVia.EXTENSION, [call.text("extension_unknown")]
        )
    call.save(state=CallState.TRANSFERRED)
    return call.voice.dial(
        [call.text("extension_connecting")], target, call.lang, call.settings.dial_timeout_seconds
    )


@router.post("/after-dial", summary="<Dial> action: survey, or the switchboard when nobody answered")
def after_dial(call: CallDep) -> Response:
    def build() -> VoiceResponse:
        if call.form.dial_call_status == "completed":
            call.save(state=CallState.CONNECTED)
            handoff = call.record.handoff
            if handoff and call.contract.queue_by_id[handoff.queue].kind == "external":
                return call.voice.goodbye(call.lang)  # another authority: not ours to survey
            return after_agent(call)
        return _to_human(
            call, call.settings.switchboard_queue, HandoffVia.EXTENSION, [call.text("extension_no_answer")]
        )

    return _twiml(call, build)


@router.post("/callback", summary="Callback request: offer, number by keypad, confirmation")
def callback(call: CallDep, step: str = "offer", retry: int = 0) -> Response:
    callback_ = call.record.callback
    queued = call.record.state is CallState.QUEUED or (callback_ is not None and not callback_.while_closed)

    def back(lines: list[str]) -> VoiceResponse:
        return (
            call.voice.to_queue(lines, call.lang)
            if queued
            else call.voice.goodbye(call.lang, lines=lines)
        )

    def build() -> VoiceResponse:
        digits = (call.form.digits or "").strip()
        speech = (call.form.speech_result or "").strip()
        if step == "offer":
            if digits == "1":
                return call.voice.callback_number_prompt(call.lang, call.settings.callback_digits)
            return back([])
        if step == "number":
            number = phone_number(digits or speech, call.settings.callback_digits)
            if number is None:
                if retry:
                    return back(
                        [call.text("callback_number_invalid"), call.text("callback_cancelled")]
                        if queued
                        else [call.text("callback_number_invalid")]
                    )
                return call.voice.callback_number_prompt(
                    call.lang,
                    call.settings.callback_digits,
                    [call.text("callback_number_invalid")],
                    retry=True,
                )
            call.save(pending_number=number)
            return call.voice.callback_confirm(format_phone(number), call.lang)
        if step == "confirm":
            said = yes_no(speech) if speech else None
            number = call.record.pending_number or (
                call.record.callback.number if call.record.callback else None
            )
            if (digits == "1" or said is True) and number:
                call.record = call.store.request_callback(call.sid, number, call.now)
                spoken = format_phone(number)
                if queued:
                    log.info("call %s left the queue with a callback request", call.sid)
                    return call.voice.leave_queue(
                        [call.text("callback_recorded_queue", number=spoken)], call.lang
                    )
                return _closed_recorded(call, spoken, _spoken_next_open(call))
            if digits == "2" or said is False:
                return call.voice.callback_number_prompt(call.lang, call.settings.callback_digits)
            return back([call.text("callback_cancelled")] if queued else [])
        raise HTTPException(status_code=404, detail=f"unknown callback step {step!r}")

    return _twiml(call, build)


def _spoken_next_open(call: Call) -> str:
    try:
        opens = next_open(call.now, call.schedule)
    except NeverOpen:
        return ""
    return call.prompts.spoken_when(opens, call.now.astimezone(opens.tzinfo), call.lang)


def _closed_recorded(call: Call, spoken: str, when: str) -> VoiceResponse:
    resp = VoiceResponse()
    call.voice.says(resp, call.lang, "callback_recorded_closed", number=spoken, when=when)
    resp.hangup()
    return resp


@router.post("/survey", summary="Rapid phone feedback: four questions, keys 1-9 (seed 003 §3.3)")
def survey(
    call: CallDep, q: Annotated[int, Query(ge=1, le=SURVEY_QUESTIONS)] = 1, retry: int = 0
) -> Response:
    own = survey_texts(call)  # the municipality's own questions, else the shared four
    count = len(own) or SURVEY_QUESTIONS

    def build() -> VoiceResponse:
        if q > count:
            return call.voice.goodbye(call.lang, "survey_thanks")
        digits = (call.form.digits or "").strip()
        if not digits:
            return call.voice.survey_question(q, call.lang, own=own)
        if len(digits) == 1 and digits in "123456789":
            call.record = call.store.record_survey_answer(call.sid, q, int(digits), call.now)
            if q < count:
                return call.voice.survey_question(q + 1, call.lang, own=own)
            return call.voice.goodbye(call.lang, "survey_thanks")
        if retry:  # a second invalid key: go on without an answer to this question
            if q < count:
                return call.voice.survey_question(q + 1, call.lang, own=own)
            return call.voice.goodbye(call.lang, "survey_thanks")
        return call.voice.survey_question(q, call.lang, invalid=True, retry=True, own=own)

    return _twiml(call, build)


@router.post("/status", summary="Status callback: completed, busy, no-answer, failed or canceled")
def status(call: CallDep) -> Response:
    def build() -> VoiceResponse:
        status = call.form.call_status
        if status in TERMINAL_STATUSES:
            call.record = call.store.finish(call.sid, status, call.now)
            log.info("call %s ended (%s): %s", call.sid, status, call.record.state.value)
        return VoiceResponse()

    return _twiml(call, build)


router.include_router(hold.router)  # the hold loop, the bridge's action and the agent leg's status
