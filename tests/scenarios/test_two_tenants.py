"""Two municipalities on one installation (knowledge/tenants.yaml as shipped), over HTTP on the
whole app (connectors.app.build_app, real model, SQLite): a Rødovre citizen and a Copenhagen
citizen asking the same question on each channel get their own municipality's answer, queue,
promise and hours; and neither municipality's agents or supervisors ever see the other's
contacts, queues, figures or quarantine."""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy import select

from bot.agent_accounts import create_agent, token_pepper
from bot.config import ROOT, EmailSettings, VoiceSettings
from bot.engine import ConversationEngine
from bot.errors import TenantConfigError
from bot.storage import outbox as ob
from bot.storage.models import Channel, Contact, InboundMail, Offer, OutboxItem
from connectors.app import build_app
from connectors.voice.routes import get_now
from tests.bot.conftest import FakeClock
from tests.connectors.voice.voice_helpers import TOKEN, TestClient, Twilio, fixture, said, twiml

pytestmark = pytest.mark.integration

CPH = ZoneInfo("Europe/Copenhagen")
PEPPER = "test-pepper-two-tenants-0123456789abcdefghijklmnopqrstuvwxyz"
RDV_SECRET = "rodovre-own-push-secret-0123456789"
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=CPH)  # both open (København 08–18, Rødovre 09–15)
FRIDAY_14 = datetime(2026, 3, 6, 14, 0, tzinfo=CPH)  # København open until 18, Rødovre closed at 13
NUMBER = {"kobenhavn": "+4533663366", "rodovre": "+4536373637"}
ADDRESS = {"kobenhavn": "kontakt@kobenhavn.example", "rodovre": "kontakt@rodovre.example"}
DOMAIN = {"kobenhavn": "kk.dk", "rodovre": "rk.dk"}
LOCAL = {"kobenhavn": "Sådan gør du i København", "rodovre": "Sådan gør du i Rødovre"}  # knowledge/local/*
PASS = "Hvordan får jeg et nyt pas?"
BUILDING = "Jeg vil gerne søge om byggetilladelse til en carport. Hvad skal jeg gøre?"
IDS = itertools.count(1)
TENANTS = ("kobenhavn", "rodovre")


def other(tenant: str) -> str:
    return next(t for t in TENANTS if t != tenant)


