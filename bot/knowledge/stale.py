"""Which articles are due for review: the date last checked plus the review interval.

A local overlay carries its own interval (`review_interval_days`); a national article gets its
owner's interval from the review policy (`knowledge/local/review.yaml`), else the default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.knowledge.overlay import LocalOverlay, OverlayError
from bot.retrieval.articles import Article

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """How often facts must be checked again: per owner, else the default."""

    default_days: int = 365
    by_owner: Mapping[str, int] = field(default_factory=dict)

    def interval(self, owner: str) -> int:
        return self.by_owner.get(owner, self.default_days)


@dataclass(frozen=True, slots=True)
class StaleArticle:
    id: str
    tenant: str  # "*" for a national article
    owner: str
    reviewed: dt.date
    due: dt.date
    days_overdue: int
    kind: str  # "national" or "local"


def stale_articles(
    articles: Iterable[Article | LocalOverlay], now: dt.datetime, policy: ReviewPolicy | None = None
) -> list[StaleArticle]:
    """Every article or overlay whose review date plus interval lies before today (Copenhagen
    time), most overdue first. `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (store UTC, compare in Europe/Copenhagen)")
    policy = policy or ReviewPolicy()
    today = now.astimezone(COPENHAGEN).date()
    out = []
    for a in articles:
        if isinstance(a, LocalOverlay):
            item_id, tenant, days, kind = a.overrides, a.tenant, a.review_interval_days, "local"
        else:
            item_id, tenant, days, kind = a.id, a.tenant, policy.interval(a.owner), "national"
        due = a.reviewed + dt.timedelta(days=days)
        if due < today:
            out.append(StaleArticle(item_id, tenant, a.owner, a.reviewed, due, (today - due).days, kind))
    return sorted(out, key=lambda s: (-s.days_overdue, s.tenant, s.id))


def load_policy(path: Path) -> ReviewPolicy:
    """`knowledge/local/review.yaml`: `default_interval_days` and `owners: {owner: days}`."""
    if not path.is_file():
        return ReviewPolicy()
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise OverlayError("*", path, "review policy", f"not valid YAML: {exc}") from None
    default = meta.get("default_interval_days", 365)
    owners = meta.get("owners") or {}
    if not isinstance(default, int) or default <= 0:
        raise OverlayError("*", path, "default_interval_days", "must be a positive whole number of days")
    if not isinstance(owners, dict) or not all(isinstance(v, int) and v > 0 for v in owners.values()):
        raise OverlayError("*", path, "owners", "must map owner names to positive whole numbers of days")
    return ReviewPolicy(default, {str(k): v for k, v in owners.items()})
