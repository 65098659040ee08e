"""A tenant's routing policy as the engine holds it: set once at start-up from the tenant's
configuration (knowledge/tenants.yaml, `ConversationEngine.configure_tenant`) and read on every
routing decision. What the tenant leaves out (None) is the engine's own value, read at the
moment it is needed, as for a tenant without configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.routing import skills

__all__ = ["TenantRouting"]


@dataclass(frozen=True, slots=True)
class TenantRouting:
    policy: skills.RoutingPolicy | None = None
    offer_timeout: timedelta | None = None
    email_sla_hours: float | None = None  # the reply promise in business hours, unless the queue has its own
    email_sla_hours_by_queue: Mapping[str, float] = field(default_factory=dict)
    run: frozenset[str] | None = None  # the queues the tenant runs; None: every queue
    fallback_queue: str | None = None  # where a topic of a queue not run here goes

    def email_hours(self, queue_id: str | None, default: float) -> float:
        hours = self.email_sla_hours_by_queue.get(queue_id or "", self.email_sla_hours)
        return default if hours is None else hours

    def queue_for(self, queue_id: str) -> str:
        if self.run is None or queue_id in self.run or self.fallback_queue is None:
            return queue_id
        return self.fallback_queue
