"""The chat-session adapter: what the web chat needs from a conversation backend, and the
bot-only backend used until the conversation engine (bot/engine) takes over.

A web chat session has an unguessable id (kept in the citizen's localStorage), a tenant, and an
append-only history of `OutMessage`s with increasing integer ids per session, so a client can
poll "everything after id N" and re-render the whole conversation after a reload. Every piece
of conversation state lives behind `ChatBackend`; the routes hold none.

The engine plugs in by implementing `ChatBackend` and setting `app.state.chat_backend`; it can
then append `SYSTEM` (queue position), `AGENT` (a caseworker's reply, with first name) and
`CLOSED` (out of hours, with `opens_at_text`) messages, which the widget already renders.
"""

from __future__ import annotations

import enum
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from bot.dialogue import ConversationMemory, respond
from bot.responses import BotMessage, article_text, texts
from bot.retrieval.articles import Article
from bot.types import Action
from bot.understanding import Understanding

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_PAYLOAD = re.compile(r"^/[a-z][a-z0-9_]*$")
_STEP = re.compile(r"^\d+\.\s+(.*)$")
HUMAN_PAYLOAD = "/dialog_menneske"

FEEDBACK_QUESTIONS = ("tilfredshed", "afklaring", "sprog")  # wording: static/kontakt-widget.js
FEEDBACK_SCALE = (1, 10)

# Citizen-facing wording the adapter itself writes (the bot's wording is in bot/resources).
TEXTS_DA = {
    "callback_received": "Tak. Vi har modtaget dit ønske om at blive ringet op på {phone}. "
    "En medarbejder ringer dig op, når vi har åbent igen.",
    "message_received": "Tak for din besked. En medarbejder vender tilbage, når vi har åbent igen.",
}
_MONTHS_DA = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
              "oktober", "november", "december")


def danish_date(d: date) -> str:
    """2026-11-23 -> '23. november 2026'."""
    return f"{d.day}. {_MONTHS_DA[d.month - 1]} {d.year}"


class MessageKind(enum.StrEnum):
    USER = "user"  # what the citizen wrote (or the title of the button they chose)
    BOT = "bot"
    SYSTEM = "system"  # queue position, confirmations
    AGENT = "agent"  # a caseworker's reply (engine)
    CLOSED = "closed"  # out of hours: the queue is closed (engine)


class ContactKind(enum.StrEnum):
    MESSAGE = "message"  # "Læg en besked"
    CALLBACK = "callback"  # "Bliv ringet op"


@dataclass(frozen=True, slots=True)
class ButtonOut:
    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    title: str
    source: str
    source_url: str | None
    reviewed: str  # ISO date
    cite: str  # "Kilde: …, senest gennemgået …" (wording from bot/resources)


@dataclass(frozen=True, slots=True)
class SelfServiceInfo:
    name: str
    steps: tuple[str, ...]
    url: str | None


@dataclass(frozen=True, slots=True)
class OutMessage:
    id: int  # increasing within a session; poll with `after`
    kind: MessageKind
    text: str
    created_at: datetime
    buttons: tuple[ButtonOut, ...] = ()
    article: ArticleInfo | None = None
    selfservice: SelfServiceInfo | None = None
    client_message_id: str | None = None  # on USER messages: the id the client chose
    author: str | None = None  # on AGENT messages: the agent's first name
    queue_position: int | None = None  # on SYSTEM messages about the queue
    opens_at_text: str | None = None  # on CLOSED messages: "i morgen kl. 8.00"
    action: str | None = None  # on BOT messages: the triage action (answer, handoff, …)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Answers to the after-chat survey (seed 003 §3.4: 3–4 questions, 1–10, at most a minute)."""

    scores: dict[str, int]  # question id (FEEDBACK_QUESTIONS) -> 1..10
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    session_id: str
    tenant: str | None
    channel: str
    level: str  # "bot" or "agent": who handled the conversation (1st / 2nd level split)
    topic: str | None
    feedback: Feedback
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ContactRequest:
    kind: ContactKind
    phone: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    tenant: str | None
    created: bool  # False when an existing session was resumed
    ended: bool = False


