"""Web chat routes: the widget's static files, the WebSocket transport and the HTTP fallback.

    GET  /chat/widget.js, /chat/widget.css, /chat/demo       static (cached, ETag)
    WS   /chat/ws?session=…&tenant=…&after=N                   see connectors/webchat/socket.py
    POST /chat/api/messages                                    the same over HTTP
    GET  /chat/api/messages?session=…&after=N                  polling
    GET  /chat/api/history?session=…                           re-render after a reload
    POST /chat/api/end, /chat/api/feedback, /chat/api/contact-requests
    GET  /chat/api/config?tenant=…                             the municipality's widget (tenant_config.py)

The routes translate between JSON and `ChatBackend`; they keep no conversation state. The backend
is built once at start-up (`chat_services`, connectors/webchat/engine_backend.py) and reaches the
routes as the named dependency `BackendDep`. Errors are `{error: code, message: Danish text}` (errors_da.yml); an
unknown tenant is a 404 that names no other tenant. A new conversation spends from its address's
new-conversation bucket (bot/api/ratelimit.py), so only a message that needs one opens a contact.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from bot.api import Text
from bot.api.deps import RateLimitsDep, SettingsDep, TenantsDep
from bot.api.ratelimit import RateLimits, retry_seconds
from bot.errors import http_status
from bot.privacy import redact
from bot.tenants import Tenants
from connectors.webchat.errors import ChatInputError, error_text
from connectors.webchat.session import (
    CLIENT_MESSAGE_ID,
    FEEDBACK_SCALE,
    SESSION_ID,
    TENANT_ID,
    ChatBackend,
    ChatError,
    ContactKind,
    ContactRequest,
    Feedback,
    FeedbackAlreadyRecorded,
    MessageKind,
    OutMessage,
    UnknownSession,
    group_frames,
)
from connectors.webchat.tenant_config import check_origin, survey_ids, widget_config

log = logging.getLogger("kontakt.webchat")
router = APIRouter(tags=["webchat"])

STATIC = Path(__file__).parent / "static"
MAX_COMMENT_CHARS = 2000
PHONE = re.compile(r"^(\+45)?\d{8}$")


# -- dependencies --------------------------------------------------------------------------------
async def get_backend(conn: HTTPConnection) -> ChatBackend:
    """The chat backend the app's start-up built (`chat_services` in engine_backend.py)."""
    backend: ChatBackend = conn.app.state.chat_backend
    return backend


BackendDep = Annotated[ChatBackend, Depends(get_backend)]


async def _cors(response: Response) -> None:  # async: no thread-pool hand-off to set a header
    # The widget runs on the municipality's own site and calls this host. Sessions travel in the
    # body or query, never in cookies, so any origin may call without credentials.
    response.headers["Access-Control-Allow-Origin"] = "*"


api = APIRouter(prefix="/chat/api", dependencies=[Depends(_cors)])


# -- boundary models -----------------------------------------------------------------------------
class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session: Text | None = Field(None, max_length=200)
    tenant: Text | None = Field(None, max_length=200)
    text: Text = Field(max_length=200_000)
    client_message_id: Text | None = Field(None, max_length=200)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session: Text = Field(max_length=200)


class FeedbackIn(SessionIn):
    scores: dict[Text, int] = Field(default_factory=dict)
    comment: Text | None = Field(None, max_length=MAX_COMMENT_CHARS)


class ContactIn(SessionIn):
    kind: ContactKind
    phone: Text | None = Field(None, max_length=40)
    text: Text | None = Field(None, max_length=MAX_COMMENT_CHARS)


def _error(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers={"Access-Control-Allow-Origin": "*", **(headers or {})})  # fmt: skip


def _input_error(e: ChatInputError) -> JSONResponse:
    return _error(e.code, str(e), e.status)


def _session_or_none(value: str | None) -> str | None:
    return value if value and SESSION_ID.match(value) else None


def _tenant(value: str | None, tenants: Tenants) -> str | None:
    """The tenant a chat names: None for the default, else a tenant this installation serves.
    A malformed id is a 422, one that is not served a 404; neither answer names other tenants."""
    if value is None or value == "":
        return None
    if not TENANT_ID.match(value):
        raise ChatInputError("invalid_tenant")
    if value not in tenants.by_id:
        raise ChatInputError("unknown_tenant", status=404)
    return value


def _check_text(text: str, limit: int) -> str:
    if not text.strip():
        raise ChatInputError("empty_text")
    if len(text) > limit:
        raise ChatInputError("text_too_long", status=413, limit=limit)
    return text


