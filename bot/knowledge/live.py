"""Knowledge edited while the product runs: publish, roll back, preview, and every worker taking
up what was published within about a second, without a retrain or a restart.

The files in the repository are the seed. A published version in the database
(`bot/storage/knowledge.py`) replaces the file of its article: a national article (scope "*")
or one municipality's local overlay (scope = tenant id). Each worker runs `knowledge_background`
(a start-up part in connectors/app.py): before it serves it applies every published version,
then it compares the newest version id with what it has applied once a second and applies only
the new rows. A national article's passages are embedded again (in a thread, off the event
loop) and swapped into the article index (`ArticleIndex.replace_article`); the views of every
municipality are rebuilt aside and swapped in (`Understanding.use_articles`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.dialogue import Turn, decide
from bot.errors import ArticleVersionConflict, InvalidArticle, KontaktError, UnknownArticle
from bot.knowledge.editing import Draft, change_summary, check_draft, with_overlay
from bot.knowledge.owners import OwnersError, load_owners
from bot.knowledge.stale import review_items, stale_articles
from bot.retrieval.articles import parse_article
from bot.storage.db import Database
from bot.storage.knowledge import (
    NATIONAL,
    ArticleVersion,
    add_version,
    head,
    published_after,
    version,
    versions,
)
from bot.understanding import Understanding

__all__ = ["ArticleEntry", "History", "LiveKnowledge", "POLL_SECONDS", "knowledge_background", "run_poller"]

log = logging.getLogger("kontakt.knowledge")
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ArticleEntry:
    """One line of a municipality's article list."""

    id: str
    scope: str  # "*" national, or the tenant id for a local overlay
    title: str
    topic: str
    version: int  # 0: the file in the repository
    local: bool  # the municipality has a local overlay of this article
    stale_days: int | None  # days past its review date, None when not due


@dataclass(frozen=True, slots=True)
class History:
    scope: str
    article_id: str
    text: str  # the file text in force
    version: int  # its version number; 0 is the file in the repository
    versions: tuple[ArticleVersion, ...]  # newest first


