"""Boundary types shared between NLU, retrieval, triage and the API. Frozen dataclasses inside;
pydantic only where data enters (HTTP bodies, YAML, settings)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Action(enum.StrEnum):
    """What the front does with a message (issue 3 §7)."""

    ANSWER = "answer"
    SELFSERVICE = "selfservice"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    OUT_OF_SCOPE = "out_of_scope"
    EMERGENCY = "emergency"


class HandoffReason(enum.StrEnum):
    ASKED_FOR_HUMAN = "asked_for_human"
    SENSITIVE = "sensitive"
    CASEWORK = "casework"  # level 2/3: decisions, payments, the status of my case
    TOPIC_POLICY = "topic_policy"  # the topic's first action is a handoff (e.g. book a meeting)
    LOW_CONFIDENCE = "low_confidence"
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    start: int
    end: int
    value: str
    text: str
    extractor: str = "kontakt.rules"
    confidence: float = 1.0
    processors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class SafetySignal:
    """Emergency / distress evidence, computed separately from the topic classifier."""

    emergency: float = 0.0  # 0..1, acute danger now
    distress: float = 0.0  # 0..1, sensitive situation (segment 2)
    topic: str | None = None  # the sensitive topic the evidence points at, if any
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NLUResult:
    text: str
    ranking: tuple[IntentScore, ...]  # sorted, best first; topic ids only
    entities: tuple[Entity, ...] = ()
    tokens: tuple[tuple[int, int], ...] = ()
    out_of_scope: float = 0.0  # calibrated 0..1 evidence that no municipal topic fits
    safety: SafetySignal = field(default_factory=SafetySignal)
    language: str = "da"

    @property
    def top(self) -> IntentScore:
        return self.ranking[0]


@dataclass(frozen=True, slots=True)
class ArticleHit:
    article_id: str
    topic: str
    score: float


@dataclass(frozen=True, slots=True)
class ArticleRef:
    id: str
    title: str
    source: str  # title and URL of the first source, for citation
    source_url: str | None
    reviewed: str  # ISO date
    historical: bool


@dataclass(frozen=True, slots=True)
class TriageDecision:
    action: Action
    topic: str | None
    queue: str | None
    sensitive: bool
    confidence: float
    article: ArticleRef | None = None
    candidates: tuple[str, ...] = ()  # topics offered in a clarify
    reason: HandoffReason | None = None
    explanation: str = ""  # short, English, for logs and agents

    def to_data(self) -> dict[str, Any]:
        """The decision as JSON-ready data (how the engine stores it with the bot's reply); every
        field is kept, so `TriageDecision.from_data(d.to_data()) == d`."""
        article = self.article
        return {
            "action": self.action.value,
            "topic": self.topic,
            "queue": self.queue,
            "sensitive": self.sensitive,
            "confidence": self.confidence,
            "reason": self.reason.value if self.reason else None,
            "candidates": list(self.candidates),
            "article": None if article is None else {
                "id": article.id, "title": article.title, "source": article.source,
                "source_url": article.source_url, "reviewed": article.reviewed, "historical": article.historical,
            },
            "explanation": self.explanation,
        }  # fmt: skip

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TriageDecision:
        """The decision from `to_data` output. Data stored before `sensitive` and `explanation`
        were kept reads them as False and "" (see `bot.conversation.decision_from_event`)."""
        art = data.get("article")
        article = None if not art else ArticleRef(
            id=str(art["id"]), title=str(art["title"]), source=str(art["source"]), source_url=art.get("source_url"),
            reviewed=str(art["reviewed"]), historical=bool(art.get("historical", False)),
        )  # fmt: skip
        return cls(
            action=Action(data["action"]),
            topic=data.get("topic"),
            queue=data.get("queue"),
            sensitive=bool(data.get("sensitive", False)),
            confidence=float(data.get("confidence") or 0.0),
            article=article,
            candidates=tuple(data.get("candidates") or ()),
            reason=HandoffReason(data["reason"]) if data.get("reason") else None,
            explanation=str(data.get("explanation") or ""),
        )
