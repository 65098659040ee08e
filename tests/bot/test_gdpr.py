"""bot.gdpr: find, export and delete one citizen's data within a tenant, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from bot.engine import ConversationEngine
from bot.errors import CitizenQueryError, UnknownTenant
from bot.gdpr import CitizenQuery, delete_citizen, export_citizen, find_contacts
from bot.storage import Database
from tests.bot.conftest import TENANT, FakeClock
from tests.bot.test_retention import CPR, closed_chat


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"email": " Mette@Example.DK "}, CitizenQuery(email="mette@example.dk")),
        ({"phone": "+45 20 12 34 56"}, CitizenQuery(phone="20123456")),
        ({"phone": "0045-20123456"}, CitizenQuery(phone="20123456")),
        ({"cpr": "010190 1234"}, CitizenQuery(cpr="0101901234")),
    ],
)
def test_gdpr_query_normalises(kwargs: dict[str, str], expected: CitizenQuery) -> None:
    assert CitizenQuery(**kwargs) == expected


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({}, "give --email"), ({"email": "nope"}, "not an e-mail"), ({"phone": "123"}, "8 digits"),
     ({"cpr": "01019-1234"}, "10 digits")],
)  # fmt: skip
def test_gdpr_query_refuses_unusable_input(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(CitizenQueryError, match=match):
        CitizenQuery(**kwargs)


@pytest.fixture
def citizen(engine: ConversationEngine, clock: FakeClock) -> dict[str, str]:
    """Mette: a closed chat (identity), an open e-mail contact naming her CPR only in the text;
    someone else in the same tenant; Mette's e-mail address in another tenant."""
    closed = closed_chat(engine, clock)
    mail = engine.open_contact(TENANT, "email", "<t1@example.dk>")
    engine.record_inbound(TENANT, mail.id, f"Vedr. min mor, cpr {CPR.replace('-', '')}: hun er flyttet.")
    other = engine.open_contact(TENANT, "chat", "sess-x", name="Ib", phone="+4599999999", email="ib@example.dk")
    engine.record_inbound(TENANT, other.id, "Hvornår er der storskrald? Mit nr er 11 22 33 44")
    engine.mark_abandoned(TENANT, other.id)
    engine.ensure_tenant("aarhus", "Aarhus Kommune")
    elsewhere = engine.open_contact("aarhus", "chat", "a-1", email="mette@example.dk")
    engine.mark_abandoned("aarhus", elsewhere.id)
    return {"closed": closed, "mail": mail.id, "other": other.id, "elsewhere": elsewhere.id}


@pytest.mark.integration
def test_gdpr_find_by_email_phone_and_cpr_within_tenant(db: Database, citizen: dict[str, str]) -> None:
    with db.read() as s:
        assert find_contacts(s, tenant_id=TENANT, query=CitizenQuery(email="METTE@example.dk")) == {
            citizen["closed"]: {"email"}}
        assert find_contacts(s, tenant_id=TENANT, query=CitizenQuery(phone="20123456")) == {
            citizen["closed"]: {"phone"}}
        assert find_contacts(s, tenant_id=TENANT, query=CitizenQuery(cpr=CPR)) == {
            citizen["closed"]: {"cpr"}, citizen["mail"]: {"cpr"}}
        assert find_contacts(s, tenant_id=TENANT, query=CitizenQuery(phone="11223344")) == {
            citizen["other"]: {"phone"}}  # a number written in a message
        assert find_contacts(s, tenant_id="aarhus", query=CitizenQuery(email="mette@example.dk")) == {
            citizen["elsewhere"]: {"email"}}
        assert find_contacts(s, tenant_id=TENANT, query=CitizenQuery(email="nobody@example.dk")) == {}
        with pytest.raises(UnknownTenant):
            find_contacts(s, tenant_id="nowhere", query=CitizenQuery(email="a@b.dk"))