def _check_client_id(value: str | None) -> str | None:
    if value is not None and not CLIENT_MESSAGE_ID.match(value):
        raise ChatInputError("invalid_client_message_id")
    return value


def _admit_new_conversation(limits: RateLimits, scope: Any) -> None:
    """Spend from the address's new-conversation bucket before a contact is opened."""
    wait = limits.take_new_conversation(limits.client_ip(scope))
    if wait:
        raise ChatInputError("rate_limited", status=429, seconds=retry_seconds(wait))


# -- JSON shapes ---------------------------------------------------------------------------------
def message_json(m: OutMessage) -> dict[str, Any]:
    # The citizen's own words come back masked (CPR, phone, e-mail): a shared screen or a cached
    # response must not show them. Bot texts keep the municipality's own phone numbers.
    text = redact(m.text) if m.kind == MessageKind.USER and m.text else m.text
    out: dict[str, Any] = {"id": m.id, "kind": m.kind.value, "text": text,
                           "created_at": m.created_at.isoformat()}
    if m.buttons:
        out["buttons"] = [{"title": b.title, "payload": b.payload} for b in m.buttons]
    if m.article:
        a = m.article
        out["article"] = {"title": a.title, "source": a.source, "source_url": a.source_url,
                          "reviewed": a.reviewed, "cite": a.cite}
    if m.selfservice:
        s = m.selfservice
        out["selfservice"] = {"name": s.name, "steps": list(s.steps), "url": s.url}
    for key in ("client_message_id", "author", "queue_position", "opens_at_text", "action"):
        value = getattr(m, key)
        if value is not None:
            out[key] = value
    return out


def frames_json(messages: list[OutMessage]) -> list[dict[str, Any]]:
    frames = []
    for kind, group in group_frames(messages):
        frame: dict[str, Any] = {"type": kind.value, "messages": [message_json(m) for m in group]}
        if kind == MessageKind.CLOSED:
            frame["opens_at_text"] = group[-1].opens_at_text
        frames.append(frame)
    return frames


# -- static files --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Asset:
    file: str
    media_type: str
    cache: str


_ASSETS = {
    "widget.js": _Asset("kontakt-widget.js", "text/javascript; charset=utf-8", "public, max-age=300"),
    "widget.css": _Asset("kontakt-widget.css", "text/css; charset=utf-8", "public, max-age=300"),
    "demo": _Asset("demo.html", "text/html; charset=utf-8", "no-cache"),
}
# A strict policy, as a municipality's site might have: the widget must work without inline
# scripts or inline styles. The demo's own <style> block is allowed by its hash.
_DEMO_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' {style_hashes}; img-src 'self' data:; "
             "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_STYLE_BLOCK = re.compile(rb"<style>(.*?)</style>", re.DOTALL)


def _demo_csp(body: bytes) -> str:
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                      for m in _STYLE_BLOCK.findall(body))
    return _DEMO_CSP.format(style_hashes=hashes)


def _serve(name: str, request: Request) -> Response:
    asset = _ASSETS[name]
    body = (STATIC / asset.file).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": asset.cache, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if name == "demo":
        headers["Content-Security-Policy"] = _demo_csp(body)
    else:
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        headers["Access-Control-Allow-Origin"] = "*"
    inm = request.headers.get("if-none-match", "")
    if etag in (t.strip() for t in inm.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=asset.media_type, headers=headers)


@router.get("/chat/widget.js", summary="The embeddable chat widget (one script tag)")
def widget_js(request: Request) -> Response:
    return _serve("widget.js", request)


@router.get("/chat/widget.css", summary="Widget styles (loaded by widget.js into its shadow root)")
def widget_css(request: Request) -> Response:
    return _serve("widget.css", request)


@router.get("/chat/demo", summary="A fake municipal page embedding the widget")
def demo(request: Request) -> Response:
    return _serve("demo", request)


# -- HTTP API (fallback transport) ---------------------------------------------------------------
@api.options("/{path:path}", include_in_schema=False)
def preflight(path: str) -> Response:
    return Response(status_code=204, headers={
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
    })


