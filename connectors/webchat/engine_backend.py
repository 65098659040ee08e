"""`EngineChatBackend`: the web chat's `ChatBackend` on the conversation engine (issue 5).

A chat session is one engine contact: channel `chat`, external_ref = the session id. Everything
the widget shows is rendered from the database, so any worker can serve any session:

* the engine's messages (citizen, bot, agent) in order; OutMessage id = message id × 10;
* notices derived from the contact's events, placed after the message they follow (id + 1..9):
  the queue position after a handoff (live, from `engine.queue_status`), the closed-queue notice
  with the next opening time (tenant schedule) after an out-of-hours handoff, the expectation
  text of a message or callback request, a transfer, and the agent closing the conversation.

Bot turns go through `bot.conversation.handle_citizen_message`, so the bot stays silent once a
human owns the contact. `poll` re-reads the database only when the `ChangeFeed`
(connectors/webchat/notify.py) says the contact changed, or every `refresh_seconds` (queue
positions move without a notification).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from bot.channels import Channels
from bot.conversation import FINAL_STATES, decision_from_event, handle_citizen_message
from bot.crisis_board import greet_chat
from bot.engine import ConversationEngine, QueueStatus
from bot.engine.views import ContactLog
from bot.errors import (
    ChatMissingValue,
    ChatNotNow,
    ConversationClosed,
    FeedbackNotStorable,
    InvalidTaskInput,
    KontaktError,
)
from bot.responses import render, texts
from bot.routing import calendar
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import Author, Channel, ContactState, EventKind
from bot.storage.repository import ContactView, EventView, MessageView
from bot.tenants import Tenants
from bot.understanding import Understanding
from connectors.webchat.notify import ChangeFeed, make_feed, notify
from connectors.webchat.session import (
    HUMAN_PAYLOAD,
    SESSION_ID,
    ContactKind,
    ContactRequest,
    Feedback,
    FeedbackAlreadyRecorded,
    MessageKind,
    OutMessage,
    SessionInfo,
    UnknownSession,
    _structure,
    new_session_id,
)

__all__ = ["FEEDBACK_KIND", "TEXTS_DA", "EngineChatBackend", "chat_services", "record_feedback_event"]

SLOTS = 10  # OutMessage ids per engine message: the message itself, then up to 9 notices after it

# Citizen-facing wording this adapter writes itself (the bot's wording is in bot/resources).
TEXTS_DA = {
    "queued": "Du er sat i kø til en medarbejder.",
    "transferred": "Du bliver sat videre til en anden medarbejder. Du beholder din plads i samtalen.",
    "agent_closed": "Medarbejderen har afsluttet samtalen. Tak fordi du skrev.",
    "callback_note": "Ønsker at blive ringet op (skrevet i chatten).",
    "message_needs_phone": "Skriv dit telefonnummer, så vi kan vende tilbage til dig.",
    "not_now": "Samtalen er allerede hos en medarbejder. Skriv til medarbejderen i chatten.",
}

FEEDBACK_KIND: EventKind | None = next((k for k in EventKind if k.value == "feedback"), None)


def record_feedback_event(
    db: Database, tenant_id: str, contact_id: str, at: datetime, data: dict[str, Any]
) -> None:
    """Append a `feedback` event for the contact, once: `FeedbackAlreadyRecorded` (by contact id)
    when it already has one. Needs EventKind.FEEDBACK in bot.storage.models."""
    if FEEDBACK_KIND is None:
        raise FeedbackNotStorable(
            "cannot store feedback: add FEEDBACK = \"feedback\" to bot.storage.models.EventKind"
            " (a VARCHAR column, no migration needed)"
        )
    with db.write() as s:
        repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
        if any(e.kind is FEEDBACK_KIND for e in repo.events(s, tenant_id=tenant_id, contact_id=contact_id)):
            raise FeedbackAlreadyRecorded(contact_id)
        repo.add_event(s, tenant_id=tenant_id, kind=FEEDBACK_KIND, at=at, contact_id=contact_id, data=data)


def record_chat_ended(db: Database, tenant_id: str, contact_id: str, at: datetime) -> None:
    """The citizen ended the chat: kept in the database, so every worker treats the session as
    ended (the next message starts a new conversation)."""
    with db.write() as s:
        repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
        repo.add_event(s, tenant_id=tenant_id, kind=EventKind.CHAT_ENDED, at=at, contact_id=contact_id, data={})


@dataclass(frozen=True, slots=True)
class _Ref:
    tenant_id: str
    contact_id: str


@dataclass
class _Rendered:
    version: int
    at: float
    messages: list[OutMessage]


class EngineChatBackend:
    """`ChatBackend` over `bot.conversation` and the engine. Thread-safe; keeps only caches."""

    channel = Channel.CHAT

    def __init__(
        self,
        engine: ConversationEngine,
        understanding: Understanding,
        tenants: Tenants,
        *,
        feed: ChangeFeed | None = None,
        refresh_seconds: float = 5.0,
        max_cached: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.understanding = understanding
        self.tenants = tenants
        self.feed = feed
        self.refresh_seconds = refresh_seconds
        self._max = max_cached
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._refs: OrderedDict[str, _Ref] = OrderedDict()
        self._rendered: OrderedDict[str, _Rendered] = OrderedDict()
        self._structured: OrderedDict[int, OutMessage] = OrderedDict()  # bot messages sent here
        self._agent_names: dict[tuple[str, str], str] = {}

    # -- small caches ------------------------------------------------------------------------
    def _remember(self, cache: OrderedDict, key: Any, value: Any) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            while len(cache) > self._max:
                cache.popitem(last=False)

    def _locate(self, session_id: str) -> _Ref:
        if not SESSION_ID.match(session_id or ""):
            raise UnknownSession(session_id or "")
        with self._lock:
            ref = self._refs.get(session_id)
        if ref is not None:
            return ref
        with self.engine.db.read() as s:  # another worker opened it: the session id is unique
            for t in self.tenants.tenants:
                c = repo.find_contact(s, tenant_id=t.id, channel=Channel.CHAT, external_ref=session_id)
                if c is not None:
                    ref = _Ref(t.id, c.id)
                    break
        if ref is None:
            raise UnknownSession(session_id)
        self._remember(self._refs, session_id, ref)
        return ref

    def _changed(self, session_id: str) -> None:
        with self._lock:
            self._rendered.pop(session_id, None)

    # -- ChatBackend -------------------------------------------------------------------------
    def resume(self, session_id: str) -> SessionInfo | None:
        try:
            ref = self._locate(session_id)
        except UnknownSession:
            return None
        state, ended = self.engine.standing(ref.tenant_id, ref.contact_id, EventKind.CHAT_ENDED)
        if state in FINAL_STATES:
            return None
        if ended:
            return None  # ended by the citizen while a person had it (possibly through another worker)
        return SessionInfo(session_id, ref.tenant_id, created=False)

    def open(self, session_id: str | None, tenant: str | None, *, new_id: str | None = None) -> SessionInfo:
        if session_id:
            resumed = self.resume(session_id)
            if resumed is not None:
                return resumed
        tenant_id = self.tenants.get(tenant).id  # UnknownTenant: the routes check the tenant first
        sid = new_id if new_id and SESSION_ID.match(new_id) and not self._exists(new_id) else new_session_id()
        contact = self.engine.open_contact(tenant_id, Channel.CHAT, sid)
        greet_chat(self.engine, tenant_id, contact.id)  # crisis mode: its message comes first
        self._remember(self._refs, sid, _Ref(tenant_id, contact.id))
        return SessionInfo(sid, tenant_id, created=True)

    def _exists(self, session_id: str) -> bool:
        try:
            self._locate(session_id)
        except UnknownSession:
            return False
        return True

    def send(self, session_id: str, text: str, client_message_id: str | None = None) -> list[OutMessage]:
        ref = self._locate(session_id)
        # Seen before the turn: a change another writer makes meanwhile makes the next poll re-read.
        version = self.feed.version(ref.contact_id) if self.feed is not None else -1
        try:
            turn = handle_citizen_message(
                self.engine, self.understanding, ref.tenant_id, Channel.CHAT, session_id, text, client_message_id,
                tenant=self.tenants.get(ref.tenant_id),
            )  # fmt: skip
        except ConversationClosed:
            raise UnknownSession(session_id) from None
        for stored, shown in zip(turn.replies, turn.rendered, strict=False):
            articles = self.understanding.articles_for(ref.tenant_id)
            article = articles.get(turn.decision.article.id) if turn.decision.article else None
            kw = _structure(shown, article, turn.decision.action)
            body = kw.pop("text")
            self._remember(self._structured, stored.id, OutMessage(
                stored.id * SLOTS, MessageKind.BOT, body, stored.created_at, action=turn.decision.action.value, **kw,
            ))  # fmt: skip
        if not turn.duplicate:
            self._changed(session_id)
            notify(self.engine.db, ref.contact_id)
        if turn.log is not None:  # the turn read the contact as it left it: no second read
            rendered = self._render_log(turn.log, turn.queue)
            self._remember(self._rendered, session_id, _Rendered(version, self._monotonic(), rendered))
        else:
            rendered = self._render(session_id, ref)
        first = turn.inbound.id * SLOTS
        out: list[OutMessage] = []
        for m in rendered:
            if m.id < first:
                continue
            if out and m.kind is MessageKind.USER:
                break  # the turn ends where the citizen's next message starts
            out.append(m)
        return out

    def poll(self, session_id: str, after: int = 0) -> list[OutMessage]:
        ref = self._locate(session_id)
        return [m for m in self._render(session_id, ref) if m.id > after]

    def history(self, session_id: str) -> list[OutMessage]:
        return self.poll(session_id, 0)

    def end(self, session_id: str) -> list[OutMessage]:
        ref = self._locate(session_id)
        contact = self.engine.contact(ref.tenant_id, ref.contact_id)
        if contact.state in (ContactState.BOT, ContactState.QUEUED, ContactState.OFFERED):
            self.engine.mark_abandoned(ref.tenant_id, ref.contact_id)
        elif contact.state not in FINAL_STATES:
            record_chat_ended(self.engine.db, ref.tenant_id, ref.contact_id, self.engine.clock())
        notify(self.engine.db, ref.contact_id)
        self._changed(session_id)
        return []

    def request_contact(self, session_id: str, request: ContactRequest) -> list[OutMessage]:
        ref = self._locate(session_id)
        contact = self.engine.contact(ref.tenant_id, ref.contact_id)
        if contact.state not in (ContactState.BOT, ContactState.HANDOFF_REQUESTED, ContactState.QUEUED):
            raise ChatNotNow(TEXTS_DA["not_now"])
        before = max((m.id for m in self._render(session_id, ref)), default=0)
        phone = request.phone or contact.citizen_phone or ""
        try:
            if request.kind is ContactKind.CALLBACK:
                self.engine.request_callback(ref.tenant_id, ref.contact_id, phone,
                                             request.text or TEXTS_DA["callback_note"])  # fmt: skip
            else:
                self.engine.leave_message(ref.tenant_id, ref.contact_id, phone, request.text or "")
        except InvalidTaskInput:
            raise ChatMissingValue(TEXTS_DA["message_needs_phone"]) from None
        self._changed(session_id)
        notify(self.engine.db, ref.contact_id)
        return [m for m in self._render(session_id, ref) if m.id > before]

    def record_feedback(self, session_id: str, feedback: Feedback) -> None:
        ref = self._locate(session_id)
        contact = self.engine.contact(ref.tenant_id, ref.contact_id)
        transcript = self.engine.transcript(ref.tenant_id, ref.contact_id)
        level = "agent" if any(m.author is Author.AGENT for m in transcript) else "bot"
        data = {"channel": self.channel.value, "level": level, "topic": contact.topic,
                "scores": dict(feedback.scores), "comment": feedback.comment}  # fmt: skip
        try:
            record_feedback_event(self.engine.db, ref.tenant_id, ref.contact_id, self.engine.clock(), data)
        except FeedbackAlreadyRecorded:
            raise FeedbackAlreadyRecorded(session_id) from None

    # -- rendering -------------------------------------------------------------------------------
    def version(self, session_id: str) -> int:
        """The change-feed version of the session's contact (0 without a feed)."""
        return self.feed.version(self._locate(session_id).contact_id) if self.feed is not None else 0

    def _render(self, session_id: str, ref: _Ref) -> list[OutMessage]:
        version = self.feed.version(ref.contact_id) if self.feed is not None else -1
        now = self._monotonic()
        with self._lock:
            cached = self._rendered.get(session_id)
        if (cached is not None and self.feed is not None and cached.version == version
                and now - cached.at < self.refresh_seconds):  # fmt: skip
            return cached.messages
        messages = self._render_from_db(ref)
        self._remember(self._rendered, session_id, _Rendered(version, now, messages))
        return messages

    def _render_from_db(self, ref: _Ref) -> list[OutMessage]:
        return self._render_log(self.engine.contact_log(ref.tenant_id, ref.contact_id))  # one read for the whole picture

    def _render_log(self, log: ContactLog, queue: QueueStatus | None = None) -> list[OutMessage]:
        """The widget's picture of a contact; `queue` is its status when the caller already has it."""
        contact, transcript, events = log.contact, log.messages, log.events
        position = _Position(self.engine, contact, queue)
        decisions = {e.data.get("message_id"): e.data.get("decision") for e in events
                     if e.kind is EventKind.BOT_REPLIED}  # fmt: skip
        notices: dict[int, list[OutMessage]] = {}
        last = 0
        for e in events:
            if "message_id" in e.data and e.kind in (EventKind.MESSAGE_RECEIVED, EventKind.BOT_REPLIED,
                                                      EventKind.AGENT_REPLIED):  # fmt: skip
                last = max(last, int(e.data["message_id"]))
                continue
            slot = notices.setdefault(last, [])
            if len(slot) >= SLOTS - 1:
                continue
            notice = self._notice(e, contact, last * SLOTS + len(slot) + 1, position)
            if notice is not None:
                slot.append(notice)
        out = list(notices.get(0, []))
        for m in transcript:
            shown = self._message(m, decisions.get(m.id), contact)
            if shown is not None:
                out.append(shown)
            out.extend(notices.get(m.id, []))
        return out

    def _message(self, m: MessageView, decision: object, contact: ContactView) -> OutMessage | None:
        mid = m.id * SLOTS
        if m.author is Author.CITIZEN:
            return OutMessage(mid, MessageKind.USER, self._shown(m.text), m.created_at,
                              client_message_id=m.client_message_id)  # fmt: skip
        if m.author is Author.AGENT:
            return OutMessage(mid, MessageKind.AGENT, m.text, m.created_at, author=self._agent_name(contact, m))
        if m.author is Author.BOT:
            with self._lock:
                cached = self._structured.get(m.id)
            return cached or self._bot_message(m, decision, contact.tenant_id)
        return OutMessage(mid, MessageKind.SYSTEM, m.text, m.created_at)

    def _shown(self, text: str) -> str:
        payload = text.strip()
        if payload == HUMAN_PAYLOAD:
            return texts()["da"]["human_button"]
        topic = self.understanding.contract.by_id.get(payload[1:]) if payload.startswith("/") else None
        return topic.title if topic is not None else text

    def _bot_message(self, m: MessageView, data: object, tenant_id: str) -> OutMessage:
        """A bot message another worker (or an earlier process) stored: structure from its decision."""
        decision = decision_from_event(data, self.understanding)
        if decision is None:
            return OutMessage(m.id * SLOTS, MessageKind.BOT, m.text, m.created_at)
        articles = self.understanding.articles_for(tenant_id)
        rendered = render(decision, self.understanding.contract, articles)
        match = next((r for r in rendered if r.text == m.text), None)
        if match is None:
            return OutMessage(m.id * SLOTS, MessageKind.BOT, m.text, m.created_at, action=decision.action.value)
        article = articles.get(decision.article.id) if decision.article else None
        kw = _structure(match, article, decision.action)
        body = kw.pop("text")
        return OutMessage(m.id * SLOTS, MessageKind.BOT, body, m.created_at, action=decision.action.value, **kw)

    def _agent_name(self, contact: ContactView, m: MessageView) -> str | None:
        if m.agent_id is None:
            return None
        key = (contact.tenant_id, m.agent_id)
        name = self._agent_names.get(key)
        if name is None:
            with self.engine.db.read() as s:
                name = repo.get_agent(s, tenant_id=contact.tenant_id, agent_id=m.agent_id).name.split()[0]
            self._agent_names[key] = name
        return name

    def _notice(self, e: EventView, contact: ContactView, oid: int, position: _Position) -> OutMessage | None:
        if e.kind is EventKind.HANDOFF_REQUESTED:
            if e.data.get("reason") == "out_of_hours":
                return OutMessage(oid, MessageKind.CLOSED, "", e.at, opens_at_text=self._opens(contact, e))
            at = position.get()
            return OutMessage(oid, MessageKind.SYSTEM, "" if at else TEXTS_DA["queued"], e.at,
                              queue_position=at)  # fmt: skip
        if e.kind in (EventKind.MESSAGE_LEFT, EventKind.CALLBACK_REQUESTED) and e.data.get("task_id"):
            with self.engine.db.read() as s:
                task = repo.get_task(s, tenant_id=contact.tenant_id, task_id=int(e.data["task_id"]))
                return OutMessage(oid, MessageKind.SYSTEM, task.expectation, e.at)
        if e.kind is EventKind.TRANSFERRED:
            return OutMessage(oid, MessageKind.SYSTEM, TEXTS_DA["transferred"], e.at)
        if e.kind is EventKind.CLOSED and e.agent_id and contact.channel is Channel.CHAT:
            return OutMessage(oid, MessageKind.SYSTEM, TEXTS_DA["agent_closed"], e.at)
        return None

    def _opens(self, contact: ContactView, e: EventView) -> str | None:
        try:  # the tenant's hours for the queue (knowledge/tenants.yaml), the one source of opening hours
            schedule = self.tenants.get(contact.tenant_id).opening_hours(e.data.get("queue_id"))
            return calendar.format_deadline_da(calendar.next_open(e.at, schedule), schedule.tz)
        except KontaktError:  # NeverOpen, or a tenant no longer served: the notice says only that it is closed
            return None


