"""Call state, keyed by Twilio's CallSid, behind the small `CallStore` protocol.

`InMemoryCallStore` is the implementation for now (one process); the conversation engine will
back the protocol with persistent contacts. The protocol is deliberately event-shaped: besides
`save()` for IVR-local state (language, transcript, counters), every step that matters to a
contact centre has its own method (`enqueue`, `request_callback`, `dequeue`, `finish`,
`record_survey_answer`), so an engine-backed store can map each to an engine event.

Idempotency: `start()` returns the existing record for a CallSid it has seen (Twilio retries a
webhook that timed out with the same CallSid), so one call is one contact. Responses can also
be remembered per I-Twilio-Idempotency-Token, so a retried webhook gets the same TwiML back
without running the call flow twice.
"""

from __future__ import annotations

import enum
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.errors import UnknownCall
from bot.types import HandoffReason, TriageDecision

SURVEY_QUESTIONS = 4
SURVEY_MIN, SURVEY_MAX = 1, 9


class CallState(enum.StrEnum):
    IVR = "ivr"  # with the bot: menu, questions, answers
    CLOSED = "closed"  # called outside opening hours
    QUEUED = "queued"  # waiting for an agent (<Enqueue>)
    TRANSFERRED = "transferred"  # <Dial> to an extension or an external number
    CONNECTED = "connected"  # talked to an agent (QueueResult bridged)
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
class CallRecord:
    call_sid: str
    contact_id: str
    caller: str
    called: str
    started_at: datetime
    state: CallState = CallState.IVR
    language: str = "da"
    transcript: tuple[str, ...] = ()
    topic: str | None = None  # last topic discussed (for "I want a human" and hold tips)
    flagged: TriageDecision | None = None  # a safety decision sticks for the call
    unclear: int = 0  # silences and unclear answers so far
    candidates: tuple[str, ...] = ()  # topics offered in the last clarify
    handoff: HandoffContext | None = None
    pending_number: str | None = None  # callback number typed, not yet confirmed
    callback: CallbackRequest | None = None
    wait_polls: int = 0  # how often Twilio fetched the wait URL
    queue_result: str | None = None
    survey: tuple[tuple[int, int], ...] = ()  # (question, score), in answer order
    ended_at: datetime | None = None
    end_status: str | None = None

    def survey_answers(self) -> dict[int, int]:
        return dict(self.survey)


@runtime_checkable
class CallStore(Protocol):
    def start(self, call_sid: str, *, caller: str, called: str, now: datetime) -> tuple[CallRecord, bool]:
        """The call's record, created on first sight. Returns (record, created)."""
        ...

    def get(self, call_sid: str) -> CallRecord | None: ...

    def save(self, record: CallRecord) -> CallRecord:
        """Replace IVR-local state (language, transcript, counters) of a started call."""
        ...

    def enqueue(self, call_sid: str, handoff: HandoffContext, now: datetime) -> CallRecord: ...

    def request_callback(self, call_sid: str, number: str, now: datetime) -> CallRecord: ...

    def dequeue(self, call_sid: str, queue_result: str, now: datetime) -> CallRecord:
        """The <Enqueue> action fired (QueueResult bridged, leave, hangup, queue-full, error, ...)."""
        ...

    def finish(self, call_sid: str, call_status: str, now: datetime) -> CallRecord:
        """The status callback: completed, busy, no-answer, failed or canceled."""
        ...

    def record_survey_answer(self, call_sid: str, question: int, score: int, now: datetime) -> CallRecord: ...

    def cached_response(self, key: str) -> str | None: ...

    def remember_response(self, key: str, body: str) -> None: ...


class InvalidSurveyAnswer(ValueError):
    """A survey answer outside 1..9 or for a question other than 1..4."""


def check_survey_answer(question: int, score: int) -> None:
    if not 1 <= question <= SURVEY_QUESTIONS:
        raise InvalidSurveyAnswer(f"survey question {question} does not exist; use 1..{SURVEY_QUESTIONS}")
    if not SURVEY_MIN <= score <= SURVEY_MAX:
        raise InvalidSurveyAnswer(
            f"survey score {score} for question {question}; use {SURVEY_MIN}..{SURVEY_MAX}"
        )


_QUEUE_RESULT_STATE = {
    "bridged": CallState.CONNECTED,
    "bridging-in-process": CallState.CONNECTED,
    "hangup": CallState.ABANDONED,
}
_FAILED_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})