@api.post("/messages", summary="Send a citizen message (HTTP fallback for the WebSocket)")
def post_message(body: MessageIn, request: Request, backend: BackendDep, settings: SettingsDep, tenants: TenantsDep,
                 limits: RateLimitsDep) -> Any:  # fmt: skip
    try:
        text = _check_text(body.text, settings.max_text_chars)
        cmid = _check_client_id(body.client_message_id)
        tenant = _tenant(body.tenant, tenants)
        check_origin(request, tenant, tenants)  # only the sites the municipality lists
        sid = _session_or_none(body.session)
        info = backend.resume(sid) if sid else None
        if info is None:
            _admit_new_conversation(limits, request.scope)
            info = backend.open(None, tenant)
        messages = backend.send(info.id, text, cmid)
        if info.created:  # also what the conversation opened with (a crisis message), in order
            messages = backend.history(info.id)
    except ChatInputError as e:
        if e.code == "rate_limited":
            return _error(e.code, str(e), e.status, {"Retry-After": str(e.values["seconds"])})
        return _input_error(e)
    except UnknownSession:  # the conversation was closed meanwhile: the next message starts anew
        return _error("unknown_session", error_text("unknown_session"), 404)
    return {"session": info.id, "created": info.created, "messages": [message_json(m) for m in messages]}


@api.get("/messages", summary="Poll for messages after a given id")
def get_messages(backend: BackendDep, session: Annotated[str, Query(max_length=200)],
                 after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> Any:
    return _read(backend, session, after)


@api.get("/history", summary="The whole conversation of a session (after a reload)")
def get_history(backend: BackendDep, session: Annotated[str, Query(max_length=200)]) -> Any:
    return _read(backend, session, 0)


def _read(backend: ChatBackend, session: str, after: int) -> dict[str, Any]:
    sid = _session_or_none(session)
    try:
        messages = backend.poll(sid, after) if sid else None
    except UnknownSession:
        messages = None
    if messages is None:  # unknown or expired: the widget forgets it; the next message starts anew
        return {"session": None, "messages": []}
    return {"session": sid, "messages": [message_json(m) for m in messages]}


@api.get("/config", summary="The municipality's widget: name, colour, greeting and survey")
def config(request: Request, tenants: TenantsDep, tenant: Annotated[str | None, Query(max_length=200)] = None) -> Any:
    try:
        tenant_id = _tenant(tenant, tenants)
        check_origin(request, tenant_id, tenants)
    except ChatInputError as e:
        return _input_error(e)
    return widget_config(tenants.get(tenant_id))


@api.post("/end", summary="The citizen ended the conversation")
def end(body: SessionIn, backend: BackendDep) -> Any:
    return _call(lambda sid: _messages(sid, backend.end(sid)), body.session)


@api.post("/feedback", status_code=201, summary="After-chat survey (1-10 scale)")
def feedback(body: FeedbackIn, backend: BackendDep, tenants: TenantsDep) -> Any:
    unknown = sorted(set(body.scores) - survey_ids(tenants))
    low, high = FEEDBACK_SCALE
    if unknown or any(not low <= v <= high for v in body.scores.values()):
        return _input_error(ChatInputError("invalid_feedback"))
    comment = (body.comment or "").strip() or None
    if not body.scores and comment is None:
        return _input_error(ChatInputError("invalid_feedback"))

    def record(sid: str) -> dict[str, Any]:
        backend.record_feedback(sid, Feedback(dict(body.scores), comment))
        return {"status": "recorded"}

    return _call(record, body.session)


@api.post("/contact-requests", status_code=201, summary="Out of hours: leave a message or ask for a call")
def contact_request(body: ContactIn, backend: BackendDep) -> Any:
    phone = re.sub(r"[\s-]", "", body.phone or "") or None
    text = (body.text or "").strip() or None
    if (phone is not None and not PHONE.match(phone)) or (body.kind == ContactKind.CALLBACK and phone is None):
        return _input_error(ChatInputError("invalid_phone"))
    if body.kind == ContactKind.MESSAGE and text is None:
        return _input_error(ChatInputError("empty_text"))
    req = ContactRequest(body.kind, phone, text)
    return _call(lambda sid: _messages(sid, backend.request_contact(sid, req)), body.session)


def _messages(sid: str, messages: list[OutMessage]) -> dict[str, Any]:
    return {"session": sid, "messages": [message_json(m) for m in messages]}


_CHAT_CODES = {UnknownSession: "unknown_session", FeedbackAlreadyRecorded: "feedback_already_recorded"}


def _call(fn, session: str) -> Any:
    sid = _session_or_none(session)
    try:
        if sid is None:
            raise UnknownSession(session)
        return fn(sid)
    except ChatError as e:  # the status from the one table in bot/errors.py; the code is the widget's
        code = _CHAT_CODES.get(type(e), "chat_error")
        return _error(code, str(e), http_status(e))


router.include_router(api)


# -- WebSocket -------------------------------------------------------------------------------------
from connectors.webchat.socket import chat_ws  # noqa: E402 - socket.py imports this module

router.add_api_websocket_route("/chat/ws", chat_ws)
