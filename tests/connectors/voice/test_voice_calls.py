"""The call record: its JSON form (the voice_calls.record column) and the small pure rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.types import Action, HandoffReason, TriageDecision
from connectors.voice.calls import (
    RECENT_UTTERANCES,
    AgentLeg,
    CallbackRequest,
    CallRecord,
    CallState,
    HandoffContext,
    HandoffVia,
    InvalidSurveyAnswer,
    check_survey_answer,
    final_state,
    from_json,
    heard,
    to_json,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SID = "CA" + "1" * 32


def _record(**changes) -> CallRecord:
    return replace(CallRecord(SID, "c-1", "+4520123456", "+4533663366", T0, tenant_id="kobenhavn"), **changes)


def test_calls_json_round_trip_keeps_every_field():
    flagged = TriageDecision(Action.EMERGENCY, "dialog_noedsituation", "alarm_112", True, 0.93,
                             reason=HandoffReason.EMERGENCY, explanation="acute danger")  # fmt: skip
    record = _record(
        state=CallState.BRIDGING, language="en", transcript=("der er brand",), heard=3, topic="affald_toemning",
        flagged=flagged, unclear=1, candidates=("a", "b"),
        handoff=HandoffContext("borgerservice_basis", HandoffVia.SPEECH, "en", "affald_toemning",
                               HandoffReason.SENSITIVE, True, 0.4, ("der er brand",), "x"),
        pending_number="33661234", callback=CallbackRequest("33661234", T0, "borgerservice_basis"),
        wait_polls=4, agent=AgentLeg("anne", "+4533661234", T0, True, "CA" + "2" * 32, "ringing"),
        survey=((1, 7), (2, 9)), ended_at=T0, end_status="completed",
    )  # fmt: skip
    import json

    assert from_json(json.loads(json.dumps(to_json(record)))) == record


def test_calls_heard_keeps_the_recent_utterances_and_counts_all():
    record = _record()
    for i in range(RECENT_UTTERANCES + 3):
        record = heard(record, f"sætning {i}")
    assert record.heard == RECENT_UTTERANCES + 3
    assert len(record.transcript) == RECENT_UTTERANCES and record.transcript[-1] == f"sætning {RECENT_UTTERANCES + 2}"


@pytest.mark.parametrize(
    ("state", "status", "transcript", "expected"),
    [
        (CallState.QUEUED, "completed", (), CallState.ABANDONED),
        (CallState.CALLBACK, "completed", (), CallState.CALLBACK),
        (CallState.IVR, "no-answer", (), CallState.FAILED),
        (CallState.IVR, "completed", ("hej",), CallState.COMPLETED),
        (CallState.ABANDONED, "completed", (), CallState.ABANDONED),
    ],
)
def test_calls_final_state(state, status, transcript, expected):
    assert final_state(_record(state=state, transcript=transcript), status) is expected


@pytest.mark.parametrize(("question", "score"), [(1, 0), (1, 10), (0, 5), (5, 5)])
def test_calls_survey_answer_out_of_range(question, score):
    with pytest.raises(InvalidSurveyAnswer):
        check_survey_answer(question, score)