@dataclass
class World:
    client: TestClient
    engine: ConversationEngine
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **params: object) -> dict:
        r = self.client.get(path, params=params, headers=self.h(who))
        assert r.status_code == 200, r.text
        return r.json()

    def chat(self, text: str, tenant: str, **headers: str):
        return self.client.post("/chat/api/messages", json={"tenant": tenant, "text": text}, headers=headers)

    def mail(self, body: str, to: str, *, secret: str = "installation-secret", query: str = "") -> dict:
        n = next(IDS)
        raw = (f"From: Jens Hansen <jens{n}@example.org>\r\nTo: {to}\r\nSubject: Spørgsmål\r\n"
               f"Message-ID: <two-{n}@example.org>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()  # fmt: skip
        r = self.client.post("/email/inbound" + query, content=raw,
                             headers={"X-Kontakt-Email-Secret": secret, "Content-Type": "message/rfc822"})  # fmt: skip
        return {"http": r.status_code, **r.json()}

    def auto_reply(self, contact_id: str) -> email.message.EmailMessage:
        with self.engine.db.read() as s:
            payload = s.scalars(select(OutboxItem).where(OutboxItem.contact_id == contact_id)).one().payload
        return email.message_from_bytes(payload, policy=email.policy.default)  # type: ignore[return-value]

    def call(self, tenant_or_number: str, speech: str | None = None, digits: str | None = None) -> tuple[str, list[str]]:
        sid = f"CA{next(IDS):032d}"
        to = NUMBER.get(tenant_or_number, tenant_or_number)
        twilio = Twilio(self.client)
        lines = said(twiml(twilio.post("/voice/incoming", fixture("incoming", CallSid=sid, To=to, Called=to))))
        if speech is not None:
            form = fixture("gather_digits", CallSid=sid, To=to, Called=to, Digits=None, SpeechResult=speech,
                           Confidence="0.93")  # fmt: skip
            lines = said(twiml(twilio.post("/voice/gather?step=menu", form)))
        elif digits is not None:
            form = fixture("gather_digits", CallSid=sid, To=to, Called=to, Digits=digits)
            lines = said(twiml(twilio.post("/voice/gather?step=menu", form)))
        return sid, lines


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("two") / "kontakt.sqlite3"
    local = settings.model_copy(update={
        "database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER),
        "voice": VoiceSettings(twilio_auth_token=SecretStr(TOKEN)),
        "email": EmailSettings(inbound_secret=SecretStr("installation-secret")),
    })  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
        mp.setenv("KONTAKT_RODOVRE_EMAIL_PUSH_SECRET", RDV_SECRET)  # tenants.yaml: Rødovre's own push secret
        app = build_app(local, understanding=understanding)
        app.dependency_overrides[get_now] = lambda: MONDAY_10
        with TestClient(app) as client:
            engine: ConversationEngine = app.state.engine
            engine.clock = FakeClock(MONDAY_10.astimezone(UTC))  # no test reads the wall clock
            app.state.mail_service.clock = engine.clock
            pepper = token_pepper(local)
            tokens = {
                "anne": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                                     skills={"borgerservice_basis": 7, "byg_cby": 7, "erhverv": 5}),
                "sara": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara",
                                     role="supervisor"),
                "rolf": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rolf", name="Rolf",
                                     skills={"borgerservice_basis": 7}),
                "rita": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rita", name="Rita",
                                     role="supervisor"),
            }  # fmt: skip
            yield World(client, engine, tokens)


# --- the same question, each municipality's own answer ----------------------------------------------


@pytest.mark.parametrize("tenant", TENANTS)
def test_web_chat_over_http_answers_from_the_own_local_article(world: World, tenant: str) -> None:
    r = world.chat(PASS, tenant)
    assert r.status_code == 200, r.text
    text = " ".join(m["text"] for m in r.json()["messages"] if m["kind"] == "bot")
    assert LOCAL[tenant] in text and LOCAL[other(tenant)] not in text, text


@pytest.mark.parametrize("tenant", TENANTS)
def test_web_chat_over_the_websocket_answers_from_the_own_local_article(world: World, tenant: str) -> None:
    with world.client.websocket_connect(f"/chat/ws?tenant={tenant}") as ws:
        assert ws.receive_json()["type"] == "session"
        ws.send_json({"type": "message", "text": PASS, "client_message_id": "c1"})
        frames = [ws.receive_json() for _ in range(2)]
    text = " ".join(m["text"] for f in frames if f["type"] == "bot" for m in f["messages"])
    assert LOCAL[tenant] in text and LOCAL[other(tenant)] not in text, text


@pytest.mark.parametrize("tenant", TENANTS)
def test_rasa_rest_webhook_answers_from_the_own_local_article(world: World, tenant: str) -> None:
    r = world.client.post("/webhooks/rest/webhook",
                          json={"sender": f"borger-{tenant}", "message": PASS, "metadata": {"tenant": tenant}})  # fmt: skip
    assert r.status_code == 200, r.text
    text = " ".join(m.get("text") or "" for m in r.json())
    assert LOCAL[tenant] in text and LOCAL[other(tenant)] not in text, text


def test_the_widget_shows_each_municipalitys_own_name_colour_greeting_and_survey(world: World) -> None:
    kbh = world.client.get("/chat/api/config", params={"tenant": "kobenhavn"}).json()
    rdv = world.client.get("/chat/api/config", params={"tenant": "rodovre"}).json()
    assert (kbh["name"], rdv["name"]) == ("Københavns Kommune", "Rødovre Kommune")
    assert kbh["colour"] != rdv["colour"] and kbh["greeting"]["da"] != rdv["greeting"]["da"]
    assert "Rødovre" in rdv["greeting"]["da"] and [q["id"] for q in rdv["survey"]["questions"]] == ["q1", "q4"]
    assert world.client.get("/chat/api/config", params={"tenant": "gentofte"}).status_code == 404


