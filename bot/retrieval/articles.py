"""Knowledge articles: Markdown files with YAML front matter (format in knowledge/README.md)."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import ArticleError
from bot.topics import TopicContract
from bot.types import ArticleRef
from bot.yaml_safe import safe_load

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str
    url: str | None = None


class SelfService(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    url: str | None = None
    steps: tuple[str, ...] = ()


class Article(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_\-]+$")
    topic: str
    tenant: str = "*"
    title: str
    questions: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    owner: str  # an owner id of knowledge/owners.yaml
    selfservice: SelfService | None = None
    voice: str
    sources: tuple[Source, ...] = Field(min_length=1)
    reviewed: dt.date
    review_interval_days: int | None = Field(default=None, gt=0, le=3650)  # else the owner's default
    historical: bool = False
    body: str

    @field_validator("body", "voice", "title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    def passages(self) -> list[str]:
        """What gets embedded: never the title alone (a short title is a retrieval hub)."""
        syn = ", ".join(self.synonyms)
        head = f"{self.title}. {syn}".strip()
        out = [f"{head}\n{self.body}"]
        out.extend(f"{q} {self.title}. {syn}" for q in self.questions)
        return out

    def ref(self) -> ArticleRef:
        first = self.sources[0]
        return ArticleRef(
            id=self.id,
            title=self.title,
            source=first.title,
            source_url=first.url,
            reviewed=self.reviewed.isoformat(),
            historical=self.historical,
        )


def parse_article(text: str, where: str = "<string>") -> Article:
    return _parse_article(text, where)


# A server's start-up reads every article three times (the understanding, the editors' live copy
# and the review catalogue): the same text gives the same (frozen) article, so it is parsed once.
@lru_cache(maxsize=1024)
def _parse_article(text: str, where: str) -> Article:
    m = _FRONT_MATTER.match(text)
    if m is None:
        raise ArticleError(where, "must start with a '---' line, YAML front matter and another '---' line")
    front, body = m.group(1), text[m.end() :]
    try:
        meta = safe_load(front)
    except yaml.YAMLError as exc:
        raise ArticleError(where, f"bad front matter: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleError(where, "front matter must be a mapping")
    try:
        return Article.model_validate({**meta, "body": body})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        detail = str(first["msg"]).removeprefix("Value error, ")
        raise ArticleError(where, str(exc), field=field, detail=detail) from None


def load_articles(root: Path, contract: TopicContract) -> list[Article]:
    articles: list[Article] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        art = parse_article(path.read_text(encoding="utf-8"), str(path))
        if art.topic not in contract.by_id:
            raise ArticleError(path, f"unknown topic {art.topic!r}")
        if art.id in seen:
            raise ArticleError(path, f"duplicate article id {art.id!r} (also in {seen[art.id]})")
        seen[art.id] = path
        articles.append(art)
    return articles
