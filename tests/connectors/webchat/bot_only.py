"""A chat backend without the engine, for tests: `BotOnlyBackend` answers with the bot
(`bot.dialogue.respond`), keeps sessions in memory and persists nothing, so routes and the widget
can be tested without a database. The product runs the web chat on `EngineChatBackend`.

    create_app(settings, routers=[router], background=[bot_only_chat])
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.dialogue import Turn, decide
from bot.responses import texts
from bot.types import Action, TriageDecision
from bot.understanding import Understanding
from connectors.webchat.session import (
    HUMAN_PAYLOAD,
    SESSION_ID,
    ChatBackend,
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

_PAYLOAD = re.compile(r"^/[a-z][a-z0-9_]*$")

# Citizen-facing wording the adapter itself writes (the bot's wording is in bot/resources).
TEXTS_DA = {
    "callback_received": "Tak. Vi har modtaget dit ønske om at blive ringet op på {phone}. "
    "En medarbejder ringer dig op, når vi har åbent igen.",
    "message_received": "Tak for din besked. En medarbejder vender tilbage, når vi har åbent igen.",
}


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    session_id: str
    tenant: str | None
    channel: str
    level: str  # "bot" or "agent": who handled the conversation (1st / 2nd level split)
    topic: str | None
    feedback: Feedback
    received_at: datetime


@dataclass
class _Session:
    id: str
    tenant: str | None
    messages: list[OutMessage] = field(default_factory=list)
    by_client_id: dict[str, tuple[int, int]] = field(default_factory=dict)  # cmid -> (first, last) ids
    offered: dict[str, str] = field(default_factory=dict)  # button payload -> title
    topic: str | None = None
    handled_by: str = "bot"
    ended: bool = False
    feedback: FeedbackRecord | None = None
    contact_requests: list[ContactRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, kind: MessageKind, text: str, now: datetime, **kw) -> OutMessage:
        msg = OutMessage(id=len(self.messages) + 1, kind=kind, text=text, created_at=now, **kw)
        self.messages.append(msg)
        return msg


# A per-process memory of each sender's recent messages: for tests only (the product keeps
# conversation state in the engine).
@dataclass
class ConversationState:
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    topic: str | None = None
    flagged: TriageDecision | None = None  # a safety decision sticks for the conversation


class ConversationMemory:
    def __init__(self, max_conversations: int = 10_000) -> None:
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        self._max = max_conversations
        self._lock = threading.Lock()

    def get(self, sender: str) -> ConversationState:
        with self._lock:
            state = self._states.pop(sender, None) or ConversationState()
            self._states[sender] = state
            while len(self._states) > self._max:
                self._states.popitem(last=False)
            return state


def respond(understanding: Understanding, memory: ConversationMemory, sender: str, message: str,
            tenant: str | None = None) -> Turn:
    state = memory.get(sender)
    turn = decide(understanding, message, tuple(state.messages), state.topic, state.flagged, tenant)
    if turn.parsed is not None:
        state.messages.append(message)
    decision = turn.decision
    if decision.action in (Action.EMERGENCY,) or decision.sensitive:
        state.flagged = decision
    if decision.topic and understanding.contract.by_id[decision.topic].domain != "dialog":
        state.topic = decision.topic
    return turn


class BotOnlyBackend:
    """`ChatBackend` over `bot.dialogue.respond`: the bot answers, nothing is persisted, and a
    handoff is only announced (the engine delivers it). Sessions live in memory, bounded (LRU)."""

    channel = "webchat"

    def __init__(
        self,
        understanding: Understanding,
        memory: ConversationMemory | None = None,
        *,
        max_sessions: int = 10_000,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.understanding = understanding
        self.memory = memory or ConversationMemory()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._max = max_sessions
        self._now = now
        self._lock = threading.Lock()
        self.feedback: list[FeedbackRecord] = []  # in memory until bot/storage lands

    # -- sessions ---------------------------------------------------------------------------
    def _get(self, session_id: str) -> _Session:
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                raise UnknownSession(session_id)
            self._sessions.move_to_end(session_id)
            return s

    def resume(self, session_id: str) -> SessionInfo | None:
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None or s.ended:
                return None
            self._sessions.move_to_end(s.id)
            return SessionInfo(s.id, s.tenant, created=False)

    def open(self, session_id: str | None, tenant: str | None, *, new_id: str | None = None) -> SessionInfo:
        with self._lock:
            s = self._sessions.get(session_id) if session_id else None
            if s is not None and not s.ended:
                self._sessions.move_to_end(s.id)
                return SessionInfo(s.id, s.tenant, created=False)
            fresh = new_id is not None and SESSION_ID.match(new_id) and new_id not in self._sessions
            s = _Session(id=new_id if fresh else new_session_id(), tenant=tenant)
            s.offered[HUMAN_PAYLOAD] = texts()["da"]["human_button"]
            self._sessions[s.id] = s
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
            return SessionInfo(s.id, s.tenant, created=True)

    def send(self, session_id: str, text: str, client_message_id: str | None = None) -> list[OutMessage]:
        s = self._get(session_id)
        with s.lock:
            if client_message_id and client_message_id in s.by_client_id:
                first, last = s.by_client_id[client_message_id]
                return s.messages[first - 1 : last]
            now = self._now()
            shown = s.offered.get(text.strip(), text) if _PAYLOAD.match(text.strip()) else text
            user = s.append(MessageKind.USER, shown, now, client_message_id=client_message_id)
            turn = respond(self.understanding, self.memory, f"webchat:{s.id}", text, s.tenant)
            if turn.decision.topic:
                s.topic = turn.decision.topic
            ref = turn.decision.article
            article = self.understanding.articles_for(s.tenant).get(ref.id) if ref else None
            out = [user]
            for m in turn.messages:
                kw = _structure(m, article, turn.decision.action)
                for b in kw.get("buttons", ()):
                    s.offered[b.payload] = b.title
                text = kw.pop("text")
                out.append(s.append(MessageKind.BOT, text, now, action=turn.decision.action.value, **kw))
            if client_message_id:
                s.by_client_id[client_message_id] = (out[0].id, out[-1].id)
            return out

    def poll(self, session_id: str, after: int = 0) -> list[OutMessage]:
        s = self._get(session_id)
        with s.lock:
            return s.messages[max(after, 0) :]

    def history(self, session_id: str) -> list[OutMessage]:
        return self.poll(session_id, 0)

    def end(self, session_id: str) -> list[OutMessage]:
        s = self._get(session_id)
        with s.lock:
            s.ended = True
        return []

    def request_contact(self, session_id: str, request: ContactRequest) -> list[OutMessage]:
        s = self._get(session_id)
        with s.lock:
            s.contact_requests.append(request)
            if request.kind == ContactKind.CALLBACK:
                text = TEXTS_DA["callback_received"].format(phone=request.phone or "")
            else:
                text = TEXTS_DA["message_received"]
            return [s.append(MessageKind.SYSTEM, text, self._now())]

    def record_feedback(self, session_id: str, feedback: Feedback) -> None:
        s = self._get(session_id)
        with s.lock:
            if s.feedback is not None:
                raise FeedbackAlreadyRecorded(session_id)
            s.feedback = FeedbackRecord(
                session_id, s.tenant, self.channel, s.handled_by, s.topic, feedback, self._now()
            )
            self.feedback.append(s.feedback)


@asynccontextmanager
async def bot_only_chat(app: Any) -> AsyncIterator[None]:
    """Start-up part: the web chat on `BotOnlyBackend` over the app's understanding."""
    app.state.chat_backend = BotOnlyBackend(app.state.understanding, ConversationMemory())
    yield


def provide_chat(backend: ChatBackend) -> Callable[[Any], Any]:
    """Start-up part that gives the web chat the given backend (a scripted fake, say)."""

    @asynccontextmanager
    async def part(app: Any) -> AsyncIterator[None]:
        app.state.chat_backend = backend
        yield

    return part
