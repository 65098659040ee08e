"""The chat-session adapter: what the web chat needs from a conversation backend (`ChatBackend`),
the messages it shows, and the helpers that structure a bot reply for the widget.

A web chat session has an unguessable id (kept in the citizen's localStorage), a tenant, and an
append-only history of `OutMessage`s with increasing integer ids per session, so a client can
poll "everything after id N" and re-render the whole conversation after a reload. Every piece
of conversation state lives behind `ChatBackend`; the routes hold none.

The product's `ChatBackend` is `EngineChatBackend` (engine_backend.py), built at start-up; it
appends `SYSTEM` (queue position), `AGENT` (a caseworker's reply, with first name) and `CLOSED`
(out of hours, with `opens_at_text`) messages, which the widget renders.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.errors import ChatError, FeedbackAlreadyRecorded, UnknownSession
from bot.responses import BotMessage, article_text, texts
from bot.retrieval.articles import Article
from bot.types import Action

__all__ = ["ChatError", "FeedbackAlreadyRecorded", "UnknownSession"]  # defined in bot/errors.py, named here too

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_STEP = re.compile(r"^\d+\.\s+(.*)$")
HUMAN_PAYLOAD = "/dialog_menneske"

FEEDBACK_QUESTIONS = ("tilfredshed", "afklaring", "sprog")  # wording: static/kontakt-widget.js
FEEDBACK_SCALE = (1, 10)

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


def new_session_id() -> str:
    return secrets.token_urlsafe(24)


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
