"""bot.retention: pure due-date decision and anonymisation of old contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import ConversationEngine
from bot.errors import NaiveDatetime, RetentionError
from bot.retention import (
    ANON_PREFIX,
    MessageMode,
    RetentionPolicy,
    is_due,
    run_retention,
    scrub,
    scrub_packet,
)
from bot.routing.handoff import HandoffPacket
from bot.routing.skills import AgentState
from bot.storage import Database
from bot.storage.models import ContactState
from bot.types import Action, HandoffReason, TriageDecision
from tests.bot.conftest import TENANT, FakeClock

CPR = "010190-1234"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def handoff() -> TriageDecision:
    return TriageDecision(action=Action.HANDOFF, topic="dialog_menneske", queue="borgerservice_basis",
                          sensitive=False, confidence=0.95, reason=HandoffReason.ASKED_FOR_HUMAN)  # fmt: skip


def closed_chat(engine: ConversationEngine, clock: FakeClock, ref: str = "sess-1", agent: str = "bo") -> str:
    """A chat with identity, a CPR in the text, a handoff packet, agent reply and close."""
    engine.add_agent(TENANT, agent, agent.title(), skills={"borgerservice_basis": 5})
    engine.set_agent_state(TENANT, agent, AgentState.AVAILABLE)
    c = engine.open_contact(TENANT, "chat", ref, name="Mette Hansen", phone="+4520123456", email="mette@example.dk")
    engine.record_inbound(TENANT, c.id, f"Mit cpr er {CPR} og jeg bor på Amagerbrogade 10. Ring 20 12 34 56.")
    engine.request_handoff(TENANT, c.id, handoff(), HandoffReason.ASKED_FOR_HUMAN)
    offer = engine.route(TENANT)[0]
    engine.accept_offer(TENANT, offer.id, offer.agent_id)
    engine.agent_reply(TENANT, offer.agent_id, c.id, "Hej Mette, jeg skriver til mette@example.dk.")
    engine.close(TENANT, offer.agent_id, c.id, "straksafklaret")
    return c.id


def closed_with_task(engine: ConversationEngine, ref: str = "sess-2") -> str:
    c = engine.open_contact(TENANT, "chat", ref, name="Ole Olsen")
    engine.record_inbound(TENANT, c.id, "Ring mig op om boligstøtte")
    engine.leave_message(TENANT, c.id, "+45 30 30 30 30", "Ole vil høre om boligstøtte, cpr 020202-2222")
    engine.add_agent(TENANT, "task-agent", "Tina")
    engine.complete_task(TENANT, "task-agent", engine.tasks(TENANT)[0].id, "besked_taget")
    return c.id


# --- pure ---------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("state", "finished_days_ago", "due"),
    [
        (ContactState.CLOSED, 181, True), (ContactState.CLOSED, 180, True), (ContactState.CLOSED, 179, False),
        (ContactState.ABANDONED, 200, True), (ContactState.QUEUED, 400, False), (ContactState.BOT, 400, False),
        (ContactState.MESSAGE_LEFT, 400, False),
    ],
)  # fmt: skip
def test_retention_is_due(state: ContactState, finished_days_ago: int, due: bool) -> None:
    at = NOW - timedelta(days=finished_days_ago)
    assert is_due(state, at, at, NOW, 180) is due


@pytest.mark.unit
def test_retention_is_due_uses_updated_at_when_never_closed() -> None:
    old, recent = NOW - timedelta(days=200), NOW - timedelta(days=2)
    assert is_due(ContactState.ABANDONED, None, old, NOW, 180)
    assert not is_due(ContactState.CLOSED, recent, old, NOW, 180)


@pytest.mark.unit
def test_retention_refuses_bad_policy_and_naive_now() -> None:
    with pytest.raises(RetentionError, match="at least 1 day"):
        RetentionPolicy(days=0)
    with pytest.raises(NaiveDatetime):
        is_due(ContactState.CLOSED, NOW, NOW, datetime(2026, 1, 1), 180)


@pytest.mark.unit
def test_retention_scrub_drops_identity_keys_and_redacts_strings() -> None:
    data = {"from": "queued", "phone": "+4520123456", "nested": [{"x": f"cpr {CPR}"}], "n": 3}
    assert scrub(data) == {"from": "queued", "nested": [{"x": "cpr [CPR]"}], "n": 3}


@pytest.mark.unit
def test_retention_scrub_packet_masks_personal_entities_by_type() -> None:
    entities = [{"entity": "cpr", "value": "310490-1234", "text": "310490-1234"},  # NLU-valid, no real date
                {"entity": "telefon", "value": "20123456", "text": "20 12 34 56"},
                {"entity": "email", "value": "a@b.dk", "text": "A@b.dk"},
                {"entity": "adresse", "value": "Vestergade 12", "text": "Vestergade 12"}]  # fmt: skip
    out = scrub_packet({"summary": "", "transcript": [], "entities": entities}, MessageMode.REDACT)
    assert [(e["value"], e["text"]) for e in out["entities"]] == [
        ("[CPR]", "[CPR]"), ("[TELEFON]", "[TELEFON]"), ("[E-MAIL]", "[E-MAIL]"), ("Vestergade 12", "Vestergade 12"),
    ]  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("mode", list(MessageMode))
def test_retention_scrubbed_packet_stays_a_valid_packet(mode: MessageMode, engine: ConversationEngine,
                                                        clock: FakeClock) -> None:
    cid = closed_chat(engine, clock)
    stored = engine.handoff_packets(TENANT, cid)[0].model_dump(mode="json")
    packet = HandoffPacket.model_validate(scrub_packet(stored, mode))
    assert (packet.identity.name, packet.identity.phone, packet.identity.email) == (None, None, None)
    assert CPR not in packet.model_dump_json() and "20123456" not in packet.model_dump_json()


# --- on the database ----------------------------------------------------------------------------


def _dump(db: Database, tenant: str) -> str:
    """Every text column of the tenant's contacts, messages, tasks, packets and events."""
    from sqlalchemy import select

    from bot.storage.models import Contact, Event, Handoff, Message, Task

    out = []
    with db.read() as s:
        for model in (Contact, Message, Task, Handoff, Event):
            for row in s.scalars(select(model).where(model.tenant_id == tenant)):
                out.append(repr({k: v for k, v in vars(row).items() if not k.startswith("_")}))
    return "\n".join(out)


