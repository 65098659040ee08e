"""Tenants (municipalities) sharing one installation, from knowledge/tenants.yaml: the single
source of everything that differs between them (docs/tenants.md lists every key). Every request
names its tenant, or is found by the address, number or mailbox it reached; an unknown tenant is
a clear error, never a silent default.

Every key but `id` and `name` is optional, and its default is how the installation behaved
before the key existed, so an old tenants.yaml keeps working unchanged.

This file is the one source of opening hours: a tenant's `schedule`, or a queue's own under
`queue_schedules` (`Tenant.opening_hours`). The engine's queue table holds a copy written at
start-up (`ConversationEngine.ensure_tenant`), and the weekday 08–18 default of
`bot.routing.calendar.default_schedule` applies only where a tenant gives no hours.

The file is checked at start-up against the topic contract (`load_tenants(path, contract)`);
each complaint names the tenant, the key and the fix (`bot.tenant_checks`)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import TenantConfigError, UnknownTenant
from bot.routing import skills
from bot.routing.calendar import OpeningHours, default_schedule, schedule_from_mapping
from bot.yaml_safe import safe_load

if TYPE_CHECKING:
    from bot.topics import TopicContract

_ENV_NAME = r"^[A-Z][A-Z0-9_]*$"
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = r"^\+\d{8,15}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Texts(_Strict):
    """A citizen-facing text in Danish and (optionally) English."""

    da: str = Field(min_length=1)
    en: str | None = None

    def get(self, lang: str = "da") -> str:
        return self.en if lang == "en" and self.en else self.da


class Widget(_Strict):
    """What the chat widget shows, and which sites may embed it."""

    name: str | None = None  # shown in the widget's header; default: the tenant's name
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    greeting: Texts | None = None  # the first bubble; default: the widget's own greeting
    # Sites (scheme://host[:port]) whose pages may open a chat; empty: any site, as before.
    allowed_origins: tuple[str, ...] = ()

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for origin in v:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin; write scheme://host[:port], e.g. https://www.rk.dk")
        return tuple(o.lower() for o in v)


class Imap(_Strict):
    """One IMAP mailbox. The password is never in this file: `password_env` names the variable."""

    host: str
    port: int = Field(default=993, ge=1, le=65535)
    user: str
    password_env: str = Field(pattern=_ENV_NAME)
    ssl: bool = True


class Mailbox(_Strict):
    """One address citizens write to: the tenant is found from it, on push and on IMAP alike."""

    address: str
    # The variable holding this address's own push secret (X-Kontakt-Email-Secret); without it,
    # pushes for this address use the installation's KONTAKT_EMAIL_INBOUND_SECRET.
    push_secret_env: str | None = Field(default=None, pattern=_ENV_NAME)
    imap: Imap | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if not _ADDRESS.match(v):
            raise ValueError(f"{v!r} is not an e-mail address; write e.g. kontakt@rk.dk")
        return v.lower()


class MenuOption(_Strict):
    """One key of the phone menu: a queue, or English service (`english: true`)."""

    key: str = Field(pattern=r"^[1-9]$")
    queue: str | None = None
    english: bool = False
    da: str = Field(min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="after")
    def _target(self) -> MenuOption:
        if self.english == (self.queue is not None):
            raise ValueError(f"menu option {self.key}: give either a queue or english: true")
        return self


class Voice(_Strict):
    menu: tuple[MenuOption, ...] = Field(default=(), max_length=6)  # empty: the shared menu

    @field_validator("menu")
    @classmethod
    def _unique(cls, v: tuple[MenuOption, ...]) -> tuple[MenuOption, ...]:
        keys = [o.key for o in v]
        if len(set(keys)) != len(keys):
            raise ValueError(f"menu keys must be unique, got {keys}")
        return v


class QueueOverride(_Strict):
    name: str | None = None  # shown to citizens and agents instead of topics.yaml's
    priority: int | None = None  # instead of `priorities`


class QueueSet(_Strict):
    """Which of topics.yaml's queues the tenant runs; a topic whose queue it does not run goes to
    `fallback`. No `run`: every queue, as before."""

    run: tuple[str, ...] | None = None
    fallback: str | None = None
    overrides: Mapping[str, QueueOverride] = {}


class Routing(_Strict):
    """The tenant's routing policy; a key left out keeps bot.routing.skills' default."""

    after_contact_work_seconds: float | None = Field(default=None, ge=0, le=3600)
    offer_timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    overflow_after_seconds: float | None = Field(default=None, ge=0)
    overflow_after_seconds_by_queue: Mapping[str, float | None] = {}  # null: the queue never overflows
    max_chats_per_agent: int | None = Field(default=None, ge=1, le=20)
    max_emails_per_agent: int | None = Field(default=None, ge=1, le=50)


class EmailPromise(_Strict):
    """The reply promise in business hours (the queue's opening hours)."""

    hours: float | None = Field(default=None, gt=0, le=24 * 30)  # default: KONTAKT_EMAIL_PROMISE_HOURS
    by_queue: Mapping[str, float] = {}

    @field_validator("by_queue")
    @classmethod
    def _positive(cls, v: Mapping[str, float]) -> Mapping[str, float]:
        for queue, hours in v.items():
            if not 0 < hours <= 24 * 30:
                raise ValueError(f"by_queue.{queue} = {hours}; give business hours above 0 and at most 720")
        return v


class SurveyQuestion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # the key the answers are stored under
    da: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Survey(_Strict):
    enabled: bool = True
    questions: tuple[SurveyQuestion, ...] = Field(default=(), max_length=4)  # empty: the shared four


class Tenant(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    email: str | None = None  # the address replies come from; default: the first mailbox's
    phone_numbers: tuple[str, ...] = ()
    schedule: Mapping[str, Any] | None = None
    queue_schedules: Mapping[str, Mapping[str, Any]] = {}
    priorities: Mapping[str, int] = {}
    widget: Widget = Widget()
    mailboxes: tuple[Mailbox, ...] = ()
    voice: Voice = Voice()
    queues: QueueSet = QueueSet()
    routing: Routing = Routing()
    email_promise: EmailPromise = EmailPromise()
    survey: Survey = Survey()

    @field_validator("phone_numbers")
    @classmethod
    def _numbers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for n in v:
            if not re.match(_NUMBER, n.replace(" ", "")):
                raise ValueError(f"{n!r} is not a number in E.164 form; write e.g. +4536373637")
        return tuple(n.replace(" ", "") for n in v)

    @property
    def reply_address(self) -> str | None:
        return self.email or (self.mailboxes[0].address if self.mailboxes else None)

    @property
    def addresses(self) -> frozenset[str]:
        """Every address this tenant receives mail at (lower case)."""
        return frozenset({m.address for m in self.mailboxes} | ({self.email.lower()} if self.email else set()))

    def opening_hours(self, queue_id: str | None = None) -> OpeningHours:
        spec = self.queue_schedules.get(queue_id) if queue_id else None
        spec = spec or self.schedule
        return schedule_from_mapping(dict(spec)) if spec else default_schedule()

    def schedules(self, queue_ids: Iterable[str] = ()) -> dict[str, Mapping[str, Any]]:
        """Schedule mappings for the engine: every given queue gets the tenant's hours unless it
        has its own (without a tenant schedule, the engine's default weekdays 08–18 apply)."""
        out = {q: self.schedule for q in queue_ids if self.schedule is not None}
        out.update(self.queue_schedules)
        return out

    # --- the queue set --------------------------------------------------------------------

    def runs(self, queue_id: str) -> bool:
        return self.queues.run is None or queue_id in self.queues.run

    def queue_for(self, queue_id: str, known: Collection[str]) -> str:
        """The queue this tenant sends a topic's queue to: itself if run here, else the fallback.
        Only the topic contract's queues (`known`) are mapped; another id (a crisis queue) stays."""
        if queue_id in known and not self.runs(queue_id) and self.queues.fallback is not None:
            return self.queues.fallback
        return queue_id

    def queue_ids(self, contract_queues: Iterable[str]) -> list[str]:
        return [q for q in contract_queues if self.runs(q)]

    def queue_name(self, queue_id: str, default: str) -> str:
        override = self.queues.overrides.get(queue_id)
        return override.name if override and override.name else default

    def queue_priorities(self) -> dict[str, int]:
        out = dict(self.priorities)
        out.update({q: o.priority for q, o in self.queues.overrides.items() if o.priority is not None})
        return out

    # --- policy ---------------------------------------------------------------------------

    def promise_hours(self, queue_id: str | None, default: float) -> float:
        """Business hours within which an e-mail to this queue is answered."""
        if queue_id and queue_id in self.email_promise.by_queue:
            return self.email_promise.by_queue[queue_id]
        return self.email_promise.hours or default

    def routing_policy(self, base: skills.RoutingPolicy = skills.DEFAULT_POLICY) -> skills.RoutingPolicy:
        r = self.routing
        concurrency = dict(base.concurrency)
        if r.max_chats_per_agent is not None:
            concurrency[skills.Channel.CHAT] = r.max_chats_per_agent
        if r.max_emails_per_agent is not None:
            concurrency[skills.Channel.EMAIL] = r.max_emails_per_agent
        overflow = dict(base.overflow_after_seconds)
        overflow.update(r.overflow_after_seconds_by_queue)
        return skills.RoutingPolicy(
            acw_seconds=base.acw_seconds if r.after_contact_work_seconds is None else r.after_contact_work_seconds,
            overflow_after_seconds=overflow,
            default_overflow_after_seconds=(base.default_overflow_after_seconds if r.overflow_after_seconds is None
                                            else r.overflow_after_seconds),
            overflow_targets=base.overflow_targets, concurrency=concurrency, channel_priority=base.channel_priority,
            callback_queue_length=base.callback_queue_length, callback_wait_seconds=base.callback_wait_seconds,
            exclusive_voice=base.exclusive_voice, protected_queues=base.protected_queues,
            email_overflow_fraction=base.email_overflow_fraction,
        )  # fmt: skip


class Tenants(_Strict):
    default_tenant: str
    tenants: tuple[Tenant, ...]

    @cached_property
    def by_id(self) -> dict[str, Tenant]:
        return {t.id: t for t in self.tenants}

    @cached_property
    def by_address(self) -> dict[str, Tenant]:
        return {a: t for t in self.tenants for a in t.addresses}

    @cached_property
    def by_number(self) -> dict[str, Tenant]:
        return {n: t for t in self.tenants for n in t.phone_numbers}

    @property
    def single(self) -> Tenant | None:
        """The one tenant of a single-municipality installation, else None."""
        return self.tenants[0] if len(self.tenants) == 1 else None

    def get(self, tenant_id: str | None) -> Tenant:
        tid = tenant_id or self.default_tenant
        try:
            return self.by_id[tid]
        except KeyError:
            raise UnknownTenant(f"unknown tenant {tid!r}; known tenants: {sorted(self.by_id)}") from None

    def for_address(self, address: str) -> Tenant | None:
        return self.by_address.get(address.strip().lower())


def load_tenants(path: Path, contract: TopicContract | None = None) -> Tenants:
    """Read and check the tenants file; with the topic contract, also every queue it names.
    Raises `TenantConfigError` naming the tenant, the key and the fix."""
    from bot.tenant_checks import check_tenants, describe_validation

    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TenantConfigError(f"cannot load tenants from {path}: {exc}") from exc
    try:
        t = Tenants.model_validate(raw)
    except ValidationError as exc:
        raise TenantConfigError(f"{path}:\n  " + "\n  ".join(describe_validation(exc, raw))) from None
    problems = check_tenants(t, contract)
    if problems:
        raise TenantConfigError(f"{path}:\n  " + "\n  ".join(problems))
    return t
