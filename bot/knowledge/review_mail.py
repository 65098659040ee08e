"""The weekly reminder to article owners: one plain-text Danish mail per owner with an e-mail
address and per week, listing the owner's stale articles and those due soon, each with the link to
its editing page (`/agent/knowledge#<id>`).

The mail goes through the outbox (`bot.storage.outbox`), so an SMTP outage delays it and loses
nothing. Its `dedupe_key` is `review-reminder:<owner>:<ISO week>`, unique in the outbox table: two
passes, or two workers sharing the database, enqueue it once.

When: from this week's slot on (the owners file's `reminders`: a weekday and hour in the owner's
tenant's time zone; national owners use the installation's), until the week ends. The list is
taken as of the slot, so a worker that starts on Wednesday sends what Monday's would have.

    due = pending_reminders(catalogue, now)            # pure
    enqueue_reminders(db, catalogue, tenants, now, base_url="https://kontakt.kk.dk")
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from importlib import resources

from bot.knowledge.owners import NATIONAL, Owner
from bot.knowledge.review import ReviewCatalogue
from bot.knowledge.stale import Kind, StaleArticle, stale_articles
from bot.storage import outbox as ob
from bot.storage.db import Database
from bot.storage.models import Channel, OutboxKind
from bot.tenants import Tenants
from bot.yaml_safe import safe_load

KEY_PREFIX = "review-reminder:"
EDIT_PATH = "/agent/knowledge#"  # the article's editing page for supervisors
WIDTH = 72  # plain-text lines wrap here, as mail programs expect
FALLBACK_FROM = "kontakt@localhost"


@dataclass(frozen=True, slots=True)
class Reminder:
    """One owner's reminder for one week, as of the week's slot."""

    owner: Owner
    week: str  # ISO week, "2027-W23"
    as_of: dt.datetime  # the slot (UTC)
    articles: tuple[StaleArticle, ...]
    soon_days: int

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.owner.id}:{self.week}"


def pending_reminders(catalogue: ReviewCatalogue, now: dt.datetime) -> list[Reminder]:
    """The reminders owed at `now`: every owner with an address whose slot this week has come,
    with something stale or due soon at that slot. Pure; whether one was sent is the outbox's
    business (`enqueue_reminders`)."""
    if now.tzinfo is None:
        raise ValueError("pending_reminders: pass an aware `now` (UTC)")
    settings = catalogue.owners.reminders
    out = []
    for owner in catalogue.owners.owners.values():
        if not owner.email:
            continue
        when = settings.for_tenant(owner.tenant)
        slot = when.slot(now)
        if now < slot:
            continue
        mine = [i for i in catalogue.items if i.owner == owner.id]
        found = stale_articles(mine, slot, None, soon_days=settings.soon_days, zone=when.zone)
        if found:
            out.append(Reminder(owner, when.week(now), slot, tuple(found), settings.soon_days))
    return out


def enqueue_reminders(
    db: Database, catalogue: ReviewCatalogue, tenants: Tenants, now: dt.datetime, *, base_url: str = ""
) -> int:
    """Store each owed reminder in the outbox once (by its key); the number stored now."""
    stored = 0
    for r in pending_reminders(catalogue, now):
        tenant = tenants.get(r.owner.tenant if r.owner.tenant != NATIONAL else None)
        sender = tenant.email or FALLBACK_FROM
        msg = compose(r, tenants, from_addr=sender, sent_at=now, base_url=base_url)
        with db.write() as s:
            _, created = ob.enqueue(s, tenant_id=tenant.id, channel=Channel.EMAIL, kind=OutboxKind.REVIEW_REMINDER,
                                    payload=bytes(msg), dedupe_key=r.key, now=now,
                                    message_id=str(msg["Message-ID"]))  # fmt: skip
        stored += created
    return stored


# --- the mail --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def texts() -> dict[str, object]:
    """The Danish wording (bot/resources/review_mail_da.yml)."""
    data = safe_load(resources.files("bot.resources").joinpath("review_mail_da.yml").read_text("utf-8"))
    return dict(data)


def _t(key: str, **values: object) -> str:
    return str(texts()[key]).format(**values)


def danish_date(d: dt.date) -> str:
    """7. juni 2027"""
    months = texts()["months"]
    assert isinstance(months, list) and len(months) == 12
    return f"{d.day}. {months[d.month - 1]} {d.year}"


def _days(n: int) -> str:
    return f"{n} {_t('day') if n == 1 else _t('days')}"


def _block(a: StaleArticle, tenants: Tenants, base_url: str) -> list[str]:
    if a.stale:
        when = _t("stale_line", due=danish_date(a.due), days=_days(a.days_overdue))
    elif a.days_overdue == 0:
        when = _t("today_line", due=danish_date(a.due))
    else:
        when = _t("soon_line", due=danish_date(a.due))
    scope = (_t("local_note", tenant=tenants.get(a.tenant).name) if a.kind is Kind.LOCAL or a.tenant != NATIONAL
             else _t("national_note"))  # fmt: skip
    link = f"{base_url.rstrip('/')}{EDIT_PATH}{a.id}"
    return [f"{a.title}", f"  {scope}. {when}", f"  {_t('link_line', link=link)}", ""]


def body_text(r: Reminder, tenants: Tenants, base_url: str = "") -> str:
    """The mail's text: greeting, the stale articles, those due soon, what to do."""
    lines = [_t("greeting", name=r.owner.name), "", *textwrap.wrap(_t("intro"), WIDTH), ""]
    stale = [a for a in r.articles if a.stale]
    soon = [a for a in r.articles if not a.stale]
    if stale:
        lines += [_t("stale_heading"), ""]
        for a in stale:
            lines += _block(a, tenants, base_url)
    if soon:
        lines += [_t("soon_heading", soon_days=r.soon_days), ""]
        for a in soon:
            lines += _block(a, tenants, base_url)
    lines += [*textwrap.wrap(_t("outro"), WIDTH), "", *textwrap.wrap(_t("footer"), WIDTH), ""]
    return "\n".join(lines)


def compose(r: Reminder, tenants: Tenants, *, from_addr: str, sent_at: dt.datetime, base_url: str = "") -> EmailMessage:
    """The MIME message: plain text in UTF-8, marked as automatic (RFC 3834) so no auto-reply
    answers it, with a Message-ID derived from the reminder's key (a resend is the same mail)."""
    msg = EmailMessage()
    msg["From"] = formataddr(("kontakt", from_addr))
    msg["To"] = r.owner.email
    msg["Subject"] = _t("subject", week=r.week.split("-W")[1].lstrip("0"))
    msg["Date"] = format_datetime(sent_at.astimezone(dt.UTC))
    domain = from_addr.rsplit("@", 1)[-1]
    msg["Message-ID"] = f"<{r.key.replace(':', '.')}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body_text(r, tenants, base_url), subtype="plain", charset="utf-8")
    return msg
