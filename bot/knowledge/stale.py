"""Which articles are due for review: the date last checked plus the review interval.

The interval of an article or local overlay is its own `review_interval_days`, else its owner's
default from `knowledge/owners.yaml`, else the installation's (`default_interval_days`, 365).
An article is stale from the day after its due date, counted in the tenant's time zone
(Europe/Copenhagen): reviewed 2026-01-10 with 30 days is due 2026-02-09 and stale on 2026-02-10.

    items = review_items(national, local.overlays(), owners)      # checks every owner id
    stale_articles(items, now, "rodovre")                          # national + Rødovre's overlays
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.knowledge.overlay import LocalOverlay
from bot.knowledge.owners import NATIONAL, Owners, OwnersError
from bot.retrieval.articles import Article

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


class Kind(StrEnum):
    NATIONAL = "national"  # knowledge/articles/: every municipality (or one, by its `tenant`)
    LOCAL = "local"  # knowledge/local/<tenant>/: one municipality's overlay on a national article


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One article or overlay as review sees it: whose it is, when it was checked, how often."""

    id: str  # the article id (an overlay: the id of the national article it completes)
    title: str
    tenant: str  # "*" for an article of every municipality
    kind: Kind
    owner: str  # an owner id of knowledge/owners.yaml
    reviewed: dt.date
    interval_days: int

    @property
    def due(self) -> dt.date:
        return self.reviewed + dt.timedelta(days=self.interval_days)


@dataclass(frozen=True, slots=True)
class StaleArticle:
    """An item past (or, asked for, near) its due date on `today`. `days_overdue` is positive
    when stale and zero or negative (days left) when only due soon."""

    id: str
    title: str
    tenant: str
    kind: Kind
    owner: str
    reviewed: dt.date
    due: dt.date
    days_overdue: int

    @property
    def stale(self) -> bool:
        return self.days_overdue > 0


def review_items(articles: Iterable[Article], overlays: Iterable[LocalOverlay], owners: Owners,
                 where: object = "knowledge/owners.yaml") -> list[ReviewItem]:  # fmt: skip
    """Every national article and local overlay with its interval resolved. An owner id the
    owners file does not list, or a local unit owning another municipality's overlay, is an
    `OwnersError` naming the article and the owner."""
    titles: dict[str, str] = {}
    out: list[ReviewItem] = []
    for a in articles:
        titles[a.id] = a.title
        _check_owner(owners, a.owner, a.tenant, f"article {a.id!r}", where)
        days = a.review_interval_days or owners.interval(a.owner)
        out.append(ReviewItem(a.id, a.title, a.tenant, Kind.NATIONAL, a.owner, a.reviewed, days))
    for o in overlays:
        _check_owner(owners, o.owner, o.tenant, f"local overlay {o.tenant}/{o.overrides}", where)
        days = o.review_interval_days or owners.interval(o.owner)
        out.append(ReviewItem(o.overrides, titles.get(o.overrides, o.overrides), o.tenant, Kind.LOCAL, o.owner,
                              o.reviewed, days))  # fmt: skip
    return out


def _check_owner(owners: Owners, owner_id: str, tenant: str, what: str, where: object) -> None:
    owner = owners.get(owner_id)
    if owner is None:
        raise OwnersError(where, owner_id, "owner", f"{what} names this owner, but the owners file does not list it; "
                          f"known owners: {', '.join(sorted(owners.owners)) or 'none'}")  # fmt: skip
    if owner.tenant != NATIONAL and owner.tenant != tenant:
        raise OwnersError(where, owner_id, "tenant", f"{what} (tenant {tenant!r}) names an owner of tenant "
                          f"{owner.tenant!r}; one municipality's unit owns only its own content")  # fmt: skip


def visible_to(item: ReviewItem, tenant_id: str | None) -> bool:
    """National articles for every municipality and its own content; None: everything."""
    return tenant_id is None or item.tenant in (NATIONAL, tenant_id)


def stale_articles(
    items: Iterable[ReviewItem],
    now: dt.datetime,
    tenant_id: str | None = None,
    *,
    soon_days: int = 0,
    zone: ZoneInfo = COPENHAGEN,
) -> list[StaleArticle]:
    """The items of `tenant_id` (national ones and its own; None: every tenant's) whose due date
    lies before today in `zone`, and with `soon_days` also those due within that many days; most
    overdue first. `now` must be timezone-aware. Pure: the same input gives the same list."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (store UTC, compare in the tenant's time zone)")
    today = now.astimezone(zone).date()
    out = []
    for item in items:
        if not visible_to(item, tenant_id):
            continue
        overdue = (today - item.due).days
        if overdue > 0 or (soon_days > 0 and overdue >= -soon_days):
            out.append(StaleArticle(item.id, item.title, item.tenant, item.kind, item.owner, item.reviewed, item.due,
                                    overdue))  # fmt: skip
    return sorted(out, key=lambda s: (-s.days_overdue, s.tenant, s.id, s.kind))
