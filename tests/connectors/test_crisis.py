"""Crisis mode end to end on the whole app (connectors.app.build_app, real model, SQLite): a
supervisor switches it on through the API, and the next chat (HTTP and WebSocket), the next call
(a signed Twilio webhook) and the next e-mail auto-reply each carry the message first; switched
off, it is gone. Another tenant's supervisor neither sees nor switches it; an agent gets 403."""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.agent_accounts import create_agent, token_pepper
from bot.config import EmailSettings, VoiceSettings
from bot.engine import ConversationEngine
from bot.storage import repository as repo
from bot.storage.models import AgentSkill, Channel, EventKind, OutboxItem
from connectors.app import build_app
from connectors.voice.routes import get_now
from tests.bot.conftest import FakeClock
from tests.connectors.voice.voice_helpers import OPEN_NOW, TOKEN, TestClient, Twilio, fixture, said, twiml

pytestmark = pytest.mark.integration

PEPPER = "test-pepper-crisis-0123456789abcdefghijklmnopqrstuvwxyz"
MAIL_SECRET = "crisis-mail-secret"
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # open hours in Copenhagen
FLOOD_DA = ("Stormflod i aften: Der er risiko for oversvømmelse ved kysten. Sandsække udleveres ved "
            "Nordhavn Station fra kl. 16.")
FLOOD_EN = "Storm surge tonight: there is a risk of flooding near the coast. Sandbags at Nordhavn Station from 4 pm."
CALL_IDS = itertools.count(1)


@dataclass
class World:
    client: TestClient
    engine: ConversationEngine
    tokens: dict[str, str]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def switch_on(self, who: str = "sara", **body) -> dict:
        r = self.client.post("/agent/api/supervisor/crisis", json={"message_da": FLOOD_DA, **body}, headers=self.h(who))
        assert r.status_code == 200, r.text
        return r.json()

    def chat(self, text: str, tenant: str = "kobenhavn") -> dict:
        r = self.client.post("/chat/api/messages", json={"tenant": tenant, "text": text})
        assert r.status_code == 200, r.text
        return r.json()

    def call(self, to: str = "+4533663366", *, then_press: str | None = None) -> list[str]:
        """A new call: what the phone line says first (or after the caller pressed `then_press`)."""
        sid, twilio = f"CA{next(CALL_IDS):032d}", Twilio(self.client)
        lines = said(twiml(twilio.post("/voice/incoming", fixture("incoming", CallSid=sid, To=to, Called=to))))
        if then_press is None:
            return lines
        pressed = fixture("gather_digits", CallSid=sid, To=to, Called=to, Digits=then_press)
        return said(twiml(twilio.post("/voice/gather?step=menu", pressed)))

    def mail(self, body: str, subject: str = "Spørgsmål", tenant: str = "kobenhavn") -> str:
        """Send a citizen's mail; the text of the auto-reply exactly as it waits in the outbox."""
        n = next(CALL_IDS)
        raw = (f"From: Jens Hansen <jens{n}@example.org>\r\nTo: kontakt@{tenant}.example\r\nSubject: {subject}\r\n"
               f"Message-ID: <crisis-{n}@example.org>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
               f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
        r = self.client.post(f"/email/inbound?tenant={tenant}", content=raw,
                             headers={"X-Kontakt-Email-Secret": MAIL_SECRET, "Content-Type": "message/rfc822"})
        assert r.status_code == 202, r.text
        with self.engine.db.read() as s:
            item = s.scalars(select(OutboxItem).where(OutboxItem.contact_id == r.json()["contact_id"])).one()
            payload = item.payload
        reply = email.message_from_bytes(payload, policy=email.policy.default)
        return str(reply.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def world(settings, understanding, tmp_path_factory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("crisis") / "kontakt.sqlite3"
    local = settings.model_copy(update={
        "database_url": f"sqlite:///{db}", "agent_token_pepper": SecretStr(PEPPER),
        "voice": VoiceSettings(twilio_auth_token=SecretStr(TOKEN)),
        "email": EmailSettings(inbound_secret=SecretStr(MAIL_SECRET)),
    })  # fmt: skip
    app = build_app(local, understanding=understanding)
    app.dependency_overrides[get_now] = lambda: OPEN_NOW
    with TestClient(app) as client:
        engine: ConversationEngine = app.state.engine
        engine.clock = FakeClock(MONDAY_10)  # no test reads the wall clock
        app.state.mail_service.clock = engine.clock
        pepper = token_pepper(local)
        tokens = {
            "sara": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara", role="supervisor"),
            "adam": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="adam", name="Adam", role="admin"),
            "anne": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                                 skills={"borgerservice_basis": 7}),
            "bo": create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="bo", name="Bo",
                               skills={"borgerservice_basis": 3}),
            "rita": create_agent(engine, pepper, tenant_id="rodovre", agent_id="rita", name="Rita", role="supervisor"),
        }  # fmt: skip
        yield World(client, engine, tokens)


@pytest.fixture(autouse=True)
def calm(world: World) -> Iterator[None]:
    """Every test starts and ends without a crisis in either municipality."""
    yield
    for who in ("sara", "rita"):
        world.client.delete("/agent/api/supervisor/crisis", headers=world.h(who))


