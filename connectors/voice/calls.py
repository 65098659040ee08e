"""Call state, keyed by Twilio's CallSid: the `CallRecord` of one call and its JSON form.

The record lives in the database (`bot.storage.voice`, table voice_calls) and is read and
changed by `connectors.voice.engine_store.EngineCallStore`, so every worker serves every webhook
of every call. Steps that matter to the contact centre (handoff, callback, hang-up, the agent's
leg) are engine steps on the call's contact; the rest (language, menu position, counters, the
safety flag, recent utterances, survey answers) is the record itself.

Idempotency: `start()` returns the existing record for a CallSid it has seen (Twilio retries a
webhook that timed out with the same CallSid), so one call is one contact. Responses are also
remembered per I-Twilio-Idempotency-Token, so a retried webhook gets the same TwiML back
without running the call flow twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from bot.types import Action, HandoffReason, TriageDecision

SURVEY_QUESTIONS = 4
SURVEY_MIN, SURVEY_MAX = 1, 9
RECENT_UTTERANCES = 10  # what the understanding core and the handoff read; older ones are in the contact


class CallState(enum.StrEnum):
    IVR = "ivr"  # with the bot: menu, questions, answers
    CLOSED = "closed"  # called outside opening hours
    QUEUED = "queued"  # waiting in the engine's queue (hold loop)
    BRIDGING = "bridging"  # an agent accepted; the agent's phone is ringing
    TRANSFERRED = "transferred"  # <Dial> to an extension or an external number
    CONNECTED = "connected"  # talking to (or talked to) an agent
    CALLBACK = "callback"  # left the queue (or the closed message) with a callback request
    COMPLETED = "completed"  # ended normally
    ABANDONED = "abandoned"  # hung up while queued
    FAILED = "failed"  # busy, no-answer, failed or canceled

    @property
    def ended(self) -> bool:
        return self in (CallState.COMPLETED, CallState.ABANDONED, CallState.FAILED)


class HandoffVia(enum.StrEnum):
    """How the call reached a human."""

    SPEECH = "speech"  # the understanding core decided (see `reason`)
    MENU = "menu"  # keypad menu choice
    ENGLISH = "english"  # English path (key 6 or English speech)
    NO_INPUT = "no_input"  # silence or unclear input, repeatedly
    ASKED = "asked"  # pressed 0 / 2 after an answer / 1 after an emergency message
    EXTENSION = "extension"  # extension unknown or not answered
    ERROR = "error"  # the understanding core failed


@dataclass(frozen=True, slots=True)
class HandoffContext:
    """What the agent sees when the call arrives, so the citizen need not repeat it."""

    queue: str
    via: HandoffVia
    language: str = "da"
    topic: str | None = None
    reason: HandoffReason | None = None
    sensitive: bool = False
    confidence: float | None = None
    transcript: tuple[str, ...] = ()  # normalised utterances, oldest first
    explanation: str = ""

    @property
    def english(self) -> bool:
        return self.language == "en"


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    number: str  # bare digits, e.g. "33661234"
    requested_at: datetime
    queue: str | None  # None when requested while closed
    while_closed: bool = False


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """The call from Twilio to the agent who accepted the contact (the bridge)."""

    agent_id: str
    target: str  # "+4533661234" or "client:anne"
    requested_at: datetime
    redirected: bool = False  # the live call was updated over the REST API
    leg_sid: str | None = None  # Twilio's CallSid of the agent's leg, once a callback named it
    status: str | None = None  # the last status of the agent's leg (ringing, in-progress, completed, ...)
    answered: bool = False
    returned: bool = False  # not answered: the contact went back to the front of its queue


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_sid: str
    contact_id: str
    caller: str
    called: str
    started_at: datetime
    tenant_id: str = ""
    state: CallState = CallState.IVR
    language: str = "da"
    transcript: tuple[str, ...] = ()  # the most recent utterances (RECENT_UTTERANCES), oldest first
    heard: int = 0  # utterances so far (the id of the next one stored on the contact)
    topic: str | None = None  # last topic discussed (for "I want a human" and hold tips)
    flagged: TriageDecision | None = None  # a safety decision sticks for the call
    unclear: int = 0  # silences and unclear answers so far
    candidates: tuple[str, ...] = ()  # topics offered in the last clarify
    handoff: HandoffContext | None = None
    pending_number: str | None = None  # callback number typed, not yet confirmed
    callback: CallbackRequest | None = None
    wait_polls: int = 0  # how often the hold loop ran
    agent: AgentLeg | None = None
    survey: tuple[tuple[int, int], ...] = ()  # (question, score), in answer order
    ended_at: datetime | None = None
    end_status: str | None = None

    def survey_answers(self) -> dict[int, int]:
        return dict(self.survey)


class InvalidSurveyAnswer(ValueError):
    """A survey answer outside 1..9 or for a question other than 1..4."""


def check_survey_answer(question: int, score: int) -> None:
    if not 1 <= question <= SURVEY_QUESTIONS:
        raise InvalidSurveyAnswer(f"survey question {question} does not exist; use 1..{SURVEY_QUESTIONS}")
    if not SURVEY_MIN <= score <= SURVEY_MAX:
        raise InvalidSurveyAnswer(
            f"survey score {score} for question {question}; use {SURVEY_MIN}..{SURVEY_MAX}"
        )


_FAILED_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})


def final_state(record: CallRecord, call_status: str) -> CallState:
    """State after the caller's status callback. A call still queued when it ends was abandoned."""
    if record.state.ended:
        return record.state
    if record.state is CallState.QUEUED:
        return CallState.ABANDONED
    if record.state is CallState.CALLBACK:
        return CallState.CALLBACK  # the callback is still owed; the engine closes it
    if call_status in _FAILED_STATUSES and record.state is CallState.IVR and not record.transcript:
        return CallState.FAILED
    return CallState.COMPLETED