@pytest.mark.integration
def test_retention_anonymises_old_closed_contacts_and_keeps_statistics(
    db: Database, engine: ConversationEngine, clock: FakeClock
) -> None:
    old = closed_chat(engine, clock, "old")
    task_contact = closed_with_task(engine)
    kinds_before = [(e.kind, e.at) for e in engine.events(TENANT)]
    clock.advance(timedelta(days=100).total_seconds())
    young = closed_chat(engine, clock, "young", agent="ib")
    later = clock.now + timedelta(days=100)  # `old` is 200 days old, `young` 100

    dry = run_retention(db, now=later, dry_run=True)
    assert dry.contacts == 2 and dry.messages_redacted == 2 and dry.handoffs == 1 and dry.tasks == 1
    assert "Mette Hansen" in _dump(db, TENANT) and CPR in _dump(db, TENANT)  # the dry run wrote nothing

    done = run_retention(db, now=later)
    assert done == dry
    for cid in (old, task_contact):
        c = engine.contact(TENANT, cid)
        assert (c.citizen_name, c.citizen_phone, c.citizen_email) == (None, None, None)
        assert c.external_ref == ANON_PREFIX + cid and c.outcome is not None and c.state is ContactState.CLOSED
        texts = [m.text for m in engine.transcript(TENANT, cid)]
        assert texts
        assert all(CPR not in t and "20 12 34 56" not in t and "mette@example.dk" not in t for t in texts)
    assert "[CPR]" in engine.transcript(TENANT, old)[0].text
    assert engine.contact(TENANT, young).citizen_name == "Mette Hansen"  # too young
    assert CPR in engine.transcript(TENANT, young)[0].text
    packet = engine.handoff_packets(TENANT, old)[0]
    assert packet.identity.phone is None and packet.queue.id == "borgerservice_basis"
    assert [(e.kind, e.at) for e in engine.events(TENANT)][: len(kinds_before)] == kinds_before  # events kept

    dump = _dump(db, TENANT)
    assert "Ole Olsen" not in dump and "020202-2222" not in dump and "30 30 30 30" not in dump
    assert run_retention(db, now=later).as_dict() == {k: 0 for k in done.as_dict()}  # idempotent


