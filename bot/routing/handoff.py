"""The handoff packet: everything an agent needs when a contact leaves the bot (seed 000 §5.5).

`HandoffPacket` is a versioned pydantic model (it crosses the boundary to the agent console
and is stored as JSON); `build_packet` is a pure function from plain inputs to a packet, and
`summarise` picks the citizen's request in one sentence (extractive). Nothing here reads a
clock or a database: `bot.engine` gathers the inputs and stores the result.

Privacy: the summary, transcript texts, the transfer note and the citizen's name are redacted
with `bot.privacy.redact`, and CPR, phone and e-mail entities are masked by type, unless `reveal`
is True, which the caller may pass only when the citizen is authenticated AND the viewer is
allowed to see personal data (`build_packet` checks the first half itself). The stored packet is
always the redacted one (`redacted`). `identity.phone` and `identity.email` stay: they are the
contact's own address, which the agent needs to answer (docs/access-policy.md). docs/handoff-packet.md
describes every field; docs/handoff-packet.schema.json is generated from this model (`export_schema`).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from bot.privacy import CPR_MASK, EMAIL_MASK, PHONE_MASK, redact
from bot.routing.skills import Channel
from bot.types import Action, ArticleRef, HandoffReason, NLUResult

SCHEMA_VERSION: Literal["1.0"] = "1.0"
SUMMARY_MAX_CHARS = 300


class Author(enum.StrEnum):
    CITIZEN = "citizen"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class PacketReason(enum.StrEnum):
    """Why the contact left the bot: every `bot.types.HandoffReason` plus engine-only reasons."""

    ASKED_FOR_HUMAN = HandoffReason.ASKED_FOR_HUMAN.value
    SENSITIVE = HandoffReason.SENSITIVE.value
    CASEWORK = HandoffReason.CASEWORK.value
    TOPIC_POLICY = HandoffReason.TOPIC_POLICY.value
    LOW_CONFIDENCE = HandoffReason.LOW_CONFIDENCE.value
    EMERGENCY = HandoffReason.EMERGENCY.value
    OUT_OF_HOURS = "out_of_hours"  # the bot cannot help and the queue is closed
    TRANSFER = "transfer"  # an agent moved the contact to another queue


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UTCInstant = Annotated[AwareDatetime, AfterValidator(_utc)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueueInfo(_Frozen):
    id: str = Field(description="Queue id from knowledge/topics.yaml")
    name: str


class TopicInfo(_Frozen):
    id: str = Field(description="Topic id from knowledge/topics.yaml")
    title: str


class TranscriptEntry(_Frozen):
    author: Author
    text: str = Field(description="Redacted (bot.privacy.redact) unless revealed")
    at: UTCInstant


class PacketEntity(_Frozen):
    entity: str = Field(description="Entity type, e.g. cpr, telefon, email, sagsnummer")
    value: str = Field(description="Normalised value; CPR values are masked unless revealed")
    text: str = Field(description="The text as the citizen wrote it (masked like value for CPR)")


class ArticleInfo(_Frozen):
    id: str
    title: str
    source: str
    source_url: str | None
    reviewed: str = Field(description="ISO date the article was last reviewed")


class BotAction(_Frozen):
    action: Action = Field(description="What the bot did: answer, selfservice, clarify, ...")
    topic: str | None
    article: ArticleInfo | None = Field(description="The article answered or linked, if any")
    at: UTCInstant


class Identity(_Frozen):
    name: str | None
    phone: str | None
    email: str | None
    authenticated: bool = Field(description="True when the citizen logged in (MitID) on this contact")


class HistoryItem(_Frozen):
    contact_id: str
    channel: Channel
    date: UTCInstant = Field(description="When that contact was opened")
    topic: str | None
    outcome: str | None = Field(description="Outcome code if the contact was closed")


class HandoffPacket(_Frozen):
    """Versioned context handed to the agent. `schema_version` changes on any breaking change."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    tenant: str
    channel: Channel
    contact_id: str
    topic: TopicInfo | None = Field(description="None when the bot never settled on a topic")
    queue: QueueInfo
    summary: str = Field(description="The citizen's request in one sentence, taken from their words")
    transcript: tuple[TranscriptEntry, ...]
    entities: tuple[PacketEntity, ...]
    bot_actions: tuple[BotAction, ...]
    reason: PacketReason
    identity: Identity
    history: tuple[HistoryItem, ...] = Field(
        description="Other contacts of this citizen in the tenant (same phone or e-mail), newest first"
    )
    deadline: UTCInstant | None = Field(description="SLA due time (e-mail: 2 business hours)")
    note: str | None = Field(default=None, description="Agent's note on a transfer")
    created_at: UTCInstant


# --- inputs (frozen dataclasses inside) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    author: Author
    text: str  # as sent
    at: datetime


@dataclass(frozen=True, slots=True)
class BotStep:
    action: Action
    topic: str | None
    article: ArticleRef | None
    at: datetime


# --- summary -------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[0-9A-Za-zÆØÅæøåÉéÜüÖöÄä]+")
# Words that carry no request: function words, greetings and asking-for-a-person phrases.
STOPWORDS_DA = frozenset(
    """
    af alle alt andet andre at blev bliver da de dem den denne der deres det dette dig din dine disse
    du efter eller en end er et for fra få gerne godt har havde have hej hende hendes her hos hun hvad
    hvem hvis hvor hvordan hvornår i ikke ind jeg jer jo kan kunne man mange med meget men mig min
    mine mit må nej noget nogen nu når og også om op os over på sig sin sine sit skal skulle som så
    til ud under var vi vil ville være været tak mange venlig hilsen goddag hallo dav
    menneske mennesker medarbejder medarbejderen person rigtig tale snakke chatte ringe hjælp hjælpe
    please okay ok ja
    """.split()
)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


