"""Tenant set-up: the tenant, one queue row per queue it runs, and its routing policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from bot.engine.core import EngineCore
from bot.engine.policy import TenantRouting
from bot.routing import calendar
from bot.storage import repository as repo
from bot.storage.models import EventKind, QueueRow, Tenant

if TYPE_CHECKING:
    from bot import tenants as config


class TenantsMixin(EngineCore):
    """The tenant and its queues."""

    def set_up_tenant(self, tenant: config.Tenant, *, now: datetime | None = None) -> None:
        """Everything knowledge/tenants.yaml says about one tenant: name, queues it runs (with
        their names, priorities and hours) and its routing policy. Idempotent; at start-up."""
        queue_ids = tenant.queue_ids(q.id for q in self.contract.queues)
        self.ensure_tenant(
            tenant.id, tenant.name, priorities=tenant.queue_priorities(), schedules=tenant.schedules(queue_ids),
            queue_ids=queue_ids, queue_names={q: tenant.queue_name(q, self.contract.queue_by_id[q].name)
                                              for q in queue_ids}, now=now,
        )  # fmt: skip
        r = tenant.routing
        own_policy = any(v is not None for v in (r.after_contact_work_seconds, r.overflow_after_seconds,
                                                  r.max_chats_per_agent, r.max_emails_per_agent)) or bool(
            r.overflow_after_seconds_by_queue)  # fmt: skip
        seconds = r.offer_timeout_seconds
        # What the file leaves out stays the engine's own value (None), read when it is needed.
        self.configure_tenant(tenant.id, TenantRouting(
            policy=tenant.routing_policy(self.policy) if own_policy else None,
            offer_timeout=None if seconds is None else timedelta(seconds=seconds),
            email_sla_hours=tenant.email_promise.hours,
            email_sla_hours_by_queue=dict(tenant.email_promise.by_queue),
            not_run=frozenset(q.id for q in self.contract.queues if not tenant.runs(q.id)),
            fallback_queue=tenant.queues.fallback,
        ))  # fmt: skip

    def configure_tenant(self, tenant_id: str, routing: TenantRouting) -> None:
        """The tenant's own routing policy, offer timeout, e-mail promise and queue set."""
        self.tenant_routing[tenant_id] = routing

    def ensure_tenant(
        self,
        tenant_id: str,
        name: str,
        *,
        priorities: Mapping[str, int] | None = None,
        schedules: Mapping[str, Mapping[str, Any]] | None = None,
        avg_handle_seconds: Mapping[str, int] | None = None,
        queue_ids: Iterable[str] | None = None,
        queue_names: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Create or update the tenant and one queue per queue in the topic contract, or per
        queue of `queue_ids` (the queues it runs; idempotent). Schedules use the format of
        calendar.schedule_from_mapping; `queue_names` override the contract's names."""
        at = self._now(now)
        for schedule in (schedules or {}).values():
            calendar.schedule_from_mapping(schedule)  # validate before writing
        try:
            self._put_tenant(tenant_id, name, priorities, schedules, avg_handle_seconds, at, queue_ids, queue_names)
        except IntegrityError:
            # Another worker starting at the same moment created it first: now it is an update.
            self._put_tenant(tenant_id, name, priorities, schedules, avg_handle_seconds, at, queue_ids, queue_names)

    def _put_tenant(
        self,
        tenant_id: str,
        name: str,
        priorities: Mapping[str, int] | None,
        schedules: Mapping[str, Mapping[str, Any]] | None,
        avg_handle_seconds: Mapping[str, int] | None,
        at: datetime,
        queue_ids: Iterable[str] | None = None,
        queue_names: Mapping[str, str] | None = None,
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
            run = None if queue_ids is None else set(queue_ids)
            for q in self.contract.queues:
                if run is not None and q.id not in run:
                    continue  # a queue this municipality does not staff: its topics go to the fallback
                row = existing.get(q.id) or QueueRow(tenant_id=tenant_id, id=q.id)
                row.name = (queue_names or {}).get(q.id, q.name)
                row.priority = (priorities or {}).get(q.id, row.priority or 0)
                if schedules and q.id in schedules:
                    row.schedule = dict(schedules[q.id])
                row.avg_handle_seconds = (avg_handle_seconds or {}).get(q.id, row.avg_handle_seconds or 300)
                s.add(row)
