"""Fixtures for the web chat: the real app (real Danish model) with the web chat router, and a
scripted `ChatBackend` fake that plays the engine's part (queue, agent, out of hours)."""

from __future__ import annotations

import threading
import warnings
from datetime import UTC, datetime

import pytest

with warnings.catch_warnings():
    # Starlette 1.10 warns once, at import, that TestClient should run on `httpx2` instead of
    # `httpx` (stack-check.md). Swapping the HTTP client is a project-wide dependency decision.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from bot.api import create_app
from connectors.webchat import router
from connectors.webchat.session import (
    ContactRequest,
    Feedback,
    MessageKind,
    OutMessage,
    SessionInfo,
    UnknownSession,
    new_session_id,
)
from tests.connectors.webchat.bot_only import bot_only_chat


@pytest.fixture(scope="session")
def chat_app(settings, understanding):
    return create_app(settings, routers=[router], understanding=understanding, background=[bot_only_chat])


@pytest.fixture(scope="session")
def client(chat_app):
    with TestClient(chat_app) as c:
        yield c


class ScriptedBackend:
    """Engine stand-in: every citizen message puts them in a queue; "/dialog_menneske" gets an
    agent reply; a message containing "lukket" gets the out-of-hours answer."""

    def __init__(self) -> None:
        self.sessions: dict[str, list[OutMessage]] = {}
        self.ended: set[str] = set()
        self.feedback: dict[str, Feedback] = {}
        self.requests: list[tuple[str, ContactRequest]] = []
        self.lock = threading.Lock()

    def _add(self, sid: str, kind: MessageKind, text: str, **kw) -> OutMessage:
        msgs = self.sessions[sid]
        m = OutMessage(len(msgs) + 1, kind, text, datetime.now(UTC), **kw)
        msgs.append(m)
        return m

    def _msgs(self, sid: str) -> list[OutMessage]:
        if sid not in self.sessions:
            raise UnknownSession(sid)
        return self.sessions[sid]

    def resume(self, session_id):
        with self.lock:
            if session_id in self.sessions and session_id not in self.ended:
                return SessionInfo(session_id, None, created=False)
            return None

    def open(self, session_id, tenant, *, new_id=None):
        with self.lock:
            if session_id in self.sessions and session_id not in self.ended:
                return SessionInfo(session_id, tenant, created=False)
            sid = new_id if new_id and new_id not in self.sessions else new_session_id()
            self.sessions[sid] = []
            return SessionInfo(sid, tenant, created=True)

    def send(self, session_id, text, client_message_id=None):
        with self.lock:
            self._msgs(session_id)
            shown = "Tal med en medarbejder" if text == "/dialog_menneske" else text
            out = [self._add(session_id, MessageKind.USER, shown, client_message_id=client_message_id)]
            if "lukket" in text:
                out.append(self._add(session_id, MessageKind.CLOSED, "", opens_at_text="mandag kl. 8.00"))
            elif text == "/dialog_menneske":
                queue = "Du er nummer 2 i køen."
                out.append(self._add(session_id, MessageKind.SYSTEM, queue, queue_position=2))
                hello = "Hej, jeg hedder Anne. Hvad kan jeg hjælpe med?"
                out.append(self._add(session_id, MessageKind.AGENT, hello,
                                     author="Anne"))
            else:
                out.append(self._add(session_id, MessageKind.SYSTEM, "", queue_position=3))
            return out

    def poll(self, session_id, after=0):
        with self.lock:
            return self._msgs(session_id)[after:]

    def history(self, session_id):
        return self.poll(session_id, 0)

    def end(self, session_id):
        with self.lock:
            self._msgs(session_id)
            self.ended.add(session_id)
            return []

    def request_contact(self, session_id, request):
        with self.lock:
            self._msgs(session_id)
            self.requests.append((session_id, request))
            return [self._add(session_id, MessageKind.SYSTEM, "Tak, vi ringer dig op.")]

    def record_feedback(self, session_id, feedback):
        with self.lock:
            self._msgs(session_id)
            self.feedback[session_id] = feedback


@pytest.fixture
def scripted_backend() -> ScriptedBackend:
    return ScriptedBackend()
