"""Checking an edited article file and saying what changed, for editors who publish without a
developer (bot/api/knowledge.py, bot/knowledge/live.py).

An edited file is checked exactly as the loaders check the files in the repository: a national
article as `bot.retrieval.articles.parse_article` plus its topic and the view of every tenant,
a local overlay as `bot.knowledge.overlay.parse_overlay` plus the national article it completes
and the tenant's view. A file that would not load is refused with the field at fault
(`InvalidArticle`), so nothing an editor publishes can stop a worker from starting.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bot.errors import ArticleError, ArticleTooLarge, InvalidArticle
from bot.knowledge.overlay import (
    LocalContent,
    LocalOverlay,
    OverlayError,
    TenantLocal,
    TenantViewError,
    parse_overlay,
    tenant_view,
)
from bot.retrieval.articles import Article, parse_article
from bot.storage.knowledge import NATIONAL
from bot.topics import TopicContract
from bot.yaml_safe import safe_load

__all__ = ["Draft", "MAX_ARTICLE_CHARS", "change_summary", "check_draft", "draft_id", "with_overlay"]

# The longest national article file is about 6,000 characters; ten times that is still an article.
MAX_ARTICLE_CHARS = 60_000
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Draft:
    """A checked article file: a national article (`article`) or a tenant's overlay (`overlay`)."""

    scope: str
    article_id: str
    text: str
    article: Article | None = None
    overlay: LocalOverlay | None = None


def check_draft(
    text: str,
    *,
    scope: str,
    article_id: str,
    contract: TopicContract,
    national: Mapping[str, Article],
    local: LocalContent,
    tenant_ids: Sequence[str],
) -> Draft:
    """`text` as the article `article_id` of `scope` ("*" or a tenant id), checked against the
    articles in force; `InvalidArticle` names the field, `ArticleTooLarge` a file too long."""
    if len(text) > MAX_ARTICLE_CHARS:
        raise ArticleTooLarge(f"the article file has {len(text)} characters; at most {MAX_ARTICLE_CHARS} are allowed")
    text = text.replace("\r\n", "\n")
    if scope == NATIONAL:
        article = _national(text, article_id, contract)
        for tenant_id in tenant_ids:  # every municipality's view must still build, as at start-up
            _view(article, local, tenant_id)
        return Draft(scope, article_id, text, article=article)
    overlay = _overlay(text, scope, article_id, national, local)
    return Draft(scope, article_id, text, overlay=overlay)


def draft_id(text: str, scope: str) -> str:
    """The article a draft file is about: its `id` (national) or `overrides` (local overlay)."""
    meta, _ = _split(text)
    key = "id" if scope == NATIONAL else "overrides"
    value = meta.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_\-]{1,100}", value):
        raise InvalidArticle(key, "is missing; the front matter names the article it is")
    return value


def _national(text: str, article_id: str, contract: TopicContract) -> Article:
    try:
        article = parse_article(text, where=f"article {article_id}")
    except ArticleError as exc:
        raise InvalidArticle(exc.field or "front matter", exc.detail) from None
    if article.id != article_id:
        raise InvalidArticle("id", f"is {article.id!r} but the article being edited is {article_id!r}")
    if article.topic not in contract.by_id:
        raise InvalidArticle("topic", f"unknown topic {article.topic!r}; topics are listed in knowledge/topics.yaml")
    if article.tenant != NATIONAL:
        raise InvalidArticle("tenant", 'a national article has tenant "*"; write a local overlay for one municipality')
    return article


def _overlay(
    text: str, tenant: str, article_id: str, national: Mapping[str, Article], local: LocalContent
) -> LocalOverlay:
    mine = local.tenants.get(tenant)
    if mine is None:
        raise InvalidArticle("tenant", f"municipality {tenant!r} has no knowledge/local/{tenant}/tenant.yaml yet")
    try:
        overlay = parse_overlay(text, tenant=tenant, where=f"local article of {tenant}")
    except OverlayError as exc:
        raise InvalidArticle(exc.key, exc.problem) from None
    if overlay.overrides != article_id:
        raise InvalidArticle("overrides", f"is {overlay.overrides!r} but the article being edited is {article_id!r}")
    base = national.get(article_id)
    if base is None:
        raise InvalidArticle("overrides", f"no national article {article_id!r}")
    if base.tenant not in (NATIONAL, tenant):
        raise InvalidArticle("overrides", f"{article_id!r} belongs to another municipality")
    _view(base, with_overlay(local, overlay), tenant)
    return overlay


def with_overlay(local: LocalContent, overlay: LocalOverlay) -> LocalContent:
    """`local` with `overlay` in force for its tenant (replacing the one for the same article)."""
    mine = local.tenants[overlay.tenant]
    others = [o for o in mine.overlays if o.overrides != overlay.overrides]
    return LocalContent({**local.tenants, overlay.tenant: _with_overlays(mine, [*others, overlay])})


def _with_overlays(mine: TenantLocal, overlays: Sequence[LocalOverlay]) -> TenantLocal:
    return TenantLocal(mine.tenant, mine.names, mine.domains, tuple(sorted(overlays, key=lambda o: o.overrides)))


def _view(article: Article, local: LocalContent, tenant_id: str) -> None:
    try:
        tenant_view([article], local, tenant_id)
    except TenantViewError as exc:
        field = "voice" if "voice" in str(exc) else "sources"
        raise InvalidArticle(field, str(exc)) from None


# --- what changed ---------------------------------------------------------------------------------


def _split(text: str) -> tuple[dict[str, Any], list[str]]:
    m = _FRONT_MATTER.match(text)
    if m is None:
        return {}, text.splitlines()
    try:
        meta = safe_load(m.group(1))
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[m.end() :].strip().splitlines()


def change_summary(old: str | None, new: str) -> str:
    """A short Danish line for the editors' change log: which front-matter fields changed, were
    added or removed, and how many body lines were added and removed."""
    if old is None:
        return "første version"
    old_meta, old_body = _split(old)
    new_meta, new_body = _split(new)
    parts = []
    changed = sorted(k for k in old_meta.keys() & new_meta.keys() if old_meta[k] != new_meta[k])
    added = sorted(new_meta.keys() - old_meta.keys())
    removed = sorted(old_meta.keys() - new_meta.keys())
    if changed:
        parts.append("ændret: " + ", ".join(changed))
    if added:
        parts.append("tilføjet: " + ", ".join(added))
    if removed:
        parts.append("fjernet: " + ", ".join(removed))
    diff = list(difflib.ndiff(old_body, new_body))
    plus = sum(1 for d in diff if d.startswith("+ ") and d[2:].strip())  # blank lines are layout, not text
    minus = sum(1 for d in diff if d.startswith("- ") and d[2:].strip())
    if plus or minus:
        parts.append(f"tekst: +{plus} −{minus} linjer")
    return "; ".join(parts) if parts else "ingen ændringer"