class ChatError(Exception):
    """Base of the web chat's expected failures; routes translate them to 4xx."""


class UnknownSession(ChatError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"No chat session {session_id[:12]}…; start a new conversation.")


class FeedbackAlreadyRecorded(ChatError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"Feedback for session {session_id[:12]}… was already recorded.")


class ChatBackend(Protocol):
    """What the web chat needs from a conversation backend. Implementations must be thread-safe
    (HTTP handlers run in a thread pool) and keep all conversation state."""

    def resume(self, session_id: str) -> SessionInfo | None:
        """The session `session_id` if it exists and has not ended, else None. Creates nothing."""

    def open(self, session_id: str | None, tenant: str | None, *, new_id: str | None = None) -> SessionInfo:
        """Resume `session_id` if it exists and has not ended, else start a new session: with the
        id `new_id` when given (an id this server issued and nobody has used yet), else a fresh one."""

    def send(self, session_id: str, text: str, client_message_id: str | None = None) -> list[OutMessage]:
        """Handle a citizen message; return the stored user message and every reply produced.
        Repeating a `client_message_id` returns the earlier result instead of a second turn."""

    def poll(self, session_id: str, after: int = 0) -> list[OutMessage]:
        """Messages with id > after, oldest first."""

    def history(self, session_id: str) -> list[OutMessage]:
        """The whole conversation, oldest first."""

    def end(self, session_id: str) -> list[OutMessage]:
        """The citizen ended the conversation ("Afslut samtale")."""

    def request_contact(self, session_id: str, request: ContactRequest) -> list[OutMessage]:
        """Out of hours: leave a message or ask to be called back."""

    def record_feedback(self, session_id: str, feedback: Feedback) -> None:
        """Store the after-chat survey answers (once per session)."""


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


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


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
            article = self.understanding.articles.get(ref.id) if ref else None
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
            s.feedback = FeedbackRecord(session_id, s.tenant, self.channel, s.handled_by, s.topic, feedback,
                                        self._now())
            self.feedback.append(s.feedback)


def _structure(m: BotMessage, article: Article | None, action: Action) -> dict:
    """Split a rendered bot message into text plus structured parts the widget shows natively:
    the article citation, and self-service steps as a list with the link."""
    kw: dict = {"text": m.text, "buttons": tuple(ButtonOut(b.title, b.payload) for b in m.buttons)}
    if article is None:
        return kw
    if m.text == article_text(article):
        body = m.text.rsplit("\n\n", 1)[0]  # article_text ends with the citation paragraph
        source = article.sources[0]
        cite = texts()["da"]["cite"].format(source=source.title, reviewed=danish_date(article.reviewed))
        kw["text"] = body
        kw["article"] = ArticleInfo(article.title, source.title, source.url,
                                    article.reviewed.isoformat(), cite)
    elif action == Action.SELFSERVICE and article.selfservice:
        ss = article.selfservice
        link = texts()["da"]["selfservice_link"].format(url=ss.url) if ss.url else None
        kept = [ln for ln in m.text.split("\n") if not _STEP.match(ln) and ln != link]
        kw["text"] = "\n".join(kept)
        kw["selfservice"] = SelfServiceInfo(ss.name, tuple(ss.steps), ss.url)
    return kw


def group_frames(messages: Sequence[OutMessage]) -> list[tuple[MessageKind, list[OutMessage]]]:
    """Consecutive messages of one kind travel in one WebSocket frame."""
    frames: list[tuple[MessageKind, list[OutMessage]]] = []
    for m in messages:
        if frames and frames[-1][0] == m.kind:
            frames[-1][1].append(m)
        else:
            frames.append((m.kind, [m]))
    return frames