class LiveKnowledge:
    """The articles in force on this worker and the editors' actions on them."""

    def __init__(self, understanding: Understanding, db: Database, clock: Callable[[], datetime],
                 national_files: dict[str, str], local_files: dict[tuple[str, str], str],
                 owners_file: Path | None = None) -> None:  # fmt: skip
        self.understanding = understanding
        self.db = db
        self.clock = clock
        self.seed: dict[tuple[str, str], str] = {(NATIONAL, k): v for k, v in national_files.items()}
        self.seed.update(local_files)
        self.owners_file = owners_file
        self.applied = 0  # the newest version row id in force here
        self.in_force: dict[tuple[str, str], int] = {}  # version numbers from the database
        self._texts: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, understanding: Understanding, db: Database, clock: Callable[[], datetime],
                   articles_dir: Path) -> LiveKnowledge:  # fmt: skip
        """The seed: every article file under `articles_dir` and every overlay the understanding loaded."""
        national = {}
        for path in sorted(articles_dir.rglob("*.md")):
            if path.name.lower() != "readme.md":
                text = path.read_text(encoding="utf-8")
                national[parse_article(text, str(path)).id] = text
        local = {
            (o.tenant, o.overrides): Path(o.path).read_text(encoding="utf-8")
            for o in understanding.local.overlays() if o.path
        }  # fmt: skip
        return cls(understanding, db, clock, national, local, articles_dir.parent / "owners.yaml")

    # --- reading -----------------------------------------------------------------------------------

    def text(self, scope: str, article_id: str) -> tuple[str, int] | None:
        """The file text in force and its version number (0: the repository's file)."""
        key = (scope, article_id)
        if key in self._texts:
            return self._texts[key], self.in_force[key]
        return (self.seed[key], 0) if key in self.seed else None

    def history(self, scope: str, article_id: str) -> History:
        current = self.text(scope, article_id)
        with self.db.read() as s:
            rows = versions(s, scope=scope, article_id=article_id)
        if rows and (current is None or rows[0].id > self.applied):
            current = (rows[0].text, rows[0].version)  # published on another worker a moment ago
        if current is None:
            raise UnknownArticle(f"no article {article_id!r} in scope {scope!r}")
        return History(scope, article_id, current[0], current[1], tuple(rows))

    def entries(self, tenant_id: str) -> list[ArticleEntry]:
        """The articles a municipality's editors work on: every national article, and whether
        the municipality completes it locally; stale ones carry their days overdue."""
        u = self.understanding
        local = u.local.tenants.get(tenant_id)
        overlays = {o.overrides: o for o in local.overlays} if local else {}
        stale: dict[tuple[str, str], int] = {}
        if self.owners_file is not None and self.owners_file.is_file():
            try:  # an edited article may name an owner the file does not list: then no marks
                items = review_items(u.articles.values(), overlays.values(), load_owners(self.owners_file))
            except OwnersError:
                items = []
            stale = {(s.tenant, s.id): s.days_overdue for s in stale_articles(items, self.clock(), tenant_id)}
        out = []
        for a in sorted(u.articles.values(), key=lambda a: (a.topic, a.id)):
            key = (tenant_id, a.id) if a.id in overlays else (NATIONAL, a.id)
            days = stale.get(key, stale.get((NATIONAL, a.id)))
            out.append(ArticleEntry(a.id, key[0], a.title, a.topic, self.in_force.get(key, 0), a.id in overlays, days))
        return out

    # --- checking, publishing, rolling back --------------------------------------------------------

    def check(self, scope: str, article_id: str, text: str) -> Draft:
        u = self.understanding
        return check_draft(text, scope=scope, article_id=article_id, contract=u.contract, national=u.articles,
                           local=u.local, tenant_ids=u.tenant_ids)  # fmt: skip

    def publish(self, scope: str, article_id: str, text: str, author: str, note: str = "") -> ArticleVersion:
        """Check `text`, store it as the next version of the article and publish it. Returns the
        version; every worker (this one at once, see `sync`) takes it up."""
        draft = self.check(scope, article_id, text)
        current = self.text(scope, article_id)
        summary = note + change_summary(current[0] if current else None, draft.text)
        try:
            with self.db.write() as s:
                return add_version(s, scope=scope, article_id=article_id, text=draft.text, author=author,
                                   at=self.clock(), summary=summary)  # fmt: skip
        except IntegrityError:
            raise ArticleVersionConflict(
                f"another version of {article_id!r} was published at the same moment; reload it and send yours again"
            ) from None

    def rollback(self, scope: str, article_id: str, number: int, author: str) -> ArticleVersion:
        """Publish a copy of version `number` (0: the repository's file) as a new version."""
        if number == 0:
            text = self.seed.get((scope, article_id))
        else:
            with self.db.read() as s:
                old = version(s, scope=scope, article_id=article_id, number=number)
            text = old.text if old is not None else None
        if text is None:
            raise UnknownArticle(f"article {article_id!r} in scope {scope!r} has no version {number}")
        return self.publish(scope, article_id, text, author, note=f"tilbage til version {number}; ")

    def preview(self, scope: str, article_id: str, text: str, question: str) -> tuple[Draft, Turn]:
        """What a citizen asking `question` would be answered if `text` were published; nothing
        is stored and this worker's articles stay as they are. Embeds the draft (call it off
        the event loop)."""
        draft = self.check(scope, article_id, text)
        u = self.understanding
        with self._lock:  # a consistent copy, never half of a version being applied
            index, local = u.index.copy(), u.local
        if draft.article is not None:
            index.replace_article(draft.article, u.embedder)  # embeds into the copy only
        else:
            assert draft.overlay is not None
            local = with_overlay(local, draft.overlay)
        other = u.with_articles(index, local)
        tenant = None if scope == NATIONAL else scope
        return draft, decide(other, question, tenant=tenant)

    # --- taking up what was published --------------------------------------------------------------

    def sync(self) -> int:
        """Apply every version published since the last call; returns how many articles changed.
        Blocking (embeds): run it in a thread."""
        with self._lock:
            with self.db.read() as s:
                newest = head(s)
                if newest <= self.applied:
                    return 0
                rows = published_after(s, self.applied)
            latest: dict[tuple[str, str], ArticleVersion] = {}
            for row in rows:
                latest[(row.scope, row.article_id)] = row
            changed = 0
            for key, row in latest.items():
                try:
                    self._apply(row)
                    changed += 1
                except KontaktError as exc:  # a version the current topics no longer accept
                    log.error("article %s of %s version %d not applied: %s", key[1], key[0], row.version, exc)
            self.understanding.use_articles(self.understanding.local)
            self.applied = max([newest, *(r.id for r in rows)])
            if changed:
                log.info("knowledge: %d article(s) updated, newest version id %d", changed, self.applied)
            return changed

    def _apply(self, row: ArticleVersion) -> None:
        u = self.understanding
        draft = self.check(row.scope, row.article_id, row.text)
        if draft.article is not None:
            u.index.replace_article(draft.article, u.embedder)
            u.use_articles(u.local)
        elif draft.overlay is not None:
            u.use_articles(with_overlay(u.local, draft.overlay))
        else:  # pragma: no cover - check_draft returns one of the two
            raise InvalidArticle("front matter", "neither an article nor a local overlay")
        key = (row.scope, row.article_id)
        self._texts[key] = row.text
        self.in_force[key] = row.version


async def run_poller(live: LiveKnowledge, *, interval: float = POLL_SECONDS, stop: asyncio.Event) -> None:
    """`live.sync` every `interval` seconds until `stop`; a failing round is logged and retried."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            break
        try:
            await asyncio.to_thread(live.sync)
        except Exception:  # noqa: BLE001 - keep polling; the next round retries
            log.exception("taking up published knowledge articles failed")


@contextlib.asynccontextmanager
async def knowledge_background(app: Any) -> AsyncIterator[None]:
    """Start-up part: the published articles in force before the worker serves, then polled."""
    state = app.state
    live = LiveKnowledge.from_files(state.understanding, state.db, state.engine.clock, state.settings.articles_dir)
    await asyncio.to_thread(live.sync)
    state.knowledge = live
    stop = asyncio.Event()
    task = asyncio.create_task(run_poller(live, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
