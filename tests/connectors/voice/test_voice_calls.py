"""The CallStore contract. `CallStoreSuite` is written against the protocol only: an
engine-backed store passes the same suite by subclassing it with its own `store` fixture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import UnknownCall
from connectors.voice.calls import (
    CallState,
    CallStore,
    HandoffContext,
    HandoffVia,
    InMemoryCallStore,
    InvalidSurveyAnswer,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SID = "CA" + "1" * 32
CONTEXT = HandoffContext(queue="borgerservice_basis", via=HandoffVia.MENU)


class CallStoreSuite:
    """Behaviour every CallStore must have."""

    @pytest.fixture
    def store(self) -> CallStore:
        raise NotImplementedError

    def _start(self, store: CallStore, sid: str = SID):
        return store.start(sid, caller="+4520123456", called="+4533663366", now=T0)

    def test_store_is_a_callstore(self, store):
        assert isinstance(store, CallStore)

    def test_store_start_is_idempotent_per_callsid(self, store):
        first, created = self._start(store)
        again, created_again = self._start(store)
        assert created and not created_again
        assert again.contact_id == first.contact_id
        other, _ = self._start(store, "CA" + "2" * 32)
        assert other.contact_id != first.contact_id

    def test_store_unknown_call(self, store):
        assert store.get(SID) is None
        with pytest.raises(UnknownCall):
            store.enqueue(SID, CONTEXT, T0)

    def test_store_enqueue_then_status_is_abandoned(self, store):
        self._start(store)
        assert store.enqueue(SID, CONTEXT, T0).state is CallState.QUEUED
        record = store.finish(SID, "completed", T0 + timedelta(minutes=2))
        assert record.state is CallState.ABANDONED
        # a retried status callback changes nothing
        assert store.finish(SID, "completed", T0 + timedelta(minutes=3)).ended_at == record.ended_at

    def test_store_bridged_then_completed(self, store):
        self._start(store)
        store.enqueue(SID, CONTEXT, T0)
        assert store.dequeue(SID, "bridged", T0).state is CallState.CONNECTED
        assert store.finish(SID, "completed", T0).state is CallState.COMPLETED

    def test_store_callback_request_is_recorded_once(self, store):
        self._start(store)
        store.enqueue(SID, CONTEXT, T0)
        first = store.request_callback(SID, "33661234", T0)
        again = store.request_callback(SID, "33661234", T0 + timedelta(seconds=5))
        assert again.callback == first.callback
        assert first.callback.queue == "borgerservice_basis" and not first.callback.while_closed
        assert store.dequeue(SID, "leave", T0).state is CallState.CALLBACK
        assert store.finish(SID, "completed", T0).state is CallState.CALLBACK

    def test_store_callback_while_closed(self, store):
        record, _ = self._start(store)
        from dataclasses import replace

        store.save(replace(record, state=CallState.CLOSED))
        done = store.request_callback(SID, "33661234", T0)
        assert done.callback.while_closed and done.callback.queue is None
        assert done.state is CallState.CALLBACK

    @pytest.mark.parametrize("score", [1, 5, 9])
    def test_store_survey_answers(self, store, score):
        self._start(store)
        store.record_survey_answer(SID, 1, score, T0)
        store.record_survey_answer(SID, 1, score, T0)  # a retry does not duplicate
        assert store.get(SID).survey_answers() == {1: score}

    @pytest.mark.parametrize(("question", "score"), [(1, 0), (1, 10), (0, 5), (5, 5)])
    def test_store_survey_rejects_out_of_range(self, store, question, score):
        self._start(store)
        with pytest.raises(InvalidSurveyAnswer):
            store.record_survey_answer(SID, question, score, T0)

    def test_store_remembers_responses(self, store):
        assert store.cached_response("k") is None
        store.remember_response("k", "<Response/>")
        assert store.cached_response("k") == "<Response/>"


class TestInMemoryCallStore(CallStoreSuite):
    @pytest.fixture
    def store(self) -> CallStore:
        return InMemoryCallStore()

    def test_store_is_bounded(self):
        store = InMemoryCallStore(max_calls=2, max_responses=1)
        for i in range(3):
            store.start(f"CA{i}", caller="", called="", now=T0)
        assert len(store) == 2 and store.get("CA0") is None
        store.remember_response("a", "1")
        store.remember_response("b", "2")
        assert store.cached_response("a") is None