def heard(record: CallRecord, utterance: str) -> CallRecord:
    """The record after the caller said `utterance` (the recent ones are kept, the count goes on)."""
    recent = (*record.transcript, utterance)[-RECENT_UTTERANCES:]
    return replace(record, transcript=recent, heard=record.heard + 1)


def without_personal_data(record: CallRecord) -> CallRecord:
    """The record of an ended call keeps what makes late callbacks harmless (state, the agent
    leg, language, survey) but not the caller's words or numbers: those live on in the contact,
    under its retention and GDPR rules, not in the call's row."""
    callback = replace(record.callback, number="") if record.callback is not None else None
    handoff = replace(record.handoff, transcript=()) if record.handoff is not None else None
    return replace(record, caller="", transcript=(), pending_number=None, callback=callback, handoff=handoff)


# --- the record as JSON (the voice_calls.record column) -------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _decision(d: TriageDecision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"action": d.action.value, "topic": d.topic, "queue": d.queue, "sensitive": d.sensitive,
            "confidence": d.confidence, "candidates": list(d.candidates),
            "reason": d.reason.value if d.reason else None, "explanation": d.explanation}  # fmt: skip


def _parse_decision(d: dict[str, Any] | None) -> TriageDecision | None:
    if d is None:
        return None
    return TriageDecision(
        Action(d["action"]), d["topic"], d["queue"], bool(d["sensitive"]), float(d["confidence"]),
        candidates=tuple(d["candidates"]), reason=HandoffReason(d["reason"]) if d["reason"] else None,
        explanation=d["explanation"],
    )  # fmt: skip


def to_json(record: CallRecord) -> dict[str, Any]:
    """The record as a JSON document (times as ISO 8601 with their offset)."""
    out: dict[str, Any] = {f.name: getattr(record, f.name) for f in fields(record)}
    out["started_at"], out["ended_at"] = _time(record.started_at), _time(record.ended_at)
    out["state"] = record.state.value
    out["transcript"], out["candidates"] = list(record.transcript), list(record.candidates)
    out["flagged"] = _decision(record.flagged)
    out["survey"] = [list(pair) for pair in record.survey]
    h = record.handoff
    out["handoff"] = None if h is None else {
        "queue": h.queue, "via": h.via.value, "language": h.language, "topic": h.topic,
        "reason": h.reason.value if h.reason else None, "sensitive": h.sensitive, "confidence": h.confidence,
        "transcript": list(h.transcript), "explanation": h.explanation,
    }  # fmt: skip
    cb = record.callback
    out["callback"] = None if cb is None else {
        "number": cb.number, "requested_at": _time(cb.requested_at), "queue": cb.queue, "while_closed": cb.while_closed,
    }  # fmt: skip
    a = record.agent
    out["agent"] = None if a is None else {
        "agent_id": a.agent_id, "target": a.target, "requested_at": _time(a.requested_at), "redirected": a.redirected,
        "leg_sid": a.leg_sid, "status": a.status, "answered": a.answered, "returned": a.returned,
    }  # fmt: skip
    return out


def from_json(data: dict[str, Any]) -> CallRecord:
    h, cb, a = data.get("handoff"), data.get("callback"), data.get("agent")
    started = _parse_time(data["started_at"])
    assert started is not None  # written by to_json, never None
    return CallRecord(
        call_sid=data["call_sid"], contact_id=data["contact_id"], caller=data["caller"], called=data["called"],
        started_at=started, tenant_id=data.get("tenant_id", ""), state=CallState(data["state"]),
        language=data["language"], transcript=tuple(data["transcript"]), heard=int(data.get("heard", 0)),
        topic=data["topic"], flagged=_parse_decision(data["flagged"]), unclear=int(data["unclear"]),
        candidates=tuple(data["candidates"]),
        handoff=None if h is None else HandoffContext(
            queue=h["queue"], via=HandoffVia(h["via"]), language=h["language"], topic=h["topic"],
            reason=HandoffReason(h["reason"]) if h["reason"] else None, sensitive=bool(h["sensitive"]),
            confidence=h["confidence"], transcript=tuple(h["transcript"]), explanation=h["explanation"],
        ),
        pending_number=data["pending_number"],
        callback=None if cb is None else CallbackRequest(
            cb["number"], _parse_time(cb["requested_at"]) or started, cb["queue"], bool(cb["while_closed"])
        ),
        wait_polls=int(data["wait_polls"]),
        agent=None if a is None else AgentLeg(
            a["agent_id"], a["target"], _parse_time(a["requested_at"]) or started, bool(a["redirected"]),
            a["leg_sid"], a["status"], bool(a["answered"]), bool(a["returned"]),
        ),
        survey=tuple((int(q), int(s)) for q, s in data["survey"]),
        ended_at=_parse_time(data["ended_at"]), end_status=data["end_status"],
    )  # fmt: skip