@pytest.mark.integration
def test_gdpr_export_has_everything_as_json(db: Database, citizen: dict[str, str], clock: FakeClock) -> None:
    doc = export_citizen(db, tenant_id=TENANT, query=CitizenQuery(email="mette@example.dk", cpr=CPR), now=clock.now)
    json.dumps(doc)  # JSON-ready
    assert doc["format"] == "kontakt.gdpr-export.v1" and doc["tenant"] == TENANT
    by_id = {c["id"]: c for c in doc["contacts"]}
    assert set(by_id) == {citizen["closed"], citizen["mail"]}
    closed = by_id[citizen["closed"]]
    assert closed["matched_by"] == ["cpr", "email"] and closed["citizen"]["name"] == "Mette Hansen"
    assert CPR in closed["messages"][0]["text"]  # as written: it is her own data
    assert closed["handoffs"][0]["packet"]["identity"]["email"] == "mette@example.dk"
    assert [e["kind"] for e in closed["events"]][0] == "contact_opened" and closed["state"] == "closed"


@pytest.mark.integration
def test_gdpr_delete_anonymises_finished_contacts_and_skips_open_ones(
    db: Database, engine: ConversationEngine, citizen: dict[str, str], clock: FakeClock
) -> None:
    query = CitizenQuery(cpr=CPR)
    dry = delete_citizen(db, tenant_id=TENANT, query=query, dry_run=True)
    assert dry.contacts == 1 and dry.skipped_open == 1 and dry.messages_deleted == 2
    assert engine.transcript(TENANT, citizen["closed"])  # dry run wrote nothing

    done = delete_citizen(db, tenant_id=TENANT, query=query)
    assert done == dry
    c = engine.contact(TENANT, citizen["closed"])
    assert (c.citizen_name, c.citizen_phone, c.citizen_email) == (None, None, None) and c.outcome is not None
    assert engine.transcript(TENANT, citizen["closed"]) == []
    assert engine.handoff_packets(TENANT, citizen["closed"])[0].identity.email is None
    assert engine.transcript(TENANT, citizen["mail"])  # open: left for the agent
    assert engine.contact(TENANT, citizen["other"]).citizen_name == "Ib"

    forced = delete_citizen(db, tenant_id=TENANT, query=query, include_open=True)
    assert forced.contacts == 1 and forced.messages_deleted == 1
    doc = export_citizen(db, tenant_id=TENANT, query=CitizenQuery(email="mette@example.dk", cpr=CPR), now=clock.now)
    assert doc["contacts"] == []  # nothing left that points at her
    assert engine.contact("aarhus", citizen["elsewhere"]).citizen_email == "mette@example.dk"


@pytest.mark.integration
def test_gdpr_cli_export_and_delete(tmp_path, capsys, monkeypatch) -> None:
    from datetime import UTC, datetime

    from bot.__main__ import main
    from bot.config import Settings, get_settings
    from bot.topics import load_contract

    url = f"sqlite:///{tmp_path / 'k.sqlite3'}"
    db = Database(url)
    db.migrate()
    eng = ConversationEngine(db, load_contract(Settings().topics_file), clock=lambda: datetime.now(UTC))
    eng.ensure_tenant(TENANT, "København")
    c = eng.open_contact(TENANT, "chat", "s", phone="+4520123456")
    eng.mark_abandoned(TENANT, c.id)
    db.dispose()
    monkeypatch.setenv("KONTAKT_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["gdpr", "export", "--tenant", TENANT, "--phone", "20 12 34 56"]) == 0
        exported = json.loads(capsys.readouterr().out)
        assert [x["id"] for x in exported["contacts"]] == [c.id]
        assert main(["gdpr", "delete", "--tenant", TENANT, "--phone", "20123456"]) == 0
        assert "changed: contacts 1" in capsys.readouterr().out
        assert main(["gdpr", "export", "--tenant", "nowhere", "--email", "a@b.dk"]) == 2
        assert "unknown tenant" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
