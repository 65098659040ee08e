"""Tests for bot.routing.handoff: the packet model, build_packet, summarise and the schema file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.routing.handoff import (
    SCHEMA_VERSION,
    ArticleInfo,
    Author,
    BotAction,
    BotStep,
    HandoffPacket,
    HistoryItem,
    Identity,
    PacketEntity,
    PacketReason,
    QueueInfo,
    TopicInfo,
    TranscriptEntry,
    Turn,
    build_packet,
    redacted,
    schema_json,
    summarise,
)
from bot.routing.skills import Channel
from bot.types import Action, ArticleRef, Entity, HandoffReason, IntentScore, NLUResult

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CPH = timezone(timedelta(hours=1))
ARTICLE = ArticleRef("affald_storskrald", "Storskrald", "kk.dk: Storskrald", "https://www.kk.dk/s", "2026-01-15", False)
TURNS = (
    Turn(Author.CITIZEN, "Hej. Mit cpr er 010190-1234 og min mail er a@b.dk.", T0),
    Turn(Author.BOT, "Storskrald hentes hver anden uge.", T0 + timedelta(seconds=1)),
    Turn(Author.CITIZEN, "Min sofa blev ikke hentet i går? Jeg vil tale med et menneske.", T0 + timedelta(seconds=30)),
)
NLU = NLUResult(
    text=TURNS[0].text,
    ranking=(IntentScore("affald_storskrald", 0.8),),
    entities=(
        Entity("cpr", 15, 26, "0101901234", "010190-1234"),
        Entity("email", 42, 48, "a@b.dk", "a@b.dk"),
        Entity("telefon", 50, 58, "22334455", "22 33 44 55"),
        Entity("adresse", 60, 75, "Vestergade 12", "Vestergade 12"),
    ),
)


def packet(*, reveal: bool = False, authenticated: bool = False, **overrides: object) -> HandoffPacket:
    args: dict[str, object] = dict(
        tenant="kobenhavn",
        channel=Channel.EMAIL,
        contact_id="c-1",
        topic=TopicInfo(id="affald_storskrald", title="Storskrald"),
        queue=QueueInfo(id="borgerservice_basis", name="Basis – generel borgerservice"),
        turns=TURNS,
        bot_steps=(BotStep(Action.ANSWER, "affald_storskrald", ARTICLE, T0 + timedelta(seconds=1)),),
        reason=HandoffReason.ASKED_FOR_HUMAN,
        identity=Identity(name="Mette", phone="+4512345678", email="a@b.dk", authenticated=authenticated),
        history=(HistoryItem(contact_id="c-0", channel=Channel.VOICE, date=T0 - timedelta(days=3),
                             topic="affald_storskrald", outcome="straksafklaret"),),  # fmt: skip
        deadline=datetime(2026, 3, 2, 12, 0, tzinfo=CPH),
        created_at=T0 + timedelta(seconds=31),
        nlu=NLU,
        reveal=reveal,
    )
    args.update(overrides)
    return build_packet(**args)  # type: ignore[arg-type]


def test_build_packet_every_field_redacted_by_default() -> None:
    p = packet()
    assert p.schema_version == SCHEMA_VERSION == "1.0"
    assert p.tenant == "kobenhavn"
    assert p.channel is Channel.EMAIL
    assert p.contact_id == "c-1"
    assert p.topic == TopicInfo(id="affald_storskrald", title="Storskrald")
    assert p.queue == QueueInfo(id="borgerservice_basis", name="Basis – generel borgerservice")
    assert p.summary == "Min sofa blev ikke hentet i går?"
    assert p.transcript == (
        TranscriptEntry(author=Author.CITIZEN, text="Hej. Mit cpr er [CPR] og min mail er [E-MAIL].", at=T0),
        TranscriptEntry(author=Author.BOT, text="Storskrald hentes hver anden uge.", at=T0 + timedelta(seconds=1)),
        TranscriptEntry(author=Author.CITIZEN, text=TURNS[2].text, at=T0 + timedelta(seconds=30)),
    )
    assert p.entities == (
        PacketEntity(entity="cpr", value="[CPR]", text="[CPR]"),
        PacketEntity(entity="email", value="[E-MAIL]", text="[E-MAIL]"),
        PacketEntity(entity="telefon", value="[TELEFON]", text="[TELEFON]"),
        PacketEntity(entity="adresse", value="Vestergade 12", text="Vestergade 12"),
    )
    assert p.bot_actions == (
        BotAction(
            action=Action.ANSWER, topic="affald_storskrald", at=T0 + timedelta(seconds=1),
            article=ArticleInfo(id="affald_storskrald", title="Storskrald", source="kk.dk: Storskrald",
                                source_url="https://www.kk.dk/s", reviewed="2026-01-15"),
        ),
    )  # fmt: skip
    assert p.reason is PacketReason.ASKED_FOR_HUMAN
    assert p.identity == Identity(name="Mette", phone="+4512345678", email="a@b.dk", authenticated=False)
    assert p.history == (
        HistoryItem(contact_id="c-0", channel=Channel.VOICE, date=T0 - timedelta(days=3),
                    topic="affald_storskrald", outcome="straksafklaret"),
    )  # fmt: skip
    assert p.deadline == datetime(2026, 3, 2, 11, 0, tzinfo=UTC) and p.deadline.tzinfo is UTC
    assert p.note is None
    assert p.created_at == T0 + timedelta(seconds=31)
    assert set(HandoffPacket.model_fields) == {
        "schema_version", "tenant", "channel", "contact_id", "topic", "queue", "summary", "transcript",
        "entities", "bot_actions", "reason", "identity", "history", "deadline", "note", "created_at",
    }  # fmt: skip


def test_reveal_needs_authentication() -> None:
    assert "[CPR]" in packet(reveal=True, authenticated=False).transcript[0].text
    shown = packet(reveal=True, authenticated=True)
    assert shown.transcript[0].text == TURNS[0].text
    assert shown.entities[0] == PacketEntity(entity="cpr", value="0101901234", text="010190-1234")
    assert "[CPR]" in packet(reveal=False, authenticated=True).transcript[0].text


def test_packet_masks_personal_entities_by_type_even_when_the_value_is_no_valid_cpr() -> None:
    nlu = NLUResult(text="x", ranking=(), entities=(Entity("cpr", 0, 11, "310490-1234", "310490-1234"),))
    assert packet(nlu=nlu).entities == (PacketEntity(entity="cpr", value="[CPR]", text="[CPR]"),)


def test_packet_redacts_a_name_with_personal_data_unless_revealed() -> None:
    who = Identity(name="Mette 010190-1234", phone="+4512345678", email="a@b.dk", authenticated=True)
    assert packet(identity=who).identity.name == "Mette [CPR]"
    assert packet(identity=who, reveal=True).identity.name == "Mette 010190-1234"


def test_redacted_cleans_a_revealed_packet_and_is_idempotent() -> None:
    shown = packet(reveal=True, authenticated=True, note="ring 22334455")
    clean = redacted(shown)
    assert clean == packet(authenticated=True, note="ring 22334455")
    assert redacted(clean) == clean
    before_identity = clean.model_dump_json().split('"identity"')[0]  # summary, transcript, entities
    assert "010190" not in before_identity and "22334455" not in before_identity and "a@b.dk" not in before_identity
    assert clean.identity.phone == "+4512345678" and clean.identity.email == "a@b.dk"  # the contact's address


def test_summary_override_note_and_reason_out_of_hours() -> None:
    p = packet(summary="Borgeren ringer om 010190-1234", note="Ring på 12345678", reason="out_of_hours")
    assert p.summary == "Borgeren ringer om [CPR]" and p.note == "Ring på [TELEFON]"
    assert p.reason is PacketReason.OUT_OF_HOURS


def test_packet_without_topic_nlu_or_deadline() -> None:
    p = packet(topic=None, nlu=None, deadline=None, bot_steps=(), history=(), turns=())
    assert (p.topic, p.entities, p.deadline, p.bot_actions, p.history, p.transcript, p.summary) == (
        None, (), None, (), (), (), "",
    )  # fmt: skip


def test_packet_json_round_trip_is_iso_utc() -> None:
    p = packet()
    data = p.model_dump(mode="json")
    assert data["deadline"] == "2026-03-02T11:00:00Z" and data["created_at"] == "2026-03-02T09:00:31Z"
    assert HandoffPacket.model_validate(data) == p
    assert HandoffPacket.model_validate_json(p.model_dump_json()) == p


def test_packet_refuses_naive_times_unknown_fields_and_versions() -> None:
    data = packet().model_dump(mode="json")
    with pytest.raises(ValidationError):
        HandoffPacket.model_validate({**data, "created_at": "2026-03-02T09:00:00"})
    with pytest.raises(ValidationError):
        HandoffPacket.model_validate({**data, "extra": 1})
    with pytest.raises(ValidationError):
        HandoffPacket.model_validate({**data, "schema_version": "2.0"})
    with pytest.raises(ValueError):
        packet(reason="because")


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["Jeg vil gerne tale med et menneske. Hvornår bliver mit storskrald hentet?"],
         "Hvornår bliver mit storskrald hentet?"),
        (["Hej", "Jeg har mistet mit sundhedskort og skal bruge et nyt"],
         "Jeg har mistet mit sundhedskort og skal bruge et nyt"),
        (["Hej!\nMin søn skal starte i skole. Hvordan skriver jeg ham op?"],
         "Min søn skal starte i skole."),
        ([], ""),
        (["  "], ""),
        (["Jeg vil tale med et menneske"], "Jeg vil tale med et menneske"),
    ],
)
def test_summarise_picks_most_informative_sentence(texts: list[str], expected: str) -> None:
    assert summarise(texts) == expected


def test_summarise_cuts_long_sentences_at_a_word() -> None:
    text = "Parkering " + " ".join(f"ord{i}" for i in range(200))
    out = summarise([text], max_chars=50)
    assert len(out) <= 50 and out.endswith("…") and text.startswith(out[:-1])


def test_schema_file_is_current() -> None:
    path = ROOT / "docs" / "handoff-packet.schema.json"
    assert path.read_text(encoding="utf-8") == schema_json(), (
        "docs/handoff-packet.schema.json is stale; run: python -m bot.routing.handoff"
    )
    schema = json.loads(schema_json())
    assert schema["properties"]["schema_version"]["const"] == "1.0"


def test_docs_describe_every_field() -> None:
    doc = (ROOT / "docs" / "handoff-packet.md").read_text(encoding="utf-8")
    for model in (HandoffPacket, TranscriptEntry, PacketEntity, BotAction, ArticleInfo, Identity, HistoryItem):
        for name in model.model_fields:
            assert f"`{name}`" in doc, f"docs/handoff-packet.md does not describe {model.__name__}.{name}"
    for reason in PacketReason:
        assert f"`{reason.value}`" in doc