_MASKS = frozenset({"cpr", "e", "mail", "telefon", "tal"})  # the words of bot.privacy's masks


def informative_words(sentence: str) -> set[str]:
    """Distinct content words, counted on the redacted sentence so personal data (a CPR
    number, a phone number) does not make a sentence look informative."""
    words = (m.group(0).lower() for m in _WORD.finditer(redact(sentence)))
    return {w for w in words if len(w) > 1 and w not in STOPWORDS_DA and w not in _MASKS}


def summarise(citizen_texts: Iterable[str], *, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """The most informative sentence the citizen wrote (extractive; no text is invented).

    Score = number of distinct words outside `STOPWORDS_DA` (so "Jeg vil gerne tale med et
    menneske" scores 0); ties go to a question, then to the earliest sentence. Longer than
    `max_chars` is cut at a word boundary with "…". No citizen text gives "".
    """
    best: tuple[tuple[int, int, int], str] | None = None
    index = 0
    for text in citizen_texts:
        for sentence in sentences(text):
            key = (len(informative_words(sentence)), int(sentence.endswith("?")), -index)
            index += 1
            if best is None or key > best[0]:
                best = (key, sentence)
    if best is None:
        return ""
    chosen = best[1]
    if len(chosen) > max_chars:
        cut = chosen[: max_chars - 1].rsplit(" ", 1)[0]
        chosen = cut + "…"
    return chosen


# --- building ------------------------------------------------------------------------------------


# Entity types that are personal data through and through: masked whole, whatever the value
# looks like (the NLU accepts a CPR number the redactor's date check would let through).
ENTITY_MASKS = {"cpr": CPR_MASK, "telefon": PHONE_MASK, "email": EMAIL_MASK}


def mask_entity_text(entity: str, text: str) -> str:
    """An entity's value or text as it may be stored and shown: the mask of its type, else redacted."""
    return ENTITY_MASKS.get(entity) or redact(text)


def _entities(nlu: NLUResult | None, reveal: bool) -> tuple[PacketEntity, ...]:
    if nlu is None:
        return ()
    if reveal:
        return tuple(PacketEntity(entity=e.entity, value=e.value, text=e.text) for e in nlu.entities)
    return tuple(
        PacketEntity(entity=e.entity, value=mask_entity_text(e.entity, e.value),
                     text=mask_entity_text(e.entity, e.text))
        for e in nlu.entities
    )  # fmt: skip


def _masked(e: PacketEntity) -> PacketEntity:
    return e.model_copy(
        update={"value": mask_entity_text(e.entity, e.value), "text": mask_entity_text(e.entity, e.text)}
    )


def redacted(packet: HandoffPacket) -> HandoffPacket:
    """`packet` as it is stored and shown to anyone the personal-data rule does not reveal it to.
    Idempotent, so packets stored before a change of the rules are cleaned when read."""
    name = packet.identity.name
    return packet.model_copy(
        update={
            "summary": redact(packet.summary),
            "transcript": tuple(t.model_copy(update={"text": redact(t.text)}) for t in packet.transcript),
            "entities": tuple(_masked(e) for e in packet.entities),
            "identity": packet.identity.model_copy(update={"name": None if name is None else redact(name)}),
            "note": None if packet.note is None else redact(packet.note),
        }
    )


def _article(ref: ArticleRef | None) -> ArticleInfo | None:
    if ref is None:
        return None
    return ArticleInfo(
        id=ref.id, title=ref.title, source=ref.source, source_url=ref.source_url, reviewed=ref.reviewed
    )


def build_packet(
    *,
    tenant: str,
    channel: Channel,
    contact_id: str,
    topic: TopicInfo | None,
    queue: QueueInfo,
    turns: Sequence[Turn],
    bot_steps: Sequence[BotStep],
    reason: PacketReason | HandoffReason | str,
    identity: Identity,
    history: Sequence[HistoryItem],
    deadline: datetime | None,
    created_at: datetime,
    nlu: NLUResult | None = None,
    summary: str | None = None,
    note: str | None = None,
    reveal: bool = False,
) -> HandoffPacket:
    """Assemble a packet. `reveal` shows texts and CPR values unredacted, and is honoured only
    when `identity.authenticated` (the caller also checks that the viewer is allowed)."""
    show = reveal and identity.authenticated
    clean = (lambda s: s) if show else redact
    citizen = [t.text for t in turns if t.author is Author.CITIZEN]
    if not show and identity.name is not None:
        identity = identity.model_copy(update={"name": redact(identity.name)})
    return HandoffPacket(
        tenant=tenant,
        channel=channel,
        contact_id=contact_id,
        topic=topic,
        queue=queue,
        summary=clean(summary if summary is not None else summarise(citizen)),
        transcript=tuple(TranscriptEntry(author=t.author, text=clean(t.text), at=t.at) for t in turns),
        entities=_entities(nlu, show),
        bot_actions=tuple(
            BotAction(action=s.action, topic=s.topic, article=_article(s.article), at=s.at) for s in bot_steps
        ),
        reason=PacketReason(reason),
        identity=identity,
        history=tuple(history),
        deadline=deadline,
        note=None if note is None else clean(note),
        created_at=created_at,
    )


def packet_schema() -> dict[str, object]:
    return HandoffPacket.model_json_schema(mode="serialization")


def schema_json() -> str:
    return json.dumps(packet_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export_schema(path: Path) -> None:
    """Write the JSON schema (docs/handoff-packet.schema.json); a test checks it is current."""
    path.write_text(schema_json(), encoding="utf-8")


if __name__ == "__main__":  # python -m bot.routing.handoff docs/handoff-packet.schema.json
    import sys

    export_schema(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/handoff-packet.schema.json"))