def test_chat_from_a_site_the_municipality_does_not_list_is_refused(world: World) -> None:
    assert world.chat(PASS, "rodovre", Origin="https://www.rk.dk").status_code == 200
    refused = world.chat(PASS, "rodovre", Origin="https://www.kk.dk")
    assert refused.status_code == 403 and refused.json()["error"] == "origin_not_allowed"
    assert world.chat(PASS, "kobenhavn", Origin="https://www.kk.dk").status_code == 200
    with world.client.websocket_connect("/chat/ws?tenant=rodovre", headers={"Origin": "https://evil.example"}) as ws:
        assert ws.receive_json()["code"] == "origin_not_allowed"


def test_e_mail_finds_the_municipality_by_address_with_its_own_queue_and_promise(world: World) -> None:
    kbh = world.mail(BUILDING, ADDRESS["kobenhavn"])
    rdv = world.mail(BUILDING, ADDRESS["rodovre"])
    assert kbh["http"] == rdv["http"] == 202
    k, r = world.engine.contact("kobenhavn", kbh["contact_id"]), world.engine.contact("rodovre", rdv["contact_id"])
    # Copenhagen's building centre takes it, within its own 8-hour promise in its own hours
    # (Mon 10–12 and 12:30–15, Tue 9–12 and 12:30–13); Rødovre has no building centre: citizen
    # service takes it within Rødovre's 4 hours (Mon 10–14).
    assert (k.queue_id, r.queue_id) == ("byg_cby", "borgerservice_basis")
    assert k.sla_due_at is not None and r.sla_due_at is not None
    assert k.sla_due_at.astimezone(CPH) == datetime(2026, 3, 3, 13, 0, tzinfo=CPH)
    assert r.sla_due_at.astimezone(CPH) == datetime(2026, 3, 2, 14, 0, tzinfo=CPH)
    kbh_reply, rdv_reply = world.auto_reply(kbh["contact_id"]), world.auto_reply(rdv["contact_id"])
    assert kbh_reply["From"].addresses[0].addr_spec == ADDRESS["kobenhavn"]
    assert rdv_reply["From"].addresses[0].addr_spec == ADDRESS["rodovre"]
    kbh_text, rdv_text = str(kbh_reply.get_content()), str(rdv_reply.get_content())
    assert "kl. 14.00" in rdv_text and "Rødovre Kommune" in rdv_text and "Københavns" not in rdv_text
    assert "kl. 13.00" in kbh_text and "Københavns Kommune" in kbh_text and "Rødovre" not in kbh_text
    assert DOMAIN["rodovre"] in rdv_text and DOMAIN["kobenhavn"] not in rdv_text


def test_e_mail_by_an_addresss_own_secret_and_to_no_municipality_is_refused(world: World) -> None:
    own = world.mail(PASS, "someone@example.org", secret=RDV_SECRET)  # forwarded: the secret names Rødovre
    assert own["http"] == 202 and world.engine.contact("rodovre", own["contact_id"]).tenant_id == "rodovre"
    stray = world.mail(PASS, "post@gentofte.example", query="?tenant=kobenhavn")
    assert stray["http"] == 404 and stray["error"] == "unknown_recipient"
    assert world.mail(PASS, ADDRESS["rodovre"], secret="wrong")["http"] == 403


