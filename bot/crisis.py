"""Crisis mode, the pure part: what a crisis is, how its message is framed for each channel,
which citizen messages are about it, where they go, and which agents join the crisis queue.

In a crisis (a storm flood, a big fire, a failed water supply) every channel says the
supervisor's message first: the chat as its first bot message and a banner, the phone line
before the menu, the e-mail auto-reply in its first paragraph. The state lives in the database
(`bot.storage.crisis`); `bot.crisis_board` reads and switches it. Wording that frames the
message is in `bot/resources/crisis_da.yml`; the message itself is the supervisor's own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Literal

from bot.errors import InvalidCrisisMessage
from bot.types import Action, HandoffReason, TriageDecision
from bot.yaml_safe import safe_load

__all__ = [
    "CRISIS_QUEUE", "CRISIS_TOPIC", "MAX_KEYWORDS", "MAX_MESSAGE_CHARS", "SIMILARITY_THRESHOLD", "Crisis", "Lang", "SkillGrant",
    "clean_keywords", "clean_message", "crisis_decision", "grants_for", "keyword_hit", "related", "texts",
    "undo_grants",
]  # fmt: skip

Lang = Literal["da", "en"]

CRISIS_QUEUE = "krise"  # the tenant's dedicated crisis queue, created when a crisis first names it
CRISIS_QUEUE_NAME = "Krisekø"
MAX_MESSAGE_CHARS = 600  # read aloud on the phone line: about 40 seconds
MAX_KEYWORDS = 20
MAX_KEYWORD_CHARS = 40
# The topic of the contract for crisis information at larger incidents: the classifier's own sign
# that a message is about a crisis.
CRISIS_TOPIC = "generelt_kriseinformation"
# Cosine similarity (the app's embedder, query vs. passage) from which a message the bot could not
# answer counts as being about the crisis. Measured with the bundled e5 model on three crisis
# messages (flood, water supply, fire): questions about the same event 0.84-0.89, everyday
# questions 0.79-0.85. The margin is thin, so it only decides messages the bot could not place in
# another topic; the supervisor's keywords and the crisis topic are the reliable signals.
SIMILARITY_THRESHOLD = 0.84

_MARKUP = re.compile(r"[<>]|\*\*|__|\[[^\]]*\]\(|^#+\s|```", re.MULTILINE)
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    """The framing wording per language (bot/resources/crisis_da.yml)."""
    data = safe_load(resources.files("bot.resources").joinpath("crisis_da.yml").read_text("utf-8"))
    return {lang: dict(table) for lang, table in data.items()}


def _t(key: str, lang: Lang, **values: str) -> str:
    table = texts()
    return (table.get(lang, {}).get(key) or table["da"][key]).format(**values)


@dataclass(frozen=True, slots=True)
class Crisis:
    """One tenant's active crisis, as a supervisor switched it on."""

    tenant_id: str
    message_da: str
    message_en: str | None
    queue_id: str | None  # where questions about the crisis go; None: the usual queues
    keywords: tuple[str, ...]  # words that mark a question as being about the crisis
    started_at: datetime
    started_by: str  # agent id
    updated_at: datetime
    updated_by: str

    def message(self, lang: Lang = "da") -> str:
        """The message in the citizen's language (Danish when there is no English version)."""
        return self.message_en if lang == "en" and self.message_en else self.message_da

    def lang(self, lang: str) -> Lang:
        return "en" if lang == "en" and self.message_en else "da"

    def spoken(self, lang: Lang = "da") -> str:
        """What the phone line says before anything else."""
        lang = self.lang(lang)
        return _t("spoken", lang, message=self.message(lang))

    def mail_paragraph(self, lang: Lang = "da") -> str:
        """The first paragraph of an e-mail auto-reply (plain text)."""
        lang = self.lang(lang)
        return _t("mail", lang, message=self.message(lang))

    def chat_text(self) -> str:
        """The first bot message of a new chat: Danish, then English when there is an English
        version (the citizen has not written yet, so their language is not known)."""
        parts = [_t("chat", "da", message=self.message_da)]
        if self.message_en:
            parts.append(_t("chat", "en", message=self.message_en))
        return "\n\n".join(parts)

    def handoff_text(self, lang: str = "da") -> str:
        """The bot's reply when it sends a question about the crisis to the crisis queue."""
        return _t("handoff", "en" if lang == "en" else "da")


@dataclass(frozen=True, slots=True)
class SkillGrant:
    """An agent given the crisis queue skill by crisis mode; `previous` is the level before
    (None: no skill for that queue), so ending the crisis can put it back."""

    agent_id: str
    queue_id: str
    level: int
    previous: int | None


# --- input -------------------------------------------------------------------------------------