def after_queue_state(record: CallRecord, queue_result: str) -> CallState:
    """State after the <Enqueue> action: bridged -> connected, hangup -> abandoned, leave with a
    callback -> callback, anything else (queue-full, error, redirected) -> back with the bot."""
    if queue_result == "leave" and record.callback is not None:
        return CallState.CALLBACK
    return _QUEUE_RESULT_STATE.get(queue_result, CallState.IVR)


def final_state(record: CallRecord, call_status: str) -> CallState:
    """State after the status callback. A call still queued when it ends was abandoned."""
    if record.state.ended:
        return record.state
    if record.state is CallState.QUEUED:
        return CallState.ABANDONED
    if record.state is CallState.CALLBACK:
        return CallState.CALLBACK  # the callback is still owed; the engine closes it
    if call_status in _FAILED_STATUSES and record.state is CallState.IVR and not record.transcript:
        return CallState.FAILED
    return CallState.COMPLETED


class InMemoryCallStore:
    """A bounded, thread-safe, per-process `CallStore`. Oldest calls are forgotten first."""

    def __init__(self, max_calls: int = 10_000, max_responses: int = 10_000) -> None:
        self._calls: OrderedDict[str, CallRecord] = OrderedDict()
        self._responses: OrderedDict[str, str] = OrderedDict()
        self._max_calls = max_calls
        self._max_responses = max_responses
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._calls)

    def _put(self, record: CallRecord) -> CallRecord:
        self._calls[record.call_sid] = record
        self._calls.move_to_end(record.call_sid)
        while len(self._calls) > self._max_calls:
            self._calls.popitem(last=False)
        return record

    def _require(self, call_sid: str) -> CallRecord:
        record = self._calls.get(call_sid)
        if record is None:
            raise UnknownCall(f"call {call_sid!r} is not in the call store; start() it first")
        return record

    def start(self, call_sid: str, *, caller: str, called: str, now: datetime) -> tuple[CallRecord, bool]:
        with self._lock:
            existing = self._calls.get(call_sid)
            if existing is not None:
                return existing, False
            record = CallRecord(call_sid, f"voice-{uuid.uuid4().hex}", caller, called, now)
            return self._put(record), True

    def get(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            return self._calls.get(call_sid)

    def save(self, record: CallRecord) -> CallRecord:
        with self._lock:
            self._require(record.call_sid)
            return self._put(record)

    def enqueue(self, call_sid: str, handoff: HandoffContext, now: datetime) -> CallRecord:
        with self._lock:
            record = self._require(call_sid)
            return self._put(
                replace(record, state=CallState.QUEUED, handoff=handoff, language=handoff.language)
            )

    def request_callback(self, call_sid: str, number: str, now: datetime) -> CallRecord:
        with self._lock:
            record = self._require(call_sid)
            if record.callback is not None and record.callback.number == number:
                return record  # a retry: one request per call
            closed = record.state is not CallState.QUEUED
            queue = record.handoff.queue if record.handoff else None
            request = CallbackRequest(number, now, None if closed else queue, closed)
            state = CallState.CALLBACK if closed else record.state  # a queued caller leaves next
            return self._put(replace(record, callback=request, pending_number=None, state=state))

    def dequeue(self, call_sid: str, queue_result: str, now: datetime) -> CallRecord:
        with self._lock:
            record = self._require(call_sid)
            return self._put(
                replace(record, queue_result=queue_result, state=after_queue_state(record, queue_result))
            )

    def finish(self, call_sid: str, call_status: str, now: datetime) -> CallRecord:
        with self._lock:
            record = self._require(call_sid)
            if record.ended_at is not None:
                return record
            state = final_state(record, call_status)
            return self._put(replace(record, state=state, ended_at=now, end_status=call_status))

    def record_survey_answer(self, call_sid: str, question: int, score: int, now: datetime) -> CallRecord:
        check_survey_answer(question, score)
        with self._lock:
            record = self._require(call_sid)
            answers = {**record.survey_answers(), question: score}  # a retry overwrites, never duplicates
            return self._put(replace(record, survey=tuple(sorted(answers.items()))))

    def cached_response(self, key: str) -> str | None:
        with self._lock:
            return self._responses.get(key)

    def remember_response(self, key: str, body: str) -> None:
        with self._lock:
            self._responses[key] = body
            while len(self._responses) > self._max_responses:
                self._responses.popitem(last=False)

    def all(self) -> list[CallRecord]:
        """Every call still remembered (for tests and the readiness report)."""
        with self._lock:
            return list(self._calls.values())
