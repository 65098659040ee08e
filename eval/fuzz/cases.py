"""Fuzz cases: one HTTP request or one WebSocket session against the served app, fully built up
front (signatures and credentials included), so a case can be printed, replayed and compared.

The credentials here are the ones `eval.fuzz.server` configures the server with; they exist only
in the throwaway database and settings of a fuzz run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

TWILIO_TOKEN = "fuzz-twilio-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://kontakt.example.dk"  # what the server checks Twilio signatures against
EMAIL_SECRET = "fuzz-email-secret-0123456789abcdefghij"
AGENT_PEPPER = "fuzz-agent-pepper-0123456789abcdefghijklmnopqrstuvwxyz"
# Server-sent-event streams: JSON in each `data:` line. They stay open `seconds` (default 25), so
# every case asks for a short one unless it sends a value of its own.
EVENT_STREAMS = frozenset({"/agent/api/live"})


@dataclass(frozen=True)
class FuzzAgent:
    tenant: str
    id: str
    role: str  # agent | supervisor | admin
    token: str

    @property
    def header(self) -> tuple[str, str]:
        return ("Authorization", f"Bearer {self.token}")


AGENTS = (
    FuzzAgent("kobenhavn", "fuzz.agent", "agent", "fuzz-agent-token-kobenhavn-agent-0123456789"),
    FuzzAgent("kobenhavn", "fuzz.supervisor", "supervisor", "fuzz-agent-token-kobenhavn-supervisor-01234"),
    FuzzAgent("kobenhavn", "fuzz.admin", "admin", "fuzz-agent-token-kobenhavn-admin-0123456789"),
    FuzzAgent("rodovre", "fuzz.rdv", "agent", "fuzz-agent-token-rodovre-agent-0123456789ab"),
)


class Access(StrEnum):
    PUBLIC = "public"
    TWILIO = "twilio-signed"
    EMAIL = "email-secret"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


def access_of(method: str, path: str) -> Access:
    """The access class of a route, as docs/access-policy.md states it."""
    if path.startswith("/voice/"):
        return Access.TWILIO
    if path == "/email/inbound":
        return Access.EMAIL
    if path == "/agent/api/supervisor/agents" and method == "POST":
        return Access.ADMIN
    if path.startswith(("/agent/api/supervisor/", "/api/v1/capacity/", "/api/v1/stats/")) or path == "/metrics":
        return Access.SUPERVISOR
    if path.startswith("/agent/api/"):
        return Access.AGENT
    return Access.PUBLIC


@dataclass(frozen=True)
class Frame:
    """One client WebSocket frame: `text` (str payload), `bytes` (binary frame), `bad-text`
    (a text frame whose payload is not UTF-8)."""

    kind: str
    data: str | bytes

    def __repr__(self) -> str:
        return f"Frame({self.kind}, {_short(self.data)})"


@dataclass(frozen=True)
class Case:
    route: str  # "POST /model/parse" or "WS /chat/ws": the route template, for counts per route
    method: str  # HTTP method, or WS
    target: str  # path with query string, percent-encoded, as sent
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    frames: tuple[Frame, ...] = ()
    label: str = ""  # which generator made it

    def describe(self, limit: int = 300) -> str:
        parts = [f"{self.method} {self.target}"]
        shown = [(k, v) for k, v in self.headers if k.lower() not in ("x-twilio-signature",)]
        if shown:
            parts.append(f"headers={_short(shown, 200)}")
        if self.body:
            parts.append(f"body={_short(self.body, limit)} ({len(self.body)} bytes)")
        if self.frames:
            parts.append(f"frames={_short(list(self.frames), limit)}")
        return f"[{self.label}] " + " ".join(parts)


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...(+{len(text) - limit})"


# --- building requests ------------------------------------------------------------------------------------

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def quote_any(value: str) -> str:
    """Percent-encode a path segment or query value, lone surrogates included (as the bytes of
    their CESU form, which no UTF-8 decoder accepts)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def query_string(params: dict[str, str] | list[tuple[str, str]]) -> str:
    items = params.items() if isinstance(params, dict) else params
    return "&".join(f"{quote_any(k)}={quote_any(v)}" for k, v in items)


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it, by Twilio's own `RequestValidator`."""
    from twilio.request_validator import RequestValidator

    return RequestValidator(token).compute_signature(url, params)


def voice_case(route: str, path: str, query: dict[str, str], form: dict[str, str], *, how: str = "signed",
               label: str = "voice") -> Case:
    """A Twilio webhook: `how` is signed, forged (signed with another token), unsigned, or
    tampered (signed, then a parameter changed)."""
    target = path + (f"?{query_string(query)}" if query else "")
    body_params = dict(form)
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    if how != "unsigned":
        token = TWILIO_TOKEN if how != "forged" else "not-the-token-0123456789abcdef0123"
        headers.append(("X-Twilio-Signature", twilio_signature(PUBLIC_BASE_URL + target, body_params, token)))
    if how == "tampered":
        body_params["Digits"] = body_params.get("Digits", "") + "9"
    return Case(route, "POST", target, urlencode(body_params).encode(), tuple(headers), label=f"{label}:{how}")


def json_request(route: str, method: str, target: str, body: bytes | None, headers: list[tuple[str, str]] = (),
                 *, content_type: str = "application/json", label: str = "") -> Case:
    hs = list(headers)
    if body is not None and content_type:
        hs.append(("Content-Type", content_type))
    return Case(route, method, target, body or b"", tuple(hs), label=label)


@dataclass(frozen=True)
class RouteInfo:
    """One served endpoint, read from the app: method, path template, access class and, from its
    OpenAPI operation, query parameter names and the JSON body's properties."""

    method: str
    path: str
    access: Access
    query: tuple[str, ...] = ()
    body_fields: tuple[tuple[str, str, tuple[Any, ...]], ...] = ()  # (name, json type, enum) of a JSON body
    has_body: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return PARAM.findall(self.path)
