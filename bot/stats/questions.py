"""Unanswered and weak questions: the citizen messages the bot could not answer, answered with
low confidence, or whose answer the citizen rated low, grouped by meaning so a knowledge editor
sees the gaps ("12 people asked about X") rather than a list of single messages.

Picking the messages (`weak_questions`) and clustering their sentence embeddings (`clusters`)
are pure; the caller embeds the texts in one batch with the app's embedder and names each
cluster's nearest topic with the topic classifier. Clustering is a single pass of threshold
(leader) clustering on cosine similarity: a message joins the cluster whose centroid is most
similar if that similarity reaches the threshold, else it starts a new one. Texts are the
redacted ones (`bot.privacy`), so examples never carry a CPR number, phone or e-mail address.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bot.routing.skills import Channel
from bot.stats.facts import DEFAULT_SCALES
from bot.storage.models import EventKind
from bot.types import Action

__all__ = ["Reason", "WeakQuestion", "QuestionCluster", "clusters", "weak_questions"]

WEAK_ACTIONS = frozenset({Action.CLARIFY.value, Action.OUT_OF_SCOPE.value})


class Reason(enum.StrEnum):
    UNANSWERED = "unanswered"  # the bot asked to clarify or found it out of scope
    LOW_CONFIDENCE = "low_confidence"  # the bot acted with confidence below the limit
    LOW_FEEDBACK = "low_feedback"  # the citizen rated the bot's answer low


class _Event(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> Any: ...
    @property
    def contact_id(self) -> str | None: ...


class _Message(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def contact_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def text_redacted(self) -> str: ...


@dataclass(frozen=True, slots=True)
class WeakQuestion:
    contact_id: str
    message_id: int
    text: str  # redacted
    reasons: tuple[Reason, ...]
    bot_topic: str | None  # the topic the bot gave it, if any


@dataclass(frozen=True, slots=True)
class QuestionCluster:
    size: int
    members: tuple[int, ...]  # indexes into the questions given to `clusters`
    examples: tuple[str, ...]


def _low_feedback(data: Any, channel: Channel, share: float) -> bool:
    if data.get("level") not in (None, "bot"):
        return False
    scale = data.get("scale") or DEFAULT_SCALES.get(channel, (1, 10))
    low, high = int(scale[0]), int(scale[1])
    scores = [s for s in dict(data.get("scores") or {}).values() if isinstance(s, int) and not isinstance(s, bool)]
    return bool(scores) and high > low and min((s - low) / (high - low) for s in scores) <= share


def weak_questions(
    events: Sequence[_Event],
    messages: Sequence[_Message],
    channels: dict[str, Channel],
    *,
    low_confidence: float = 0.5,
    low_feedback_share: float = 0.3,
) -> list[WeakQuestion]:
    """The citizen message behind each weak bot reply, once per message with every reason.
    A low survey score (in the lowest `low_feedback_share` of its scale) marks the message
    answered by the bot's last reply before it."""
    by_contact: dict[str, list[_Message]] = {}
    for m in messages:
        by_contact.setdefault(m.contact_id, []).append(m)
    found: dict[int, tuple[_Message, list[Reason], str | None]] = {}
    last_reply: dict[str, datetime] = {}

    def mark(contact: str, before: datetime, reason: Reason, topic: str | None) -> None:
        asked = [m for m in by_contact.get(contact, ()) if m.at <= before]
        if not asked:
            return
        m = asked[-1]
        entry = found.setdefault(m.id, (m, [], topic))
        if reason not in entry[1]:
            entry[1].append(reason)

    for e in sorted(events, key=lambda e: e.at):
        if e.contact_id is None:
            continue
        if e.kind == EventKind.BOT_REPLIED and e.data.get("decision"):
            d = e.data["decision"]
            last_reply[e.contact_id] = e.at
            confidence = d.get("confidence")
            if d.get("action") in WEAK_ACTIONS:
                mark(e.contact_id, e.at, Reason.UNANSWERED, d.get("topic"))
            elif isinstance(confidence, int | float) and confidence < low_confidence:
                mark(e.contact_id, e.at, Reason.LOW_CONFIDENCE, d.get("topic"))
        elif e.kind == EventKind.FEEDBACK and e.contact_id in last_reply:
            channel = channels.get(e.contact_id, Channel.CHAT)
            if _low_feedback(e.data, channel, low_feedback_share):
                mark(e.contact_id, last_reply[e.contact_id], Reason.LOW_FEEDBACK, None)
    return [
        WeakQuestion(m.contact_id, m.id, m.text_redacted, tuple(reasons), topic)
        for m, reasons, topic in sorted(found.values(), key=lambda t: t[0].id)
    ]


def clusters(
    vectors: npt.NDArray[np.floating[Any]], texts: Sequence[str], *, threshold: float = 0.8, examples: int = 3
) -> list[QuestionCluster]:
    """Threshold clustering of (row-normalised) `vectors`, largest cluster first; each with up
    to `examples` texts, the ones nearest its centroid first."""
    if len(texts) != len(vectors):
        raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
    v = np.asarray(vectors, dtype=np.float64)
    if len(v) == 0:
        return []
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sums: list[npt.NDArray[np.float64]] = []
    members: list[list[int]] = []
    for i, x in enumerate(v):
        best, best_sim = -1, threshold
        for c, s in enumerate(sums):
            sim = float(x @ (s / max(float(np.linalg.norm(s)), 1e-12)))
            if sim >= best_sim:
                best, best_sim = c, sim
        if best < 0:
            sums.append(x.copy())
            members.append([i])
        else:
            sums[best] = sums[best] + x
            members[best].append(i)
    out = []
    for s, idx in zip(sums, members, strict=True):
        centre = s / max(float(np.linalg.norm(s)), 1e-12)
        near = sorted(idx, key=lambda i: -float(v[i] @ centre))
        seen: list[str] = []
        for i in near:
            if texts[i] not in seen:
                seen.append(texts[i])
            if len(seen) == examples:
                break
        out.append(QuestionCluster(size=len(idx), members=tuple(idx), examples=tuple(seen)))
    return sorted(out, key=lambda c: (-c.size, c.members[0]))