class _Position:
    """A queued contact's place in its queue, asked for at most once per rendering (every
    handoff notice shows the live position): from the turn's own status when it has one."""

    def __init__(self, engine: ConversationEngine, contact: ContactView, queue: QueueStatus | None) -> None:
        self._engine, self._contact = engine, contact
        self._known = queue is not None and queue.contact_id == contact.id
        self._value = queue.position if queue is not None and self._known else None

    def get(self) -> int | None:
        if self._contact.state is not ContactState.QUEUED:
            return None
        if not self._known:
            self._value = self._engine.queue_status(self._contact.tenant_id, self._contact.id).position
            self._known = True
        return self._value


@asynccontextmanager
async def chat_services(app: FastAPI, *, feed: bool = True, refresh_seconds: float = 5.0) -> AsyncIterator[None]:
    """The web chat's part of the app's start-up (after the core has loaded): the backend on the
    engine, the change feed that tells this worker what other workers wrote, and the watcher that
    tells the other workers what agents did here. `feed=False` re-reads the database every time."""
    state = app.state
    db: Database = state.db
    change_feed = make_feed(db) if feed else None
    if change_feed is not None:
        change_feed.start()
    state.chat_backend = EngineChatBackend(state.engine, state.understanding, state.tenants, feed=change_feed,
                                           refresh_seconds=refresh_seconds)  # fmt: skip
    channels: Channels = state.channels
    channels.watchers.append(lambda tenant_id, contact_id: notify(db, contact_id))
    try:
        yield
    finally:
        if change_feed is not None:
            change_feed.stop()