# --- every channel says it first ------------------------------------------------------------------


def test_switched_on_every_channel_says_it_first_and_switched_off_it_is_gone(world: World) -> None:
    state = world.switch_on(message_en=FLOOD_EN)
    assert state["active"] and state["crisis"]["message_da"] == FLOOD_DA and state["crisis"]["started_by"] == "sara"

    # chat over HTTP: the new conversation opens with the message, then the citizen's turn
    first = world.chat("Hvornår kommer skraldebilen?")["messages"]
    assert [m["kind"] for m in first[:2]] == ["bot", "user"]
    assert first[0]["text"] == f"Vigtig besked: {FLOOD_DA}\n\nImportant message: {FLOOD_EN}"
    assert any(m["kind"] == "bot" for m in first[2:])  # and the bot still answers the question

    # chat over the WebSocket
    with world.client.websocket_connect("/chat/ws?tenant=kobenhavn") as ws:
        assert ws.receive_json()["type"] == "session"
        ws.send_json({"type": "message", "text": "Hvornår kommer skraldebilen?", "client_message_id": "c1"})
        frames = [ws.receive_json() for _ in range(2)]
    assert [f["type"] for f in frames] == ["bot", "user"]
    assert frames[0]["messages"][0]["text"].startswith(f"Vigtig besked: {FLOOD_DA}")

    # the widget's banner
    notice = world.client.get("/chat/api/crisis", params={"tenant": "kobenhavn"})
    assert notice.json() == {"active": True, "message_da": FLOOD_DA, "message_en": FLOOD_EN}
    assert notice.headers["access-control-allow-origin"] == "*"

    # the phone line: before the welcome and the menu
    lines = world.call()
    assert lines[0].startswith(f"Vigtig besked: {FLOOD_DA}")
    menu = next(i for i, line in enumerate(lines) if line.startswith("Sig med få ord"))
    assert menu > 0

    # a caller who chooses English (key 6) hears the English version first
    assert world.call(then_press="6")[0] == f"Important message: {FLOOD_EN}"

    # e-mail: the auto-reply's first paragraph, in the language of the mail
    reply = world.mail("Hvornår bliver mit affald hentet?")
    assert reply.split("\n\n")[0] == f"Vigtig besked: {FLOOD_DA}"
    english = world.mail("Hello, when will my waste be collected? I do not speak Danish, thank you.", "Waste")
    assert english.split("\n\n")[0] == f"Important message: {FLOOD_EN}"

    # switched off: gone everywhere
    ended = world.client.delete("/agent/api/supervisor/crisis", headers=world.h("sara"))
    assert ended.status_code == 200 and not ended.json()["active"] and ended.json()["ended"]["message_da"] == FLOOD_DA
    assert all("Vigtig besked" not in m["text"] for m in world.chat("Hvornår kommer skraldebilen?")["messages"])
    assert all("Vigtig besked" not in line for line in world.call())
    assert "Vigtig besked" not in world.mail("Hvornår bliver mit affald hentet?")
    assert world.client.get("/chat/api/crisis", params={"tenant": "kobenhavn"}).json()["active"] is False


def test_each_switch_is_an_event_with_who_and_when(world: World) -> None:
    world.switch_on()
    world.switch_on("adam", message_da="Vandet er afbrudt i Valby. Kog vandet, før du drikker det.")
    world.client.delete("/agent/api/supervisor/crisis", headers=world.h("sara"))
    with world.engine.db.read() as s:
        events = [e for e in repo.events(s, tenant_id="kobenhavn") if e.kind.value.startswith("crisis_")]
    assert [(e.kind, e.agent_id) for e in events[-3:]] == [
        (EventKind.CRISIS_STARTED, "sara"), (EventKind.CRISIS_UPDATED, "adam"), (EventKind.CRISIS_ENDED, "sara"),
    ]  # fmt: skip
    assert all(e.at == MONDAY_10 for e in events[-3:])
    assert events[-2].data["message_da"].startswith("Vandet er afbrudt")


# --- who may switch it -----------------------------------------------------------------------------


def test_an_agent_gets_403_and_no_token_401(world: World) -> None:
    for method in ("get", "post", "delete"):
        kw = {"json": {"message_da": FLOOD_DA}} if method == "post" else {}
        assert getattr(world.client, method)("/agent/api/supervisor/crisis", headers=world.h("anne"), **kw).status_code == 403
        assert getattr(world.client, method)("/agent/api/supervisor/crisis", **kw).status_code == 401
    assert world.client.get("/chat/api/crisis", params={"tenant": "kobenhavn"}).json()["active"] is False


