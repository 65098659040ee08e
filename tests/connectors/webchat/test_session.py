"""The chat-session adapter's pure helpers, and the test backend BotOnlyBackend over the real model."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.webchat.session import (
    ChatBackend,
    ContactKind,
    ContactRequest,
    Feedback,
    FeedbackAlreadyRecorded,
    MessageKind,
    OutMessage,
    UnknownSession,
    danish_date,
    group_frames,
)
from tests.connectors.webchat.bot_only import BotOnlyBackend

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def backend(understanding) -> BotOnlyBackend:
    return BotOnlyBackend(understanding, max_sessions=3, now=lambda: NOW)


def _as_protocol(b: ChatBackend) -> ChatBackend:  # mypy checks BotOnlyBackend against the Protocol
    return b


@pytest.mark.unit
@pytest.mark.parametrize("d, text", [
    (dt.date(2026, 11, 23), "23. november 2026"),
    (dt.date(2027, 1, 1), "1. januar 2027"),
    (dt.date(2025, 5, 9), "9. maj 2025"),
])
def test_danish_date(d, text):
    assert danish_date(d) == text


@pytest.mark.unit
def test_group_frames_keeps_order_and_groups_runs():
    def m(i, kind):
        return OutMessage(i, kind, "", NOW)

    msgs = [m(1, MessageKind.USER), m(2, MessageKind.BOT), m(3, MessageKind.BOT), m(4, MessageKind.SYSTEM),
            m(5, MessageKind.BOT)]
    assert [(k, [x.id for x in g]) for k, g in group_frames(msgs)] == [
        (MessageKind.USER, [1]), (MessageKind.BOT, [2, 3]), (MessageKind.SYSTEM, [4]), (MessageKind.BOT, [5])]


@pytest.mark.slow
def test_send_poll_history_and_ids(backend):
    b = _as_protocol(backend)
    s = b.open(None, "kobenhavn")
    assert s.created and s.tenant == "kobenhavn"
    out = b.send(s.id, "Hvornår kommer skraldebilen?", "c1")
    assert [m.id for m in out] == list(range(1, len(out) + 1))
    assert out[0].kind == MessageKind.USER and out[0].created_at == NOW
    assert out[1].article is not None and out[1].article.cite.startswith("Kilde: ")
    assert b.poll(s.id, len(out)) == [] and b.history(s.id) == out
    assert b.open(s.id, "kobenhavn").created is False


@pytest.mark.slow
def test_sessions_are_bounded_and_unknown_ones_raise(backend):
    first = backend.open(None, None).id
    for _ in range(3):
        backend.open(None, None)
    with pytest.raises(UnknownSession):
        backend.history(first)
    with pytest.raises(UnknownSession):
        backend.send("x" * 20, "hej")


@pytest.mark.slow
def test_feedback_and_contact_requests_are_kept(backend):
    sid = backend.open(None, "kobenhavn").id
    backend.send(sid, "Hvornår kommer skraldebilen?")
    (confirm,) = backend.request_contact(sid, ContactRequest(ContactKind.CALLBACK, "12345678", None))
    assert confirm.kind == MessageKind.SYSTEM and "12345678" in confirm.text
    backend.end(sid)
    backend.record_feedback(sid, Feedback({"tilfredshed": 8}))
    with pytest.raises(FeedbackAlreadyRecorded):
        backend.record_feedback(sid, Feedback({"tilfredshed": 1}))
    (rec,) = backend.feedback
    assert (rec.topic, rec.level, rec.channel, rec.received_at) == ("affald_toemning", "bot", "webchat", NOW)
    assert backend.open(sid, "kobenhavn").created is True  # an ended conversation is not resumed
