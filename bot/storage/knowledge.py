"""Knowledge article versions (migration 0006_knowledge): what editors publish without a developer.

One row per version of one article in one scope: the national article (`scope` "*") or one
municipality's local overlay (`scope` = the tenant id). A row holds the whole file text, as in
`knowledge/articles/` or `knowledge/local/<tenant>/`, so a version can be read, diffed and
rolled back exactly. The files in the repository stay the seed: the article in force is the
newest published version of its scope and id, else the file.

Every worker polls `head` (the newest row id, one indexed MAX) and reads only the rows after
the one it has applied (`published_after`), so a change reaches every worker within a poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage.models import Base

__all__ = [
    "ArticleVersion", "ArticleVersionRow", "NATIONAL", "add_version", "head", "latest_versions", "published_after",
    "version", "versions",
]  # fmt: skip

NATIONAL = "*"  # the scope of the national articles; any other scope is a tenant id


class ArticleVersionRow(Base):
    __tablename__ = "article_versions"
    __table_args__ = (
        UniqueConstraint("scope", "article_id", "version"),
        Index("ix_article_versions_scope_article", "scope", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))  # "*" (national) or a tenant id
    article_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)  # the whole article file: front matter and body
    author: Mapped[str] = mapped_column(String(64))  # the agent id of the editor
    created_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(String(500))  # what changed, from the diff
    published: Mapped[bool] = mapped_column(Boolean)


@dataclass(frozen=True, slots=True)
class ArticleVersion:
    id: int
    scope: str
    article_id: str
    version: int
    text: str
    author: str
    created_at: datetime
    summary: str
    published: bool


def _view(r: ArticleVersionRow) -> ArticleVersion:
    return ArticleVersion(r.id, r.scope, r.article_id, r.version, r.text, r.author, r.created_at, r.summary,
                          r.published)  # fmt: skip


def add_version(
    s: Session, *, scope: str, article_id: str, text: str, author: str, at: datetime, summary: str,
    published: bool = True,
) -> ArticleVersion:
    """Store the next version number of (scope, article_id). Two writers racing for the same
    number meet the unique constraint (IntegrityError at flush), never two equal versions."""
    last = s.scalar(
        select(func.max(ArticleVersionRow.version)).where(
            ArticleVersionRow.scope == scope, ArticleVersionRow.article_id == article_id
        )
    )
    row = ArticleVersionRow(scope=scope, article_id=article_id, version=(last or 0) + 1, text=text, author=author,
                            created_at=at, summary=summary[:500], published=published)  # fmt: skip
    s.add(row)
    s.flush()
    return _view(row)


def versions(s: Session, *, scope: str, article_id: str) -> list[ArticleVersion]:
    """Every version of one article in one scope, newest first."""
    rows = s.scalars(
        select(ArticleVersionRow)
        .where(ArticleVersionRow.scope == scope, ArticleVersionRow.article_id == article_id)
        .order_by(ArticleVersionRow.version.desc())
    )
    return [_view(r) for r in rows]


def version(s: Session, *, scope: str, article_id: str, number: int) -> ArticleVersion | None:
    row = s.scalar(
        select(ArticleVersionRow).where(
            ArticleVersionRow.scope == scope, ArticleVersionRow.article_id == article_id,
            ArticleVersionRow.version == number,
        )
    )  # fmt: skip
    return _view(row) if row is not None else None


def head(s: Session) -> int:
    """The newest version row id (0 when there is none): what a worker compares each poll."""
    return s.scalar(select(func.max(ArticleVersionRow.id))) or 0


def published_after(s: Session, after_id: int) -> list[ArticleVersion]:
    """Published versions with a row id above `after_id`, oldest first."""
    rows = s.scalars(
        select(ArticleVersionRow)
        .where(ArticleVersionRow.id > after_id, ArticleVersionRow.published.is_(True))
        .order_by(ArticleVersionRow.id)
    )
    return [_view(r) for r in rows]


def latest_versions(s: Session, scopes: list[str] | None = None) -> dict[tuple[str, str], ArticleVersion]:
    """The newest published version of every (scope, article id), optionally in some scopes only."""
    stmt = select(ArticleVersionRow).where(ArticleVersionRow.published.is_(True))
    if scopes is not None:
        stmt = stmt.where(ArticleVersionRow.scope.in_(scopes))
    out: dict[tuple[str, str], ArticleVersion] = {}
    for r in s.scalars(stmt.order_by(ArticleVersionRow.id)):
        out[(r.scope, r.article_id)] = _view(r)
    return out
