"""Tenants (municipalities) sharing one installation, from knowledge/tenants.yaml. Every request
names its tenant; an unknown tenant is a clear error, never a silent default.

This file is the one source of opening hours: a tenant's `schedule`, or a queue's own under
`queue_schedules` (`Tenant.opening_hours`). The engine's queue table holds a copy written at
start-up (`ConversationEngine.ensure_tenant`), and the weekday 08–18 default of
`bot.routing.calendar.default_schedule` applies only where a tenant gives no hours."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import TenantConfigError
from bot.routing.calendar import OpeningHours, default_schedule, schedule_from_mapping


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    email: str | None = None
    phone_numbers: tuple[str, ...] = ()
    schedule: Mapping[str, Any] | None = None
    queue_schedules: Mapping[str, Mapping[str, Any]] = {}
    priorities: Mapping[str, int] = {}

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


class Tenants(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_tenant: str
    tenants: tuple[Tenant, ...]

    @cached_property
    def by_id(self) -> dict[str, Tenant]:
        return {t.id: t for t in self.tenants}

    def get(self, tenant_id: str | None) -> Tenant:
        tid = tenant_id or self.default_tenant
        try:
            return self.by_id[tid]
        except KeyError:
            from bot.errors import UnknownTenant

            raise UnknownTenant(f"unknown tenant {tid!r}; known tenants: {sorted(self.by_id)}") from None


def load_tenants(path: Path) -> Tenants:
    try:
        t = Tenants.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise TenantConfigError(f"cannot load tenants from {path}: {exc}") from exc
    if t.default_tenant not in t.by_id:
        raise TenantConfigError(f"{path}: default_tenant {t.default_tenant!r} is not listed")
    for tenant in t.tenants:  # fail at start-up, not at the first call
        tenant.opening_hours()
        for q in tenant.queue_schedules:
            tenant.opening_hours(q)
    return t
