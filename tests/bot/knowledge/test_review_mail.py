"""The weekly reminder to article owners (bot/knowledge/review_mail.py) with a fixed clock, on a
temporary SQLite file and a real PostgreSQL: nothing before the configured hour, one mail per
owner with an address from then on, never a second one that week, not even from two workers
passing at the same instant; owners without an address get none."""

from __future__ import annotations

import datetime as dt
import re
import threading
from datetime import UTC
from email import message_from_bytes
from email import policy as email_policy

import pytest

from bot.config import ROOT
from bot.knowledge.owners import Owner, Owners, Reminders, Weekday
from bot.knowledge.review import ReviewCatalogue
from bot.knowledge.review_mail import body_text, compose, enqueue_reminders, pending_reminders
from bot.knowledge.stale import Kind, ReviewItem
from bot.storage import Database
from bot.storage import outbox as ob
from bot.storage.models import OutboxKind, OutboxStatus
from bot.tenants import load_tenants
from tests.bot.conftest import TENANT

pytestmark = pytest.mark.integration

TENANTS = load_tenants(ROOT / "knowledge" / "tenants.yaml")
# Monday 7 June 2027, week 23 (summer time: 08:00 in Copenhagen is 06:00 UTC)
SLOT = dt.datetime(2027, 6, 7, 6, 0, tzinfo=UTC)
OWNERS = Owners(
    reminders=Reminders(weekday=Weekday.MONDAY, hour=8, soon_days=30,
                        tenants={"rodovre": {"weekday": "tuesday", "hour": 9}}),  # type: ignore[dict-item]
    owners={
        "tmf": Owner(id="tmf", name="Teknik og miljø", email="tmf@kommune.example"),
        "kk_affald": Owner(id="kk_affald", name="Københavns Kommune – affald", tenant="kobenhavn",
                           email="affald@kk.example"),
        "rk_byg": Owner(id="rk_byg", name="Rødovre Kommune – byggesager", tenant="rodovre", email="byg@rk.example"),
        "buf": Owner(id="buf", name="Børn og unge"),  # no address: no mail
    },
)  # fmt: skip
ITEMS = (
    ReviewItem("affald_toemning", "Hvornår bliver mit affald hentet?", "*", Kind.NATIONAL, "tmf",
               dt.date(2026, 5, 1), 365),  # due 2027-05-01: stale
    ReviewItem("affald_storskrald", "Storskrald", "*", Kind.NATIONAL, "tmf", dt.date(2026, 6, 20), 365),  # due soon
    ReviewItem("miljoe_gener", "Støj og lugt", "*", Kind.NATIONAL, "tmf", dt.date(2027, 1, 1), 365),  # not due
    ReviewItem("affald_toemning", "Hvornår bliver mit affald hentet?", "kobenhavn", Kind.LOCAL, "kk_affald",
               dt.date(2026, 12, 6), 180),  # due 2027-06-04: stale
    ReviewItem("byggeri_byggeansoegning", "Byggetilladelse", "rodovre", Kind.LOCAL, "rk_byg",
               dt.date(2026, 12, 6), 180),
    ReviewItem("boern_pladsanvisning", "Pladsanvisning", "*", Kind.NATIONAL, "buf", dt.date(2020, 1, 1), 365),
)  # fmt: skip
CATALOGUE = ReviewCatalogue(OWNERS, ITEMS)
BASE = "https://kontakt.example.dk"


@pytest.fixture
def tenants_in(db: Database, make_engine):
    engine = make_engine()
    engine.ensure_tenant(TENANT, "Københavns Kommune")
    engine.ensure_tenant("rodovre", "Rødovre Kommune")
    return db


def _reminders(db: Database) -> list[ob.OutboxView]:
    with db.read() as s:
        rows = [r for t in ("kobenhavn", "rodovre") for r in ob.items(s, tenant_id=t, kind=OutboxKind.REVIEW_REMINDER)]
        return [ob.OutboxView.of(r) for r in rows]


def _to(item: ob.OutboxView) -> str:
    return str(message_from_bytes(item.payload, policy=email_policy.default)["To"])


