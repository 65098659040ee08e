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
    # Queues of the topic contract the tenant does not run, and where their topics go instead.
    # Other queue ids (a crisis queue) are not the contract's and pass through.
    not_run: frozenset[str] = frozenset()
    fallback_queue: str | None = None

    def email_hours(self, queue_id: str | None, default: float) -> float:
        hours = self.email_sla_hours_by_queue.get(queue_id or "", self.email_sla_hours)
        return default if hours is None else hours

    def queue_for(self, queue_id: str) -> str:
        if queue_id in self.not_run and self.fallback_queue is not None:
            return self.fallback_queue
        return queue_id
