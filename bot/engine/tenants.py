"""Tenant set-up: the tenant and one queue row per queue of the topic contract."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.engine.core import EngineCore
from bot.routing import calendar
from bot.storage import repository as repo
from bot.storage.models import EventKind, QueueRow, Tenant


class TenantsMixin(EngineCore):
    """The tenant and its queues."""

    def ensure_tenant(
        self,
        tenant_id: str,
        name: str,
        *,
        priorities: Mapping[str, int] | None = None,
        schedules: Mapping[str, Mapping[str, Any]] | None = None,
        avg_handle_seconds: Mapping[str, int] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Create or update the tenant and one queue per queue in the topic contract
        (idempotent). Schedules use the format of calendar.schedule_from_mapping."""
        at = self._now(now)
        for schedule in (schedules or {}).values():
            calendar.schedule_from_mapping(schedule)  # validate before writing
        try:
            self._put_tenant(tenant_id, name, priorities, schedules, avg_handle_seconds, at)
        except IntegrityError:
            # Another worker starting at the same moment created it first: now it is an update.
            self._put_tenant(tenant_id, name, priorities, schedules, avg_handle_seconds, at)

    def _put_tenant(
        self,
        tenant_id: str,
        name: str,
        priorities: Mapping[str, int] | None,
        schedules: Mapping[str, Mapping[str, Any]] | None,
        avg_handle_seconds: Mapping[str, int] | None,
        at: datetime,
    ) -> None:
        with self.db.write() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                s.add(Tenant(id=tenant_id, name=name, created_at=at))
                s.flush()
                self._event(s, tenant_id, EventKind.TENANT_CREATED, at, name=name)
            else:
                tenant.name = name
            existing = repo.queues(s, tenant_id=tenant_id)
            for q in self.contract.queues:
                row = existing.get(q.id) or QueueRow(tenant_id=tenant_id, id=q.id)
                row.name = q.name
                row.priority = (priorities or {}).get(q.id, row.priority or 0)
                if schedules and q.id in schedules:
                    row.schedule = dict(schedules[q.id])
                row.avg_handle_seconds = (avg_handle_seconds or {}).get(q.id, row.avg_handle_seconds or 300)
                s.add(row)
