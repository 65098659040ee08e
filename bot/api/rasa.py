"""Rasa-compatible NLU endpoints: GET /, GET /health, POST /model/parse.

Shapes follow Rasa 3.6 exactly (golden fixtures in tests/); /model/parse adds one key, `triage`.
Rasa's REST and callback chat channels live in connectors/rasa (they run on the engine)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from bot import __version__
from bot.api import Text
from bot.api.deps import TenantsDep, UnderstandingDep
from bot.errors import UnknownTenant
from bot.tenants import Tenants
from bot.types import Action, NLUResult, TriageDecision

router = APIRouter()
FALLBACK = "nlu_fallback"


class ParseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: Text = Field(max_length=100_000, description="The citizen's message.")
    message_id: Text | None = Field(None, max_length=200)
    tenant: Text | None = Field(None, max_length=200, description="kontakt extension: the municipality (tenant id).")


def served_tenant(tenants: Tenants, tenant: str | None) -> str | None:
    """`tenant` if this installation serves it (None stays None: every tenant's articles);
    `UnknownTenant` (404, naming no other tenant) otherwise."""
    if tenant is None:
        return None
    if tenant not in tenants.by_id:
        raise UnknownTenant(f"unknown tenant {tenant[:40]!r}")
    return tenant


def triage_json(d: TriageDecision) -> dict[str, Any]:
    art = d.article
    return {
        "action": d.action.value,
        "topic": d.topic,
        "queue": d.queue,
        "sensitive": d.sensitive,
        "confidence": round(d.confidence, 4),
        "reason": d.reason.value if d.reason else None,
        "article": None
        if art is None
        else {"id": art.id, "title": art.title, "source": art.source, "source_url": art.source_url,
              "reviewed": art.reviewed, "historical": art.historical},
        "candidates": list(d.candidates),
    }


def parse_json(nlu: NLUResult, decision: TriageDecision) -> dict[str, Any]:
    intent = {"name": nlu.top.name, "confidence": nlu.top.confidence}
    if decision.action in (Action.CLARIFY, Action.OUT_OF_SCOPE) and nlu.top.name != decision.topic:
        intent = {"name": FALLBACK, "confidence": 1.0 - nlu.top.confidence}
    return {
        "text": nlu.text,
        "intent": intent,
        "entities": [
            {
                "entity": e.entity,
                "start": e.start,
                "end": e.end,
                "confidence_entity": e.confidence,
                "value": e.value,
                "extractor": e.extractor,
                **({"processors": list(e.processors)} if e.processors else {}),
            }
            for e in nlu.entities
        ],
        "text_tokens": [list(t) for t in nlu.tokens if any(ch.isalnum() for ch in nlu.text[t[0] : t[1]])],
        "intent_ranking": [{"name": s.name, "confidence": s.confidence} for s in nlu.ranking[:10]],
        "triage": triage_json(decision),
    }


@router.get("/", response_class=PlainTextResponse, summary="Version greeting (Rasa shape)")
def hello() -> str:
    return f"Hello from kontakt: {__version__}"


@router.get("/health", summary="Liveness and what has loaded")
def health(u: UnderstandingDep, request: Request) -> dict[str, Any]:
    # Requests are served only after the lifespan has loaded everything, so this is always "ok".
    return {
        "status": "ok",
        "version": __version__,
        "embedder": u.embedder.name,
        "topics": len(u.contract.topics),
        "articles": len(u.articles),
        "load_seconds": request.app.state.ready_seconds,
    }


@router.post("/model/parse", summary="Understand a message (Rasa shape + triage)")
def model_parse(body: ParseRequest, u: UnderstandingDep, tenants: TenantsDep) -> dict[str, Any]:
    served_tenant(tenants, body.tenant)
    if not body.text.strip():
        empty = {"text": body.text, "intent": {"name": None, "confidence": 0.0}, "entities": [],
                 "text_tokens": [], "intent_ranking": [], "triage": None}
        return empty
    parsed = u.parse(body.text, tenant=body.tenant)
    return parse_json(parsed.nlu, parsed.decision)