def test_voice_each_number_has_its_own_welcome_menu_queue_and_hours(world: World) -> None:
    _, kbh = world.call("kobenhavn")
    _, rdv = world.call("rodovre")
    assert "Velkommen til Københavns Kommune." in kbh and "Velkommen til Rødovre Kommune." in rdv
    assert any("erhverv" in line for line in kbh) and not any("erhverv" in line for line in rdv)
    calls = world.client.app.state.voice_calls
    sid, _ = world.call("rodovre", digits="4")  # Rødovre's own menu: children, schools and building
    record = calls.get(sid)
    assert record.tenant_id == "rodovre" and record.handoff.queue == "borgerservice_basis"
    sid, _ = world.call("kobenhavn", digits="5")  # Copenhagen's: business and building
    assert calls.get(sid).handoff.queue == "erhverv"
    sid, _ = world.call("rodovre", digits="5")  # no key 5 in Rødovre's menu: asked again, not queued
    assert calls.get(sid).handoff is None

    world.client.app.dependency_overrides[get_now] = lambda: FRIDAY_14
    try:
        _, kbh_friday = world.call("kobenhavn")
        _, rdv_friday = world.call("rodovre")
    finally:
        world.client.app.dependency_overrides[get_now] = lambda: MONDAY_10
    assert "Velkommen til Københavns Kommune." in kbh_friday
    assert not any("Velkommen til Rødovre Kommune." == line for line in rdv_friday)  # closed: told when it opens


def test_voice_to_a_number_no_municipality_has_is_refused(world: World) -> None:
    _, lines = world.call("+4599999999")
    assert lines and not any("Velkommen" in line for line in lines)


def test_unknown_municipality_is_refused_on_chat_socket_and_rasa(world: World) -> None:
    assert world.chat(PASS, "gentofte").status_code == 404
    with world.client.websocket_connect("/chat/ws?tenant=gentofte") as ws:
        assert ws.receive_json()["code"] == "unknown_tenant"
    r = world.client.post("/webhooks/rest/webhook", json={"sender": "x", "message": PASS, "metadata": {"tenant": "gentofte"}})
    assert r.status_code == 404


# --- isolation ------------------------------------------------------------------------------------------


def test_agents_see_only_their_own_municipalitys_queues_and_contacts(world: World) -> None:
    world.mail("Jeg vil gerne tale med en medarbejder om min sag.", ADDRESS["kobenhavn"])
    world.mail("Jeg vil gerne tale med en medarbejder om min sag.", ADDRESS["rodovre"])
    rolf_queues = {q["id"] for q in world.get("/agent/api/queues", "rolf", all="true")["queues"]}
    anne_queues = {q["id"] for q in world.get("/agent/api/queues", "anne", all="true")["queues"]}
    assert "byg_cby" in anne_queues and "byg_cby" not in rolf_queues  # Rødovre does not run it
    assert {q["name"] for q in world.get("/agent/api/queues", "rolf", all="true")["queues"]} >= {"Borgerservice Rødovre"}

    for who, tenant in (("rolf", "rodovre"), ("anne", "kobenhavn")):
        world.client.post("/agent/api/state", json={"state": "available"}, headers=world.h(who))
        got = world.client.post("/agent/api/next", headers=world.h(who))
        assert got.status_code == 200, got.text
        cid = got.json()["contact"]["id"]
        world.engine.contact(tenant, cid)  # it is this municipality's contact …
        mine = world.get("/agent/api/contacts", who)
        for c in mine["contacts"]:
            world.engine.contact(tenant, c["id"])  # … and so is every contact the agent sees
        assert world.client.get(f"/agent/api/contacts/{cid}", headers=world.h("rolf" if who == "anne" else "anne")
                                ).status_code == 404  # fmt: skip