def test_another_tenants_supervisor_can_neither_see_nor_switch_it(world: World) -> None:
    world.switch_on()
    seen = world.client.get("/agent/api/supervisor/crisis", headers=world.h("rita")).json()
    assert seen["active"] is False and seen["crisis"] is None
    # Rita's DELETE concerns Rødovre only: nothing is on there, and København's crisis stays on
    nothing = world.client.delete("/agent/api/supervisor/crisis", headers=world.h("rita"))
    assert nothing.status_code == 200 and nothing.json()["ended"] is None
    assert world.client.get("/agent/api/supervisor/crisis", headers=world.h("sara")).json()["active"] is True
    # Rita's POST switches Rødovre on, not København's message
    world.switch_on("rita", message_da="Rødovre: Stor brand ved Islevdalvej. Hold vinduer og døre lukket.")
    assert world.chat("Hej", tenant="rodovre")["messages"][0]["text"].startswith("Vigtig besked: Rødovre")
    assert world.chat("Hej")["messages"][0]["text"] == f"Vigtig besked: {FLOOD_DA}"
    assert world.call("+4536373637")[0].startswith("Vigtig besked: Rødovre")
    assert not world.call("+4536373637", then_press="6")[0].startswith("Vigtig")  # no English version given


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message_da": "   "}, 422),
        ({"message_da": "<b>Stormflod</b> i aften"}, 422),
        ({"message_da": "**Stormflod** i aften"}, 422),
        ({"message_da": "Stormflod " * 80}, 422),
        ({"message_da": FLOOD_DA, "queue": "findes_ikke"}, 404),
        ({"message_da": FLOOD_DA, "keywords": ["x"]}, 422),
    ],
)
def test_bad_input_is_refused_and_nothing_switches(world: World, body: dict, status: int) -> None:
    r = world.client.post("/agent/api/supervisor/crisis", json=body, headers=world.h("sara"))
    assert r.status_code == status, r.text
    assert world.client.get("/chat/api/crisis", params={"tenant": "kobenhavn"}).json()["active"] is False


# --- the crisis queue ------------------------------------------------------------------------------


def _levels(world: World, queue: str) -> dict[str, int]:
    with world.engine.db.read() as s:
        rows = s.scalars(select(AgentSkill).where(AgentSkill.tenant_id == "kobenhavn", AgentSkill.queue_id == queue))
        return {r.agent_id: r.level for r in rows}


def test_agents_join_the_crisis_queue_and_leave_it_when_the_crisis_ends(world: World) -> None:
    assert world.client.post("/agent/api/supervisor/crisis/join", json={"queue": "borgerservice_basis", "min_level": 5},
                             headers=world.h("sara")).status_code == 409  # no crisis yet
    world.switch_on(queue="krise", keywords=["sandsæk"])
    joined = world.client.post("/agent/api/supervisor/crisis/join", json={"queue": "borgerservice_basis", "min_level": 5},
                               headers=world.h("sara"))
    assert joined.status_code == 200, joined.text
    assert [(g["agent_id"], g["level"], g["previous"]) for g in joined.json()["added"]] == [("anne", 7, None)]
    assert _levels(world, "krise") == {"anne": 7}
    with world.engine.db.read() as s:
        last = [e for e in repo.events(s, tenant_id="kobenhavn") if e.kind is EventKind.CRISIS_QUEUE_JOINED][-1]
    assert last.agent_id == "sara" and last.data["agents"] == ["anne"] and last.data["min_level"] == 5

    ended = world.client.delete("/agent/api/supervisor/crisis", headers=world.h("sara")).json()
    assert [g["agent_id"] for g in ended["restored"]] == ["anne"]
    assert _levels(world, "krise") == {}


def test_questions_about_the_crisis_go_to_the_crisis_queue(world: World) -> None:
    world.switch_on(queue="krise", keywords=["sandsæk"])
    crisis_questions = ("Hvor kan jeg hente sandsække?",  # the supervisor's keyword
                        "Min kælder er ved at blive oversvømmet, hvad gør jeg?")  # the classifier's crisis topic
    in_crisis_queue = []
    for text in crisis_questions:
        turn = world.chat(text)
        contact = world.engine.open_contact("kobenhavn", Channel.CHAT, turn["session"])
        assert contact.queue_id == "krise", text
        in_crisis_queue.append(contact.id)
        said_by_bot = [m["text"] for m in turn["messages"] if m["kind"] == "bot"]
        assert said_by_bot[0].startswith("Vigtig besked"), text
        assert said_by_bot[-1].startswith("Dit spørgsmål handler om den aktuelle situation"), text
    for text in ("Hvornår kommer skraldebilen?", "Hvornår bliver mit affald hentet?"):
        turn = world.chat(text)
        assert world.engine.open_contact("kobenhavn", Channel.CHAT, turn["session"]).queue_id is None, text
    reply = world.mail("Hvor kan jeg få sandsække til min kælder?", "Sandsække")
    assert reply.startswith(f"Vigtig besked: {FLOOD_DA}")
    with world.engine.db.read() as s:
        mail_contacts = repo.waiting_contacts(s, tenant_id="kobenhavn")
    assert any(c.channel is Channel.EMAIL and c.queue_id == "krise" for c in mail_contacts)

    # switched off: nobody staffs the crisis queue any more, so whoever still waits there moves on
    world.client.delete("/agent/api/supervisor/crisis", headers=world.h("sara"))
    for contact_id in in_crisis_queue:
        assert world.engine.contact("kobenhavn", contact_id).queue_id == "borgerservice_basis"
