"""Knowledge editing over HTTP: editors change articles without a developer, a retrain or a restart.

    GET  /api/v1/knowledge/articles?tenant=T                     the municipality's article list
    GET  /api/v1/knowledge/articles/{id}?tenant=S                the file in force and its history
    PUT  /api/v1/knowledge/articles/{id}?tenant=S                publish a new version (body: the file)
    POST /api/v1/knowledge/articles/{id}/rollback?tenant=S&version=N   publish a copy of version N
    POST /api/v1/knowledge/preview?tenant=S                      the answer from a draft, nothing stored
    GET  /agent/knowledge                                        the editors' Danish page

`tenant` is the scope: "*" for the national article, or a tenant id for that municipality's
local overlay. An editor token (`python -m bot agent add --role editor`) or an admin token. An
editor reads national articles and edits its own municipality's overlays; national articles
are published by admins only; nobody reads or edits another municipality's overlays (403).
The body of PUT is the article file as in the repository (Markdown with YAML front matter,
`text/markdown` or `text/plain`), checked as the loader checks it: a bad file is 422 naming the
field. What is published is in force on this worker when the answer comes, and on every other
worker within about a second (bot/knowledge/live.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import Field

from bot.api import Text
from bot.api.agents import _In, _Out
from bot.api.auth import AgentRoute, KnowledgeEditor
from bot.api.console import SECURITY_HEADERS
from bot.api.deps import KnowledgeDep
from bot.errors import ArticleForbidden, ArticleMediaType, ArticleTooLarge, InvalidArticle
from bot.knowledge.editing import MAX_ARTICLE_CHARS, draft_id
from bot.knowledge.live import LiveKnowledge
from bot.storage.agent_queries import AgentIdentity
from bot.storage.knowledge import NATIONAL, ArticleVersion
from bot.storage.models import AgentRole

__all__ = ["page_router", "router"]

STATIC = Path(__file__).resolve().parent / "static" / "knowledge"
ASSETS = {"knowledge.js": "text/javascript; charset=utf-8", "knowledge.css": "text/css; charset=utf-8"}
MEDIA_TYPES = ("text/markdown", "text/plain", "text/x-markdown")

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"], route_class=AgentRoute)
page_router = APIRouter(tags=["knowledge"])

Scope = Annotated[str, Query(alias="tenant", min_length=1, max_length=64,
                             description='"*" for the national article, or a tenant id for its local overlay')]
ArticleId = Annotated[str, PathParam(pattern=r"^[a-z0-9_\-]{1,100}$")]


# --- boundary models ------------------------------------------------------------------------------


class VersionOut(_Out):
    version: int
    author: str
    created_at: datetime
    summary: str
    published: bool

    @classmethod
    def of(cls, v: ArticleVersion) -> VersionOut:
        return cls(version=v.version, author=v.author, created_at=v.created_at, summary=v.summary,
                   published=v.published)  # fmt: skip


class PublishedOut(VersionOut):
    id: str
    tenant: str


class ArticleOut(_Out):
    id: str
    tenant: str
    version: int = Field(description="the version in force; 0 is the file in the repository")
    text: str
    history: list[VersionOut] = Field(description="every stored version, newest first")


class EntryOut(_Out):
    id: str
    tenant: str = Field(description='"*" national, or the tenant id when the municipality has a local overlay')
    title: str
    topic: str
    version: int
    local: bool
    stale_days: int | None


class ListOut(_Out):
    tenant: str
    tenant_name: str
    can_edit_national: bool
    articles: list[EntryOut]


class PreviewIn(_In):
    file: Text = Field(min_length=1, max_length=MAX_ARTICLE_CHARS * 2, description="the draft article file")
    question: Text = Field(min_length=1, max_length=2000, description="what a citizen asks")


class PreviewOut(_Out):
    article: str
    action: str
    topic: str | None
    answered_from: str | None = Field(description="the article the answer cites (None: no article)")
    uses_draft: bool
    messages: list[str]


# --- who may do what ------------------------------------------------------------------------------


def _readable(agent: AgentIdentity, scope: str) -> str:
    if scope != NATIONAL and scope != agent.tenant_id:
        raise ArticleForbidden(f"{agent.id!r} works on the articles of {agent.tenant_id!r} only")
    return scope


def _writable(agent: AgentIdentity, scope: str) -> str:
    _readable(agent, scope)
    if scope == NATIONAL and agent.role is not AgentRole.ADMIN:
        raise ArticleForbidden("national articles are published by an admin; write a local overlay instead")
    return scope


async def _file_text(request: Request) -> str:
    media = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise ArticleMediaType(f"send the article file as text/markdown or text/plain, not {media[:60]!r}")
    raw = await request.body()
    if len(raw) > MAX_ARTICLE_CHARS * 4:
        raise ArticleTooLarge(f"the article file has {len(raw)} bytes; at most {MAX_ARTICLE_CHARS} characters")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArticle("file", "is not UTF-8 text") from None


def _article_out(live: LiveKnowledge, scope: str, article_id: str) -> ArticleOut:
    h = live.history(scope, article_id)
    return ArticleOut(id=article_id, tenant=scope, version=h.version, text=h.text,
                      history=[VersionOut.of(v) for v in h.versions])  # fmt: skip


# --- routes ---------------------------------------------------------------------------------------


@router.get("/articles", response_model=ListOut, summary="The municipality's articles (national and local)")
def list_articles(agent: KnowledgeEditor, live: KnowledgeDep,
                  tenant: Annotated[str | None, Query(max_length=64)] = None) -> ListOut:  # fmt: skip
    scope = _readable(agent, tenant or agent.tenant_id)
    if scope == NATIONAL:
        scope = agent.tenant_id
    entries = [EntryOut(id=e.id, tenant=e.scope, title=e.title, topic=e.topic, version=e.version, local=e.local,
                        stale_days=e.stale_days) for e in live.entries(scope)]  # fmt: skip
    return ListOut(tenant=scope, tenant_name=agent.tenant_name, can_edit_national=agent.role is AgentRole.ADMIN,
                   articles=entries)  # fmt: skip


@router.get("/articles/{article_id}", response_model=ArticleOut, summary="An article in force and its history")
def get_article(article_id: ArticleId, scope: Scope, agent: KnowledgeEditor, live: KnowledgeDep) -> ArticleOut:
    return _article_out(live, _readable(agent, scope), article_id)


@router.put("/articles/{article_id}", response_model=PublishedOut, summary="Publish a new version of an article")
async def put_article(article_id: ArticleId, scope: Scope, agent: KnowledgeEditor, live: KnowledgeDep,
                      request: Request) -> PublishedOut:  # fmt: skip
    _writable(agent, scope)
    text = await _file_text(request)
    v = await asyncio.to_thread(live.publish, scope, article_id, text, agent.id)
    await asyncio.to_thread(live.sync)  # in force on this worker before the answer
    return PublishedOut(id=article_id, tenant=scope, **VersionOut.of(v).model_dump())


@router.post("/articles/{article_id}/rollback", response_model=PublishedOut,
             summary="Publish a copy of an earlier version (0: the repository's file)")  # fmt: skip
async def rollback_article(article_id: ArticleId, scope: Scope, agent: KnowledgeEditor, live: KnowledgeDep,
                           number: Annotated[int, Query(alias="version", ge=0)]) -> PublishedOut:  # fmt: skip
    _writable(agent, scope)
    v = await asyncio.to_thread(live.rollback, scope, article_id, number, agent.id)
    await asyncio.to_thread(live.sync)
    return PublishedOut(id=article_id, tenant=scope, **VersionOut.of(v).model_dump())


@router.post("/preview", response_model=PreviewOut, summary="The answer a citizen would get from a draft")
async def preview(body: PreviewIn, scope: Scope, agent: KnowledgeEditor, live: KnowledgeDep) -> PreviewOut:
    _readable(agent, scope)
    article_id = draft_id(body.file, scope)
    draft, turn = await asyncio.to_thread(live.preview, scope, article_id, body.file, body.question)
    cited = turn.decision.article.id if turn.decision.article else None
    return PreviewOut(article=draft.article_id, action=turn.decision.action.value, topic=turn.decision.topic,
                      answered_from=cited, uses_draft=cited == draft.article_id,
                      messages=[m.text for m in turn.messages])  # fmt: skip


# --- the page -------------------------------------------------------------------------------------


@page_router.get("/agent/knowledge", include_in_schema=False)
def knowledge_page() -> FileResponse:
    """The editors' page (anyone may load it; every action needs an editor or admin token)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip


@page_router.get("/agent/static/knowledge/{name}", include_in_schema=False, response_model=None)
def knowledge_asset(name: str) -> FileResponse | JSONResponse:
    if name not in ASSETS:
        return JSONResponse({"error": "not_found", "message": "no such file on the knowledge page"}, status_code=404)
    return FileResponse(STATIC / name, media_type=ASSETS[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})  # fmt: skip
