"""The held-out Danish dev set (eval/data/dev.yml), written apart from the training data."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from bot.types import Action

DEV_SET = Path(__file__).parent / "data" / "dev.yml"


# What a blind set's author meant a message to be; safety figures are computed per kind.
Kind = Literal["emergency", "sensitive", "harmless_alarm", "errand", "out_of_scope"]
Channel = Literal["chat", "email", "voice", "rest"]


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str
    topic: str
    action: Action | None = None
    note: str | None = None
    kind: Kind | None = None
    channel: Channel | None = None


class Conversation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    turns: tuple[str, ...]
    topic: str
    action: Action | None = None
    note: str | None = None


class DevSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int
    cases: tuple[Case, ...]
    conversations: tuple[Conversation, ...] = ()


def load_dev_set(path: Path = DEV_SET) -> DevSet:
    return DevSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