def clean_message(text: str, *, field: str = "message", limit: int = MAX_MESSAGE_CHARS) -> str:
    """One plain paragraph: whitespace collapsed; empty, too long or markup (HTML, Markdown) is
    refused, since the phone line reads it aloud and the e-mail is plain text."""
    value = " ".join(unicodedata.normalize("NFC", text).split())
    if not value:
        raise InvalidCrisisMessage(f"the crisis {field} is empty; write what citizens need to know")
    if len(value) > limit:
        raise InvalidCrisisMessage(
            f"the crisis {field} has {len(value)} characters; at most {limit} (it is read aloud on the phone)"
        )
    if _MARKUP.search(value):
        raise InvalidCrisisMessage(
            f"the crisis {field} contains markup (HTML or Markdown); write plain text, it is also read aloud"
        )
    return value


def clean_keywords(words: Iterable[str]) -> tuple[str, ...]:
    """Keywords lower-cased, de-duplicated, in the order given; each 2-40 characters, at most 20."""
    out: list[str] = []
    for raw in words:
        word = " ".join(unicodedata.normalize("NFC", raw).casefold().split())
        if not 2 <= len(word) <= MAX_KEYWORD_CHARS or not _WORD.search(word):
            raise InvalidCrisisMessage(f"crisis keyword {raw[:50]!r}: use 2-{MAX_KEYWORD_CHARS} characters")
        if word not in out:
            out.append(word)
    if len(out) > MAX_KEYWORDS:
        raise InvalidCrisisMessage(f"{len(out)} crisis keywords; at most {MAX_KEYWORDS}")
    return tuple(out)


# --- which questions are about the crisis ---------------------------------------------------------


def keyword_hit(text: str, keywords: Sequence[str]) -> bool:
    """A keyword of four or more letters matches the start of a word ("oversvøm" matches
    "oversvømmet"); a shorter one the whole word; a phrase of several words the phrase."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).casefold())
    joined = " ".join(words)
    for keyword in keywords:
        parts = _WORD.findall(keyword)
        if len(parts) > 1:
            if f" {' '.join(parts)} " in f" {joined} ":
                return True
        elif parts and any(w == parts[0] or (len(parts[0]) >= 4 and w.startswith(parts[0])) for w in words):
            return True
    return False


def related(
    text: str,
    crisis: Crisis,
    decision: TriageDecision,
    similarity: Callable[[], float],
    threshold: float = SIMILARITY_THRESHOLD,
) -> bool:
    """Whether a citizen's message is about the crisis: one of the supervisor's keywords, or the
    crisis information topic (as the decision or one of its candidates), or, for a message the bot
    could not answer from another topic, `similarity()` (cosine between the message and the
    crisis message; called only then) at or above `threshold`."""
    if keyword_hit(text, crisis.keywords) or CRISIS_TOPIC in (decision.topic, *decision.candidates):
        return True
    if decision.action in (Action.ANSWER, Action.SELFSERVICE):
        return False  # a confident answer about an everyday topic is not about the crisis
    return similarity() >= threshold


def crisis_decision(decision: TriageDecision, crisis: Crisis) -> TriageDecision | None:
    """A question about the crisis goes to the crisis queue, as a handoff. None when nothing
    changes: no crisis queue, or acute danger (112 first) or a sensitive situation, which keep
    their own way."""
    if crisis.queue_id is None or decision.action is Action.EMERGENCY or decision.sensitive:
        return None
    return replace(
        decision, action=Action.HANDOFF, queue=crisis.queue_id, reason=HandoffReason.TOPIC_POLICY, article=None,
        candidates=(), explanation=f"crisis mode: about the current crisis, to {crisis.queue_id}",
    )  # fmt: skip


# --- the crisis queue -------------------------------------------------------------------------------


def grants_for(
    skills: Mapping[str, Mapping[str, int]], source_queue: str, min_level: int, crisis_queue: str
) -> list[SkillGrant]:
    """Every agent with level >= `min_level` in `source_queue` joins `crisis_queue` at that same
    level (so the router still prefers the most skilled). An agent who already has that level or
    higher for the crisis queue is left alone."""
    out = []
    for agent_id in sorted(skills):
        levels = skills[agent_id]
        level = levels.get(source_queue, 0)
        previous = levels.get(crisis_queue)
        if level >= max(min_level, 1) and (previous or 0) < level:
            out.append(SkillGrant(agent_id, crisis_queue, level, previous))
    return out


def undo_grants(grants: Sequence[SkillGrant], skills: Mapping[str, Mapping[str, int]]) -> list[SkillGrant]:
    """The grants to undo when the crisis ends: only where the level is still the one crisis mode
    gave (a supervisor who changed it meanwhile decided otherwise)."""
    return [g for g in grants if skills.get(g.agent_id, {}).get(g.queue_id) == g.level]
