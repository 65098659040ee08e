"""The topic contract (knowledge/topics.yaml): stable topic and queue ids shared by NLU intents,
articles, triage and routing. Loaded and validated once; invalid contracts fail loudly."""

from __future__ import annotations

import enum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import TopicContractError
from bot.yaml_safe import safe_load

OUT_OF_SCOPE = "dialog_uden_for_omraade"
EMERGENCY = "dialog_noedsituation"
HUMAN = "dialog_menneske"
_ID = r"^[a-z][a-z0-9_]*$"


class Handling(enum.StrEnum):
    ANSWER = "answer"
    SELFSERVICE = "selfservice"
    HANDOFF = "handoff"
    OUT_OF_SCOPE = "out_of_scope"
    EMERGENCY = "emergency"


class Queue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID)
    name: str
    kind: Literal["queue", "external"]
    competence: Literal["basis", "udvidet", "specialist"]
    channels: tuple[Literal["voice", "chat", "email"], ...]
    source: str


class Topic(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID)
    title: str
    domain: str
    administration: str
    audience: Literal["borger", "erhverv", "begge"]
    level: Literal[1, 2, 3]
    handling: Handling
    queue: str
    selfservice: str | None
    sensitive: bool
    description: str
    source: str


class TopicContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    tenant_example: str
    queues: tuple[Queue, ...]
    topics: tuple[Topic, ...]

    @cached_property
    def by_id(self) -> dict[str, Topic]:
        return {t.id: t for t in self.topics}

    @cached_property
    def queue_by_id(self) -> dict[str, Queue]:
        return {q.id: q for q in self.queues}

    def topic(self, topic_id: str) -> Topic:
        try:
            return self.by_id[topic_id]
        except KeyError:
            raise TopicContractError(f"unknown topic id {topic_id!r}; ids are listed in knowledge/topics.yaml") from None

    def check(self) -> None:
        """Cross-field rules that a schema alone cannot express."""
        problems: list[str] = []
        for kind, ids in (("topic", [t.id for t in self.topics]), ("queue", [q.id for q in self.queues])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                problems.append(f"duplicate {kind} ids: {dupes}")
        for t in self.topics:
            if t.queue not in self.queue_by_id:
                problems.append(f"topic {t.id}: unknown queue {t.queue!r}")
            if not t.id.startswith(t.domain + "_"):
                problems.append(f"topic {t.id}: id does not start with its domain {t.domain!r}")
            if t.sensitive and t.handling not in (Handling.HANDOFF, Handling.EMERGENCY):
                problems.append(f"topic {t.id}: sensitive topics must hand off (handling is {t.handling})")
            if t.level > 1 and t.handling in (Handling.ANSWER, Handling.SELFSERVICE):
                problems.append(f"topic {t.id}: level {t.level} topics must not be answered by the bot")
        for required in (OUT_OF_SCOPE, EMERGENCY, HUMAN):
            if required not in self.by_id:
                problems.append(f"required topic {required!r} is missing")
        if problems:
            raise TopicContractError("knowledge/topics.yaml is invalid:\n  " + "\n  ".join(problems))


def load_contract(path: Path) -> TopicContract:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopicContractError(f"cannot load topic contract {path}: {exc}") from exc
    return _contract(text, str(path))


# A server's start-up reads the contract twice (the understanding, the review catalogue): the
# same text gives the same (frozen) contract, so it is parsed and checked once.
@lru_cache(maxsize=8)
def _contract(text: str, path: str) -> TopicContract:
    try:
        contract = TopicContract.model_validate(safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise TopicContractError(f"cannot load topic contract {path}: {exc}") from exc
    contract.check()
    return contract
