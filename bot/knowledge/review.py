"""The review catalogue: every article and overlay with its owner and interval, read from
`knowledge/` (articles, local overlays, owners file) and checked as a whole, so a bad owners file
or an article naming an unknown owner stops the start with the owner and key named.

`ReviewCatalogueFile` holds the catalogue for a running server and reads the files again when one
of them has changed, so an edited article or owners file shows on the next request.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.overlay import load_local
from bot.knowledge.owners import NATIONAL, Owner, Owners, load_owners
from bot.knowledge.stale import ReviewItem, StaleArticle, review_items, stale_articles
from bot.retrieval.articles import load_articles
from bot.tenants import Tenants
from bot.topics import load_contract

OWNERS_FILE = "owners.yaml"  # beside articles/ and local/ in knowledge/
LOCAL_DIR = "local"


@dataclass(frozen=True, slots=True)
class ReviewCatalogue:
    owners: Owners
    items: tuple[ReviewItem, ...]

    def stale(self, now: dt.datetime, tenant_id: str | None, *, soon_days: int = 0) -> list[StaleArticle]:
        """The tenant's stale articles (national and its own overlays), in its time zone."""
        zone = self.owners.reminders.for_tenant(tenant_id or NATIONAL).zone
        return stale_articles(self.items, now, tenant_id, soon_days=soon_days, zone=zone)

    def owner(self, owner_id: str) -> Owner:
        found = self.owners.get(owner_id)
        assert found is not None, "review_items checked every owner id"
        return found


@dataclass(frozen=True, slots=True)
class KnowledgePaths:
    """Where the knowledge lives: `knowledge/articles`, `knowledge/local`, `knowledge/owners.yaml`
    and the topic contract the articles are checked against."""

    articles: Path
    topics: Path

    @property
    def local(self) -> Path:
        return self.articles.parent / LOCAL_DIR

    @property
    def owners(self) -> Path:
        return self.articles.parent / OWNERS_FILE

    def stamp(self) -> tuple[int, int]:
        """(newest modification, number of files) over everything the catalogue reads."""
        files = [self.owners, self.topics, *self.articles.rglob("*.md"), *self.local.rglob("*")]
        times = [p.stat().st_mtime_ns for p in files if p.is_file()]
        return max(times, default=0), len(times)


def load_catalogue(paths: KnowledgePaths, tenants: Tenants) -> ReviewCatalogue:
    """Read and check everything; `OwnersError`, `OverlayError` or `ArticleError` otherwise."""
    national = load_articles(paths.articles, load_contract(paths.topics))
    local = load_local(paths.local, national, known_tenants=tenants.by_id)
    owners = load_owners(paths.owners, known_tenants=set(tenants.by_id))
    return ReviewCatalogue(owners, tuple(review_items(national, local.overlays(), owners, paths.owners)))


class ReviewCatalogueFile:
    """The catalogue of a running server, read again when a file under knowledge/ changes."""

    def __init__(self, paths: KnowledgePaths, tenants: Tenants) -> None:
        self.paths, self.tenants = paths, tenants
        self._lock = threading.Lock()
        self._stamp = paths.stamp()
        self._catalogue = load_catalogue(paths, tenants)  # at start-up: a bad file stops the start

    def get(self) -> ReviewCatalogue:
        stamp = self.paths.stamp()
        with self._lock:
            if stamp != self._stamp:
                self._catalogue, self._stamp = load_catalogue(self.paths, self.tenants), stamp
            return self._catalogue