@pytest.mark.integration
def test_retention_delete_mode_tenant_filter_and_days(db: Database, engine: ConversationEngine,
                                                      clock: FakeClock) -> None:
    cid = closed_chat(engine, clock)
    engine.ensure_tenant("aarhus", "Aarhus Kommune")
    other = engine.open_contact("aarhus", "chat", "a-1", name="Aase")
    engine.mark_abandoned("aarhus", other.id)
    later = clock.now + timedelta(days=31)
    assert run_retention(db, now=later).contacts == 0  # default 180 days
    counts = run_retention(db, now=later, policy=RetentionPolicy(days=30, messages=MessageMode.DELETE),
                           tenant_id=TENANT)
    assert counts.contacts == 1 and counts.messages_deleted == 2
    assert engine.transcript(TENANT, cid) == []
    assert engine.contact("aarhus", other.id).citizen_name == "Aase"  # other tenant untouched
    assert engine.handoff_packets(TENANT, cid)[0].transcript == ()


@pytest.mark.integration
def test_retention_cli_dry_run_prints_counts(tmp_path, capsys, monkeypatch) -> None:
    from bot.__main__ import main
    from bot.config import get_settings

    monkeypatch.setenv("KONTAKT_DATABASE_URL", f"sqlite:///{tmp_path / 'k.sqlite3'}")
    get_settings.cache_clear()
    try:
        assert main(["retention", "--days", "30", "--dry-run"]) == 0
        assert main(["retention", "--days", "0"]) == 2
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert "retention 30 days, all tenants" in out.out and "would change: contacts 0" in out.out
    assert "at least 1 day" in out.err


def test_retention_empties_stored_raw_mail_and_sent_outbox_items(
    db: Database, engine: ConversationEngine, clock: FakeClock
) -> None:
    from bot.storage.models import (
        Channel,
        InboundMail,
        InboundMailStatus,
        OutboxItem,
        OutboxKind,
        OutboxStatus,
    )

    contact_id = closed_chat(engine, clock, ref="mail-thread-1")
    raw = f"From: mette@example.dk\r\nSubject: cpr {CPR}\r\n\r\nMit cpr er {CPR}".encode()
    now = clock()
    with db.write() as s:
        s.add(InboundMail(
            tenant_id=TENANT, message_id="<m1@example.dk>", source="test", raw=raw, size=len(raw), sha256="0" * 64,
            received_at=now, status=InboundMailStatus.HANDLED, from_addr="mette@example.dk",
            subject=f"cpr {CPR}", contact_id=contact_id,
        ))
        for status in (OutboxStatus.SENT, OutboxStatus.PENDING):
            s.add(OutboxItem(
                tenant_id=TENANT, channel=Channel.EMAIL, kind=next(iter(OutboxKind)), payload=b"Hej Mette",
                dedupe_key=f"k-{status}", status=status, attempts=0, next_attempt_at=now, created_at=now,
                contact_id=contact_id,
            ))
    counts = run_retention(db, now=now + timedelta(days=400))
    assert counts.mails == 2
    with db.read() as s:
        mail = s.query(InboundMail).one()
        assert mail.raw == b"" and mail.from_addr is None and CPR not in (mail.subject or "")
        payloads = {i.status: i.payload for i in s.query(OutboxItem)}
        assert payloads[OutboxStatus.SENT] == b""
        assert payloads[OutboxStatus.PENDING] == b"Hej Mette"  # still owed: never dropped
