"""The web chat's WebSocket, `/chat/ws?tenant=…&session=…&after=N`.

After the handshake the server sends `{"type": "session", "session": id, "created": bool}`:
the session named by `session` when it is still open (then every message after id `after` is
pushed at once), else a fresh id issued by this server. A fresh id opens no conversation: the
contact is created with that id by the first valid message, so a socket that never writes
leaves nothing in the database.

Client frames are JSON objects: `{"type": "message", "text", "client_message_id"}` or
`{"type": "ping"}`. Every frame that cannot be used (binary, not JSON, nested too deep, too
large, an unknown type, a bad text, over a limit) is answered with
`{"type": "error", "code", "message", "client_message_id"?}`, the message in Danish
(errors_da.yml), and the socket stays open. A bad `tenant` or `after` gets one error frame and
a close with 1008 (policy violation), as does a socket over the limits of its address.

Limits (bot/api/ratelimit.py, the app's `RateLimits`): the handshake spends from the address
bucket; each address may hold `ws_per_address` open sockets; every frame spends from the
socket's own frame bucket; every message spends from its conversation's bucket by its length
(shared with `POST /chat/api/messages` for the same session); a first message spends from the
address's new-conversation bucket. All per worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from bot.api import no_surrogates
from bot.api.deps import RateLimitsDep, SettingsDep, TenantsDep
from bot.api.ratelimit import RateLimits, TokenBucket, retry_seconds
from bot.errors import KontaktError
from connectors.webchat.errors import ChatInputError, error_text
from connectors.webchat.routes import (
    BackendDep,
    _check_client_id,
    _check_text,
    _session_or_none,
    _tenant,
    frames_json,
)
from connectors.webchat.session import (
    CLIENT_MESSAGE_ID,
    ChatBackend,
    SessionInfo,
    UnknownSession,
    new_session_id,
)
from connectors.webchat.tenant_config import check_origin

log = logging.getLogger("kontakt.webchat")

WS_POLL_SECONDS = 1.0  # how often a WebSocket looks for agent/system messages from the backend
POLICY_VIOLATION = 1008
# A frame carries at most one text of max_text_chars; JSON escapes can make it six times longer.
MAX_FRAME_CHARS = 64 * 1024
_AFTER = re.compile(r"^[0-9]{1,18}$")  # ASCII digits only: "²".isdigit() is True, int("²") fails


class FrameError(Exception):
    """A frame this socket answers with an error frame (and then carries on)."""

    def __init__(self, code: str, client_message_id: str | None = None, **values: object) -> None:
        super().__init__(code)
        self.code, self.client_message_id, self.values = code, client_message_id, values

    @classmethod
    def of(cls, e: ChatInputError, client_message_id: str | None = None) -> FrameError:
        return cls(e.code, client_message_id, **e.values)

    def frame(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code, "message": error_text(self.code, **self.values)}
        if self.client_message_id is not None:
            out["client_message_id"] = self.client_message_id
        if "seconds" in self.values:  # when to try again, for a client that wants to wait
            out["retry_after"] = self.values["seconds"]
        return out


def _after(value: str | None) -> int:
    if not value:
        return 0
    if not _AFTER.match(value):
        raise ChatInputError("invalid_after")
    return int(value)


async def send_frame(ws: WebSocket, frame: dict[str, Any]) -> None:
    """Send one frame. The server (uvicorn) may already have closed the socket on its own, e.g. on
    a text frame that is not UTF-8 (1007); a send after that is the citizen having gone, not a fault."""
    try:
        await ws.send_json(frame)
    except (RuntimeError, OSError) as exc:
        raise WebSocketDisconnect(code=1006) from exc


async def _refuse(ws: WebSocket, code: str, **values: object) -> None:
    await send_frame(ws, FrameError(code, **values).frame())
    with contextlib.suppress(RuntimeError, OSError):
        await ws.close(code=POLICY_VIOLATION)


async def chat_ws(
    ws: WebSocket, backend: BackendDep, limits: RateLimitsDep, settings: SettingsDep, tenants: TenantsDep
) -> None:
    ip = limits.client_ip(ws.scope)
    await ws.accept()
    counted = False
    try:
        wait = limits.take_address(ip)
        if wait:
            await _refuse(ws, "rate_limited", seconds=retry_seconds(wait))
            return
        if not limits.open_socket(ip):
            await _refuse(ws, "too_many_sockets")
            return
        counted = True
        try:
            tenant = _tenant(ws.query_params.get("tenant"), tenants)
            check_origin(ws, tenant, tenants)  # the handshake's Origin: only the municipality's sites
            after = _after(ws.query_params.get("after"))
        except ChatInputError as e:
            await _refuse(ws, e.code, **e.values)
            return
        socket = ChatSocket(ws, backend, limits, settings.max_text_chars, ip, tenant)
        await socket.run(_session_or_none(ws.query_params.get("session")), after)
    except WebSocketDisconnect:
        pass
    finally:
        if counted:
            limits.close_socket(ip)


@dataclass
class ChatSocket:
    """One open socket: its session (or the id it will create on the first message)."""

    ws: WebSocket
    backend: ChatBackend
    limits: RateLimits
    limit: int  # the longest text a message may carry (settings.max_text_chars)
    ip: str
    tenant: str | None
    info: SessionInfo | None = None
    pending_id: str = ""
    sent_up_to: int = 0

    def __post_init__(self) -> None:
        self.send_lock = asyncio.Lock()
        self.frames: TokenBucket | None = self.limits.frame_bucket()

    @property
    def session_id(self) -> str:
        return self.info.id if self.info is not None else self.pending_id

    async def run(self, session: str | None, after: int) -> None:
        self.info = await run_in_threadpool(self.backend.resume, session) if session else None
        if self.info is not None:
            self.sent_up_to = after  # the last message id the client has shown
            await send_frame(self.ws, {"type": "session", "session": self.info.id, "created": False})
            await self.flush()
        else:
            await self._issue_id()
        task = asyncio.create_task(self._poller())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self._frame(message)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _issue_id(self) -> None:
        self.info, self.pending_id, self.sent_up_to = None, new_session_id(), 0
        await send_frame(self.ws, {"type": "session", "session": self.pending_id, "created": True})

    async def flush(self) -> None:
        # Everything the backend has after what this socket already delivered, in order.
        if self.info is None:
            return
        async with self.send_lock:
            new = await run_in_threadpool(self.backend.poll, self.info.id, self.sent_up_to)
            for frame in frames_json(new):
                await send_frame(self.ws, frame)
            if new:
                self.sent_up_to = new[-1].id

    async def _poller(self) -> None:
        while True:
            await asyncio.sleep(WS_POLL_SECONDS)
            try:
                await self.flush()
            except (UnknownSession, KontaktError) as exc:  # closed meanwhile, or the database is away
                log.debug("chat socket poll skipped: %s", type(exc).__name__)

    async def _frame(self, message: dict[str, Any]) -> None:
        """Handle one frame; anything wrong with it becomes an error frame, never an exception."""
        try:
            await self._handle(message)
        except FrameError as e:
            await send_frame(self.ws, e.frame())
        except WebSocketDisconnect:
            raise
        except (UnknownSession, KontaktError) as exc:
            log.warning("chat message not handled: %s", type(exc).__name__)
            await send_frame(self.ws, FrameError("unavailable").frame())
        except Exception:  # a fault of ours must not end the citizen's socket
            log.exception("chat frame failed")
            await send_frame(self.ws, FrameError("unavailable").frame())

    async def _handle(self, message: dict[str, Any]) -> None:
        wait = self.limits.take_frame(self.frames)
        if wait:
            raise FrameError("rate_limited", seconds=retry_seconds(wait))
        raw = message.get("text")
        if raw is None:
            raise FrameError("binary_frame")
        if len(raw) > MAX_FRAME_CHARS:
            raise FrameError("frame_too_large")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise FrameError("invalid_json") from None
        if not isinstance(data, dict):
            raise FrameError("invalid_json")
        kind = data.get("type")
        if kind == "ping":
            await send_frame(self.ws, {"type": "pong"})
            return
        if kind != "message":
            raise FrameError("unknown_type")
        await self._message(data)

    async def _message(self, data: dict[str, Any]) -> None:
        text, cmid = data.get("text"), data.get("client_message_id")
        # Echo the client's id only when it is a valid one (it may be anything, even unsendable).
        echo = cmid if isinstance(cmid, str) and CLIENT_MESSAGE_ID.match(cmid) else None
        if not isinstance(text, str) or not (cmid is None or isinstance(cmid, str)):
            raise FrameError("invalid_message", echo)
        try:
            no_surrogates(text)
        except ValueError:
            raise FrameError("invalid_text", echo) from None
        try:
            _check_text(text, self.limit)
            _check_client_id(cmid)
        except ChatInputError as e:
            raise FrameError.of(e, echo) from None
        wait = self.limits.take_conversation(("session", self.session_id), self.limits.text_cost(len(text)))
        if wait:
            raise FrameError("rate_limited", echo, seconds=retry_seconds(wait))
        if self.info is None:
            await self._open(echo)
        assert self.info is not None
        try:
            await run_in_threadpool(self.backend.send, self.info.id, text, cmid)
        except UnknownSession:  # the conversation was closed meanwhile: the next message starts anew
            await self._issue_id()
            raise FrameError("unknown_session", echo) from None
        await self.flush()

    async def _open(self, echo: str | None) -> None:
        """The first message: now the conversation (a contact) is opened, with the issued id."""
        wait = self.limits.take_new_conversation(self.ip)
        if wait:
            raise FrameError("rate_limited", echo, seconds=retry_seconds(wait))
        info = await run_in_threadpool(self.backend.open, None, self.tenant, new_id=self.pending_id)
        self.info, self.sent_up_to = info, 0
        if info.id != self.pending_id:  # the issued id could not be used: tell the client the real one
            await send_frame(self.ws, {"type": "session", "session": info.id, "created": True})