def test_nothing_before_the_hour_then_once_per_owner_and_week(tenants_in: Database):
    db = tenants_in
    minute = dt.timedelta(minutes=1)
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT - minute, base_url=BASE) == 0
    assert _reminders(db) == []
    # 08:00 Monday: Copenhagen's and the national owner; Rødovre's time is Tuesday 09:00
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT, base_url=BASE) == 2
    assert sorted(_to(i) for i in _reminders(db)) == ["affald@kk.example", "tmf@kommune.example"]
    # later passes the same week store nothing more, except Rødovre's on Tuesday from 09:00
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT + minute, base_url=BASE) == 0
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT + dt.timedelta(days=1, hours=1), base_url=BASE) == 1
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT + dt.timedelta(days=3), base_url=BASE) == 0
    sunday_2359 = SLOT + dt.timedelta(days=6, hours=15, minutes=59)
    assert enqueue_reminders(db, CATALOGUE, TENANTS, sunday_2359, base_url=BASE) == 0
    assert sorted(_to(i) for i in _reminders(db)) == ["affald@kk.example", "byg@rk.example", "tmf@kommune.example"]
    items = _reminders(db)
    assert {i.dedupe_key for i in items} == {"review-reminder:tmf:2027-W23", "review-reminder:kk_affald:2027-W23",
                                             "review-reminder:rk_byg:2027-W23"}  # fmt: skip
    assert all(i.status is OutboxStatus.PENDING and i.contact_id is None for i in items)
    assert {i.tenant_id for i in items} == {"kobenhavn", "rodovre"}  # national: the default tenant's sender
    # the next Monday at 08:00 is a new week
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT + dt.timedelta(days=7) - minute, base_url=BASE) == 0
    assert enqueue_reminders(db, CATALOGUE, TENANTS, SLOT + dt.timedelta(days=7), base_url=BASE) == 2


def test_rodovres_own_hour_is_tuesday_nine(tenants_in: Database):
    tuesday_9 = dt.datetime(2027, 6, 8, 7, 0, tzinfo=UTC)
    due = {r.owner.id for r in pending_reminders(CATALOGUE, tuesday_9 - dt.timedelta(seconds=1))}
    assert "rk_byg" not in due and {"tmf", "kk_affald"} <= due
    assert "rk_byg" in {r.owner.id for r in pending_reminders(CATALOGUE, tuesday_9)}


def test_two_workers_passing_at_once_store_each_reminder_once(tenants_in: Database):
    other = Database(tenants_in.url)  # a second worker process: its own engine and pool
    try:
        start = threading.Barrier(2)
        counts: list[int] = []

        def worker(database: Database) -> None:
            start.wait()
            counts.append(enqueue_reminders(database, CATALOGUE, TENANTS, SLOT, base_url=BASE))

        threads = [threading.Thread(target=worker, args=(d,)) for d in (tenants_in, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(counts) == 2 and len(counts) == 2
        assert len(_reminders(tenants_in)) == 2
        # and again, each from its own side
        assert enqueue_reminders(other, CATALOGUE, TENANTS, SLOT + dt.timedelta(hours=1), base_url=BASE) == 0
    finally:
        other.dispose()


def test_an_owner_without_an_address_gets_no_mail(tenants_in: Database):
    reminders = pending_reminders(CATALOGUE, SLOT + dt.timedelta(days=3))
    assert "buf" not in {r.owner.id for r in reminders}
    enqueue_reminders(tenants_in, CATALOGUE, TENANTS, SLOT + dt.timedelta(days=3), base_url=BASE)
    assert all("buf" not in i.dedupe_key for i in _reminders(tenants_in))


def test_an_owner_with_nothing_due_gets_no_mail():
    quiet = ReviewCatalogue(OWNERS, tuple(i for i in ITEMS if i.owner != "tmf"))
    assert "tmf" not in {r.owner.id for r in pending_reminders(quiet, SLOT)}


def test_the_mail_is_plain_danish_text_with_the_links():
    [r] = [r for r in pending_reminders(CATALOGUE, SLOT) if r.owner.id == "tmf"]
    assert [(a.id, a.stale) for a in r.articles] == [("affald_toemning", True), ("affald_storskrald", False)]
    msg = compose(r, TENANTS, from_addr="kontakt@kobenhavn.example", sent_at=SLOT, base_url=BASE + "/")
    assert msg["Subject"] == "Artikler til gennemgang i kontakt – uge 23"
    assert msg["To"] == "tmf@kommune.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<review-reminder.tmf.2027-W23@kobenhavn.example>"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    text = msg.get_content()
    assert text.startswith("Kære Teknik og miljø\n")
    assert "Hvornår bliver mit affald hentet?\n  Fælles tekst for alle kommuner. Senest 1. maj 2027, 37 dage over fristen." in text
    assert "Storskrald\n  Fælles tekst for alle kommuner. Senest 20. juni 2027." in text
    assert f"Ret artiklen her: {BASE}/agent/knowledge#affald_toemning" in text
    assert "Skal gennemgås inden for 30 dage:" in text
    assert "Støj og lugt" not in text  # not due
    # no Markdown: no emphasis, headings, list markers, link syntax or code
    assert not re.search(r"\*\*|__|`|\]\(|^#|^\s*[-*+] ", text, re.MULTILINE)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_local_article_names_its_municipality():
    [r] = [r for r in pending_reminders(CATALOGUE, SLOT) if r.owner.id == "kk_affald"]
    text = body_text(r, TENANTS, "")
    assert "Lokal tekst for Københavns Kommune. Senest 4. juni 2027, 3 dage over fristen." in text
    assert "Ret artiklen her: /agent/knowledge#affald_toemning" in text
