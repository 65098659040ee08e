"""The spoken texts (prompts_da.yml): loaded and validated once, then looked up by key and
language. Danish lives in the YAML file, never in the call-flow code."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from string import Formatter
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.errors import VoiceConfigError
from bot.routing.calendar import MONTHS_DA, WEEKDAYS_DA
from bot.topics import TopicContract
from bot.yaml_safe import safe_load

PROMPTS_FILE = "prompts_da.yml"
MAX_MENU_OPTIONS = 6  # seed 000 §2.3, Bilag 7


class Lang(enum.StrEnum):
    DA = "da"
    EN = "en"

    @property
    def bcp47(self) -> str:
        return {"da": "da-DK", "en": "en-GB"}[self.value]


class MenuOption(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[1-9]$")
    queue: str | None = None
    english: bool = False
    da: str
    en: str

    @model_validator(mode="after")
    def _target(self) -> MenuOption:
        if self.english == (self.queue is not None):
            raise ValueError(f"menu option {self.key}: give either a queue or english: true")
        return self


Menu = Annotated[tuple[MenuOption, ...], Field(min_length=1, max_length=MAX_MENU_OPTIONS)]


def _unique_keys(menu: tuple[MenuOption, ...], where: str) -> None:
    keys = [o.key for o in menu]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{where} keys must be unique, got {keys}")


class PromptFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    menu: Menu
    tenant_menus: dict[str, Menu] = {}  # a tenant's own menu (tenant id from knowledge/tenants.yaml)
    hints_da: tuple[str, ...] = ()
    hours_da: tuple[str, ...] = Field(min_length=25, max_length=25)
    hours_en: tuple[str, ...] = Field(min_length=25, max_length=25)
    weekdays_en: tuple[str, ...] = Field(min_length=7, max_length=7)
    months_en: tuple[str, ...] = Field(min_length=12, max_length=12)
    da: dict[str, str]
    en: dict[str, str]

    @model_validator(mode="after")
    def _complete(self) -> PromptFile:
        _unique_keys(self.menu, "menu")
        for tenant_id, menu in self.tenant_menus.items():
            _unique_keys(menu, f"tenant_menus.{tenant_id}")
        missing = sorted(set(self.da) - set(self.en))
        if missing:
            raise ValueError(f"keys under `da` without an English variant under `en`: {missing}")
        for lang, table in (("da", self.da), ("en", self.en)):
            for key, text in table.items():
                if not text.strip():
                    raise ValueError(f"{lang}.{key} is empty")
        return self


@dataclass(frozen=True)
class Prompts:
    data: PromptFile

    def text(self, key: str, lang: Lang = Lang.DA, /, **values: object) -> str:
        table = self.data.en if lang is Lang.EN else self.data.da
        template = table.get(key) or self.data.da.get(key)
        if template is None:
            raise VoiceConfigError(f"no prompt {key!r} in {PROMPTS_FILE}; add it under `da` and `en`")
        names = {f for _, f, _, _ in Formatter().parse(template) if f}
        if names - set(values):
            raise VoiceConfigError(f"prompt {key!r} needs {sorted(names - set(values))}")
        return template.format(**values)

    @property
    def menu(self) -> tuple[MenuOption, ...]:
        return self.data.menu

    def menu_for(self, tenant_id: str | None) -> tuple[MenuOption, ...]:
        """The called tenant's menu: its own under `tenant_menus`, else the shared one."""
        return self.data.tenant_menus.get(tenant_id or "", self.data.menu)

    def with_tenant_menus(self, menus: Mapping[str, tuple[MenuOption, ...]]) -> Prompts:
        """These prompts with each tenant's own menu (`voice.menu` in knowledge/tenants.yaml)."""
        if not menus:
            return self
        return Prompts(self.data.model_copy(update={"tenant_menus": {**self.data.tenant_menus, **menus}}))

    def menu_option(self, key: str, tenant_id: str | None = None) -> MenuOption | None:
        return next((o for o in self.menu_for(tenant_id) if o.key == key), None)

    def check_queues(self, contract: TopicContract, tenant_ids: Collection[str] | None = None) -> None:
        """Every menu queue must be a queue of the topic contract, and every tenant menu a known
        tenant's (called at start-up)."""
        menus = {"menu": self.data.menu, **{f"tenant_menus.{t}": m for t, m in self.data.tenant_menus.items()}}
        for where, menu in menus.items():
            for o in menu:
                if o.queue is not None and o.queue not in contract.queue_by_id:
                    raise VoiceConfigError(
                        f"{PROMPTS_FILE}: {where} option {o.key} names unknown queue {o.queue!r};"
                        " use a queue id from knowledge/topics.yaml"
                    )
        unknown = sorted(set(self.data.tenant_menus) - set(tenant_ids)) if tenant_ids is not None else []
        if unknown:
            raise VoiceConfigError(
                f"{PROMPTS_FILE}: tenant_menus names unknown tenants {unknown}; use ids from knowledge/tenants.yaml"
            )

    # --- spoken times -------------------------------------------------------------------

    def spoken_time(self, local: datetime, lang: Lang = Lang.DA) -> str:
        hours = self.data.hours_en if lang is Lang.EN else self.data.hours_da
        if local.minute == 0:
            return self.text("time_hour", lang, hour=hours[local.hour])
        if local.minute == 30:
            return self.text("time_half", lang, hour=hours[local.hour], next_hour=hours[local.hour + 1])
        return self.text("time_minutes", lang, hour=local.hour, minute=f"{local.minute:02d}")

    def spoken_when(self, at: datetime, now: datetime, lang: Lang = Lang.DA) -> str:
        """'i dag klokken otte', 'i morgen klokken otte' or 'mandag den 4. januar klokken otte'.
        Both datetimes in the same (local) time zone."""
        time = self.spoken_time(at, lang)
        days = (at.date() - now.date()).days
        if days == 0:
            return self.text("when_today", lang, time=time)
        if days == 1:
            return self.text("when_tomorrow", lang, time=time)
        if lang is Lang.EN:
            weekday, month = self.data.weekdays_en[at.weekday()], self.data.months_en[at.month - 1]
        else:
            weekday, month = WEEKDAYS_DA[at.weekday()], MONTHS_DA[at.month - 1]
        return self.text("when_date", lang, weekday=weekday, day=at.day, month=month, time=time)


def _load(text: str, where: str) -> Prompts:
    try:
        raw = safe_load(text)
        return Prompts(PromptFile.model_validate(raw))
    except (yaml.YAMLError, ValidationError) as exc:
        raise VoiceConfigError(f"{where} is invalid: {exc}") from None


@lru_cache(maxsize=1)
def load_prompts() -> Prompts:
    path = resources.files("connectors.voice").joinpath(PROMPTS_FILE)
    return _load(path.read_text("utf-8"), str(path))


def parse_prompts(text: str, where: str = "<string>") -> Prompts:
    """Validate a prompt file from text (tests and a future per-tenant override)."""
    return _load(text, where)