def test_supervisors_figures_and_quarantine_are_their_own(world: World) -> None:
    k = world.mail("Hvornår kommer skraldebilen?", ADDRESS["kobenhavn"])
    r = world.mail("Hvornår kommer skraldebilen?", ADDRESS["rodovre"])
    with world.engine.db.write() as s:
        for tenant, got in (("kobenhavn", k), ("rodovre", r)):
            row = s.scalars(select(InboundMail).where(InboundMail.id == got["inbound_id"])).one()
            assert row.tenant_id == tenant
            ob.quarantine_inbound(s, row=row, now=MONDAY_10.astimezone(UTC))
    sara = world.get("/agent/api/supervisor/quarantine", "sara")
    rita = world.get("/agent/api/supervisor/quarantine", "rita")
    sara_ids = {i["id"] for i in sara["items"]}
    rita_ids = {i["id"] for i in rita["items"]}
    assert k["inbound_id"] in sara_ids and r["inbound_id"] not in sara_ids
    assert r["inbound_id"] in rita_ids and k["inbound_id"] not in rita_ids

    day = {"from": "2026-03-02T00:00:00+01:00", "to": "2026-03-03T00:00:00+01:00"}
    kbh = world.get("/api/v1/stats/summary", "sara", **day)
    rdv = world.get("/api/v1/stats/summary", "rita", **day)
    assert (kbh["tenant"], rdv["tenant"]) == ("kobenhavn", "rodovre")
    with world.engine.db.read() as s:  # each counts exactly its own municipality's contacts of the day
        own = {t: len(s.scalars(select(Contact).where(Contact.tenant_id == t,
                                                      Contact.created_at < datetime(2026, 3, 3, tzinfo=CPH))).all())
               for t in TENANTS}  # fmt: skip
    assert kbh["contacts"] == own["kobenhavn"] and rdv["contacts"] == own["rodovre"]


def test_each_municipality_routes_by_its_own_policy(world: World) -> None:
    e = world.engine
    assert (e._offer_timeout("kobenhavn"), e._offer_timeout("rodovre")) == (timedelta(seconds=30), timedelta(seconds=45))
    assert (e._policy("kobenhavn").acw_seconds, e._policy("rodovre").acw_seconds) == (30, 60)
    assert (e._policy("kobenhavn").concurrency[Channel.CHAT], e._policy("rodovre").concurrency[Channel.CHAT]) == (3, 2)
    # Rolf took a Rødovre contact above: the offer he got expired after Rødovre's 45 seconds.
    with world.engine.db.read() as s:
        offers = s.scalars(select(Offer)).all()
    assert {(o.tenant_id, o.expires_at - o.offered_at) for o in offers} >= {
        ("rodovre", timedelta(seconds=45)), ("kobenhavn", timedelta(seconds=30))}


def test_voice_survey_asks_the_municipalitys_own_questions(world: World) -> None:
    twilio = Twilio(world.client)
    sid, _ = world.call("rodovre")
    form = fixture("gather_digits", CallSid=sid, To=NUMBER["rodovre"], Called=NUMBER["rodovre"], Digits="")
    first = said(twiml(twilio.post("/voice/survey?q=1", form)))
    assert first[0] == "Hvor tilfreds er du samlet set med opkaldet?"
    answered = fixture("gather_digits", CallSid=sid, To=NUMBER["rodovre"], Called=NUMBER["rodovre"], Digits="8")
    second = said(twiml(twilio.post("/voice/survey?q=1", answered)))
    assert second[0] == "Fik du svar på det, du ringede om?"
    last = fixture("gather_digits", CallSid=sid, To=NUMBER["rodovre"], Called=NUMBER["rodovre"], Digits="9")
    assert said(twiml(twilio.post("/voice/survey?q=2", last))) == ["Tak for dine svar. Farvel."]


def test_a_typo_in_the_tenants_file_stops_the_start_naming_tenant_key_and_fix(settings, understanding, tmp_path) -> None:
    data = yaml.safe_load((ROOT / "knowledge" / "tenants.yaml").read_text(encoding="utf-8"))
    data["tenants"][1]["queues"]["fallback"] = "borgerservice"
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app = build_app(settings.model_copy(update={"tenants_file": path, "database_url": f"sqlite:///{tmp_path / 'k.db'}"}),
                    understanding=understanding)  # fmt: skip
    with pytest.raises(TenantConfigError, match=r"tenant 'rodovre': queues.fallback 'borgerservice' is not a queue "
                                                r"in knowledge/topics.yaml; use one of omstilling, borgerservice_basis"):
        with TestClient(app):
            pass
