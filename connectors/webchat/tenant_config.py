"""What the chat widget shows for a municipality, and which sites may open a chat with it; both
from knowledge/tenants.yaml (`widget`, `survey`).

    GET /chat/api/config?tenant=…   {tenant, name, colour, greeting: {da, en}, survey: {...}}

A browser sends `Origin` with every chat request and WebSocket handshake. A tenant with
`widget.allowed_origins` is served only to pages of those sites (and to this host's own demo
page); a request without `Origin` is not from a browser page and is let through, since any
other client could send whatever Origin it liked anyway."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from bot.tenants import Tenant, Tenants
from connectors.webchat.errors import ChatInputError
from connectors.webchat.session import FEEDBACK_QUESTIONS

__all__ = ["check_origin", "survey_ids", "widget_config"]


def _own_origin(conn: HTTPConnection) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.url.netloc}".lower()


def check_origin(conn: HTTPConnection, tenant_id: str | None, tenants: Tenants) -> None:
    """Refuse (403 `origin_not_allowed`) a browser page of a site the tenant does not list."""
    origin = conn.headers.get("origin")
    if origin is None:
        return
    allowed = tenants.get(tenant_id).widget.allowed_origins
    origin = origin.strip().lower()
    if allowed and origin not in allowed and origin != _own_origin(conn):
        raise ChatInputError("origin_not_allowed", status=403)


def widget_config(tenant: Tenant) -> dict[str, Any]:
    """The widget's look and words for one municipality; None where the widget's own applies."""
    w, survey = tenant.widget, tenant.survey
    return {
        "tenant": tenant.id,
        "name": w.name or tenant.name,
        "colour": w.colour,
        "greeting": None if w.greeting is None else {"da": w.greeting.da, "en": w.greeting.en},
        "survey": {
            "enabled": survey.enabled,
            "questions": [{"id": q.id, "da": q.da, "en": q.en} for q in survey.questions],
        },
    }


def survey_ids(tenants: Tenants) -> frozenset[str]:
    """The question ids an after-chat survey may answer: the widget's own and every tenant's."""
    return frozenset(FEEDBACK_QUESTIONS) | {q.id for t in tenants.tenants for q in t.survey.questions}
