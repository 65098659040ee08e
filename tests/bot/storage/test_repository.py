"""bot.storage: types, constraints and tenant-scoped queries, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text

from bot.errors import NaiveDatetime, UnknownAgent, UnknownContact, UnknownQueue, UnknownTenant
from bot.storage import Database
from bot.storage import repository as repo
from bot.storage.models import (
    Agent,
    AgentRole,
    AgentSkill,
    Author,
    Channel,
    Contact,
    ContactState,
    Direction,
    EventKind,
    Offer,
    OfferStatus,
    QueueRow,
    Tenant,
)
from bot.storage.repository import EventView, MessageView

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(db: Database, tenant: str = "kobenhavn") -> str:
    with db.write() as s:
        s.add(Tenant(id=tenant, name=tenant.title(), created_at=T0))
        s.flush()
        s.add(QueueRow(tenant_id=tenant, id="basis", name="Basis", priority=0, avg_handle_seconds=300))
        s.add(Agent(id=f"{tenant}-anna", tenant_id=tenant, name="Anna", role=AgentRole.AGENT, created_at=T0))
        s.flush()
        c = Contact(id=f"{tenant}-c1", tenant_id=tenant, channel=Channel.CHAT, external_ref="s1",
                    state=ContactState.BOT, created_at=T0, updated_at=T0, offer_attempts=0, authenticated=False)
        s.add(c)
    return f"{tenant}-c1"


def test_times_round_trip_as_aware_utc(db: Database) -> None:
    seed(db)
    cph = timezone(timedelta(hours=1))
    with db.write() as s:
        c = repo.get_contact(s, tenant_id="kobenhavn", contact_id="kobenhavn-c1")
        c.sla_due_at = datetime(2026, 3, 2, 12, 30, tzinfo=cph)
    with db.read() as s:
        c = repo.get_contact(s, tenant_id="kobenhavn", contact_id="kobenhavn-c1")
        assert c.sla_due_at == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
        assert c.sla_due_at.tzinfo is UTC and c.created_at == T0


def test_naive_datetime_is_refused(db: Database) -> None:
    seed(db)
    with pytest.raises((NaiveDatetime, sa_exc.StatementError)):
        with db.write() as s:
            c = repo.get_contact(s, tenant_id="kobenhavn", contact_id="kobenhavn-c1")
            c.sla_due_at = datetime(2026, 3, 2, 12, 30)
    with db.read() as s:
        assert repo.get_contact(s, tenant_id="kobenhavn", contact_id="kobenhavn-c1").sla_due_at is None


def test_external_ref_unique_per_tenant_and_channel(db: Database) -> None:
    seed(db)
    seed(db, "aarhus")  # same external_ref "s1" in another tenant is fine
    with pytest.raises(sa_exc.IntegrityError):
        with db.write() as s:
            s.add(Contact(id="dupe", tenant_id="kobenhavn", channel=Channel.CHAT, external_ref="s1",
                          state=ContactState.BOT, created_at=T0, updated_at=T0))  # fmt: skip


def test_client_message_id_unique_per_contact(db: Database) -> None:
    cid = seed(db)
    with db.write() as s:
        m = repo.add_message(s, tenant_id="kobenhavn", contact_id=cid, direction=Direction.IN,
                             author=Author.CITIZEN, text="ring 12 34 56 78", at=T0, client_message_id="x")  # fmt: skip
        assert m.text_redacted == "ring [TELEFON]"
        repo.add_message(s, tenant_id="kobenhavn", contact_id=cid, direction=Direction.IN,
                         author=Author.CITIZEN, text="no id", at=T0)  # fmt: skip
        repo.add_message(s, tenant_id="kobenhavn", contact_id=cid, direction=Direction.IN,
                         author=Author.CITIZEN, text="no id either", at=T0)  # NULLs never clash
    with pytest.raises(sa_exc.IntegrityError):
        with db.write() as s:
            repo.add_message(s, tenant_id="kobenhavn", contact_id=cid, direction=Direction.IN,
                             author=Author.CITIZEN, text="again", at=T0, client_message_id="x")  # fmt: skip
    with db.read() as s:
        assert len(repo.messages(s, tenant_id="kobenhavn", contact_id=cid)) == 3


@pytest.mark.parametrize("level", [-1, 10])
def test_skill_level_check_in_database(db: Database, level: int) -> None:
    seed(db)
    with pytest.raises(sa_exc.IntegrityError):
        with db.write() as s:
            s.add(AgentSkill(tenant_id="kobenhavn", agent_id="kobenhavn-anna", queue_id="basis", level=level))


def test_foreign_keys_are_enforced(db: Database) -> None:
    seed(db)
    with pytest.raises(sa_exc.IntegrityError):
        with db.write() as s:
            s.add(AgentSkill(tenant_id="kobenhavn", agent_id="kobenhavn-anna", queue_id="nope", level=3))


def test_one_pending_offer_per_contact(db: Database) -> None:
    cid = seed(db)

    def offer(status: OfferStatus) -> Offer:
        return Offer(tenant_id="kobenhavn", contact_id=cid, agent_id="kobenhavn-anna", skill=1, overflow=False,
                     offered_at=T0, expires_at=T0, status=status)  # fmt: skip

    with db.write() as s:
        s.add_all([offer(OfferStatus.EXPIRED), offer(OfferStatus.DECLINED), offer(OfferStatus.PENDING)])
    with pytest.raises(sa_exc.IntegrityError):
        with db.write() as s:
            s.add(offer(OfferStatus.PENDING))


def test_queries_are_tenant_scoped(db: Database) -> None:
    seed(db)
    seed(db, "aarhus")
    with db.read() as s:
        with pytest.raises(UnknownContact):
            repo.get_contact(s, tenant_id="aarhus", contact_id="kobenhavn-c1")
        with pytest.raises(UnknownAgent):
            repo.get_agent(s, tenant_id="aarhus", agent_id="kobenhavn-anna")
        with pytest.raises(UnknownQueue):
            repo.get_queue(s, tenant_id="aarhus", queue_id="nope")
        with pytest.raises(UnknownTenant):
            repo.get_contact(s, tenant_id="odense", contact_id="kobenhavn-c1")
        assert [c.id for c in repo.waiting_contacts(s, tenant_id="aarhus")] == []


def test_events_are_ordered_and_carry_json(db: Database) -> None:
    cid = seed(db)
    with db.write() as s:
        for i in range(3):
            repo.add_event(s, tenant_id="kobenhavn", kind=EventKind.MESSAGE_RECEIVED, at=T0, contact_id=cid,
                           data={"i": i, "nested": {"æøå": [1, 2]}})  # fmt: skip
    with db.read() as s:
        events = repo.events(s, tenant_id="kobenhavn", contact_id=cid)
        assert [e.data["i"] for e in events] == [0, 1, 2]
        assert repo.EventView.of(events[0]).data["nested"] == {"æøå": [1, 2]}
        assert repo.events(s, tenant_id="aarhus") == []


def test_citizen_history_matches_phone_or_email(db: Database) -> None:
    seed(db)
    with db.write() as s:
        for i, (phone, email) in enumerate([("111", None), (None, "A@B.dk"), ("999", "z@z.dk")]):
            s.add(Contact(id=f"h{i}", tenant_id="kobenhavn", channel=Channel.VOICE, external_ref=f"h{i}",
                          state=ContactState.CLOSED, created_at=T0 + timedelta(minutes=i), updated_at=T0,
                          citizen_phone=phone, citizen_email=email))  # fmt: skip
    with db.read() as s:
        found = repo.citizen_history(s, tenant_id="kobenhavn", phone="111", email="a@b.dk", exclude_contact_id="x")
        assert [c.id for c in found] == ["h1", "h0"]
        assert repo.citizen_history(s, tenant_id="kobenhavn", phone=None, email=None, exclude_contact_id="x") == []


def test_sqlite_runs_with_wal_and_foreign_keys(db: Database) -> None:
    if not db.url.startswith("sqlite"):
        assert db.is_postgresql
        with db.read() as s:
            assert s.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
        return
    with db.read() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_repr_masks_password() -> None:
    db = Database("postgresql+psycopg://app:secret@127.0.0.1:1/app")
    assert "secret" not in repr(db)
    db.dispose()


def test_read_transaction_rolls_back_on_error(db: Database) -> None:
    seed(db)
    with pytest.raises(RuntimeError):
        with db.write() as s:
            repo.get_contact(s, tenant_id="kobenhavn", contact_id="kobenhavn-c1").topic = "x"
            raise RuntimeError("boom")
    with db.read() as s:
        assert s.scalars(select(Contact.topic).where(Contact.id == "kobenhavn-c1")).one() is None


def test_message_and_event_views_read_what_the_orm_reads(db: Database) -> None:
    cid = seed(db)
    other = seed(db, "aarhus")
    with db.write() as s:
        for k, author in enumerate((Author.CITIZEN, Author.BOT, Author.CITIZEN)):
            repo.add_message(s, tenant_id="kobenhavn", contact_id=cid, direction=Direction.IN if k != 1 else Direction.OUT,
                             author=author, text=f"besked {k} 12 34 56 78", at=T0 + timedelta(seconds=k),
                             client_message_id=f"m{k}" if k else None)  # fmt: skip
            repo.add_event(s, tenant_id="kobenhavn", kind=EventKind.MESSAGE_RECEIVED, at=T0 + timedelta(seconds=k),
                           contact_id=cid, data={"message_id": k, "decision": {"action": "answer", "candidates": ["a"]}})  # fmt: skip
        repo.add_message(s, tenant_id="aarhus", contact_id=other, direction=Direction.IN, author=Author.CITIZEN,
                         text="en anden kommune", at=T0)  # fmt: skip
    with db.read() as s:
        orm_messages = tuple(MessageView.of(m) for m in repo.messages(s, tenant_id="kobenhavn", contact_id=cid))
        orm_events = tuple(EventView.of(e) for e in repo.events(s, tenant_id="kobenhavn", contact_id=cid))
    with db.read() as s:
        messages = repo.message_views(s, tenant_id="kobenhavn", contact_id=cid)
        events = repo.event_views(s, tenant_id="kobenhavn", contact_id=cid)
    assert len(messages) == 3 and messages == orm_messages
    assert messages[0].created_at.tzinfo is not None and messages[0].text_redacted == "besked 0 [TELEFON]"
    assert [(e.id, e.kind, e.at, e.contact_id, e.agent_id, dict(e.data)) for e in events] == [
        (e.id, e.kind, e.at, e.contact_id, e.agent_id, dict(e.data)) for e in orm_events
    ]
    assert len(events) == 3 and events[2].data["decision"] == {"action": "answer", "candidates": ["a"]}
