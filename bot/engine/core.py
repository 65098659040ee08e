"""What every part of the engine shares: construction, the clock, moving a contact through the
state machine, events, schedules and agent snapshots, plus small pure helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from bot.engine.dispatch import RoutingSignal
from bot.engine.endings import DEFAULT_IDLE, IdlePolicy
from bot.engine.policy import TenantRouting
from bot.engine.states import ContactEvent, transition
from bot.engine.texts import TaskTexts
from bot.errors import InvalidSkillLevel, NaiveDatetime, NotAssignedAgent, UnknownOutcome
from bot.privacy import redact
from bot.routing import calendar, skills
from bot.routing.handoff import BotStep, QueueInfo, TopicInfo
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import (
    AgentState,
    AgentStateRow,
    Channel,
    Contact,
    ContactState,
    EventKind,
    Offer,
    Outcome,
    QueueRow,
    Task,
)
from bot.storage.repository import OfferView, TaskView
from bot.topics import TopicContract
from bot.types import Action, ArticleRef, TriageDecision

DEFAULT_QUEUE = "borgerservice_basis"
SLA_EMAIL_HOURS = 2.0
_DEFAULT_TEXTS = TaskTexts()


class EngineCore:
    """Construction and the private helpers shared by the engine's parts."""

    def __init__(
        self,
        db: Database,
        contract: TopicContract,
        clock: Callable[[], datetime],
        policy: skills.RoutingPolicy = skills.DEFAULT_POLICY,
        *,
        offer_timeout: timedelta = timedelta(seconds=30),
        default_queue: str = DEFAULT_QUEUE,
        email_sla_hours: float = SLA_EMAIL_HOURS,
        texts: TaskTexts = _DEFAULT_TEXTS,
        idle: IdlePolicy = DEFAULT_IDLE,
    ) -> None:
        self.db = db
        self.contract = contract
        self.clock = clock
        self.policy = policy
        self.offer_timeout = offer_timeout
        self.default_queue = default_queue
        self.email_sla_hours = email_sla_hours
        self.texts = texts
        self.idle = idle  # when a quiet bot conversation is over (close_idle)
        self.routing_signal = RoutingSignal()  # the dispatcher's wake-up (bot.engine.dispatch)
        # Each tenant's own policy (knowledge/tenants.yaml via configure_tenant); the values
        # above serve a tenant without one.
        self.tenant_routing: dict[str, TenantRouting] = {}

    # --- helpers ---------------------------------------------------------------------------

    def _now(self, now: datetime | None = None) -> datetime:
        value = self.clock() if now is None else now
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"clock/now gave {value.isoformat()} without a time zone; use UTC")
        return value.astimezone(UTC)

    def _policy(self, tenant_id: str) -> skills.RoutingPolicy:
        own = self.tenant_routing.get(tenant_id)
        return own.policy if own is not None and own.policy is not None else self.policy

    def _offer_timeout(self, tenant_id: str) -> timedelta:
        own = self.tenant_routing.get(tenant_id)
        return own.offer_timeout if own is not None and own.offer_timeout is not None else self.offer_timeout

    def _email_hours(self, tenant_id: str, queue_id: str | None) -> float:
        own = self.tenant_routing.get(tenant_id)
        return own.email_hours(queue_id, self.email_sla_hours) if own is not None else self.email_sla_hours

    def _route_soon(self, s: Session, tenant_id: str) -> None:
        """Something the router depends on changed: route the tenant once this transaction commits."""
        self.routing_signal.after_commit(s, tenant_id)

    @staticmethod
    def _move(s: Session, contact: Contact, event: ContactEvent, now: datetime) -> ContactState:
        old = contact.state
        contact.state = transition(old, event, contact_id=contact.id)
        contact.updated_at = now
        return old

    @staticmethod
    def _event(
        s: Session,
        tenant_id: str,
        kind: EventKind,
        at: datetime,
        contact: Contact | None = None,
        agent_id: str | None = None,
        **data: Any,
    ) -> None:
        # Events are kept for statistics long after the contact: add_event redacts what goes in.
        repo.add_event(
            s, tenant_id=tenant_id, kind=kind, at=at, contact_id=contact.id if contact else None,
            agent_id=agent_id, data=data,
        )  # fmt: skip

    @staticmethod
    def _schedule(queue: QueueRow | None) -> calendar.OpeningHours:
        if queue is None or not queue.schedule:
            return calendar.default_schedule()
        return calendar.schedule_from_mapping(queue.schedule)

    def _agent_snapshot(self, s: Session, tenant_id: str, row: AgentStateRow) -> skills.AgentSnapshot:
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=[row.agent_id])[row.agent_id]
        return skills.AgentSnapshot(
            agent_id=row.agent_id,
            state=row.state,
            skills=repo.skills_of(s, tenant_id=tenant_id, agent_ids=[row.agent_id])[row.agent_id],
            active=active,
            acw_until=row.acw_until,
            idle_since=row.idle_since,
        )

    def _set_agent(
        self, s: Session, tenant_id: str, row: AgentStateRow, state: AgentState, now: datetime, **why: Any
    ) -> None:
        old = row.state
        if old != state:
            row.state = state
            row.since = now
            self._event(s, tenant_id, EventKind.AGENT_STATE_CHANGED, now, agent_id=row.agent_id,
                        **{"from": old.value, "to": state.value}, **why)  # fmt: skip

    def _release_agent(self, s: Session, tenant_id: str, agent_id: str, now: datetime) -> None:
        """After a contact left the agent without being handled (withdrawn, abandoned)."""
        row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
        s.flush()
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=[agent_id])[agent_id]
        if row.state is AgentState.BUSY and not any(active.values()):
            row.idle_since = now
            self._set_agent(s, tenant_id, row, AgentState.AVAILABLE, now, reason="released")
        self._route_soon(s, tenant_id)  # the agent has room again

    def _finish_agent(
        self, s: Session, tenant_id: str, agent_id: str, channel: Channel, now: datetime
    ) -> float | None:
        """The agent finished a contact (close or transfer): skills.finish_contact decides ACW.
        Call before the contact leaves its active state. Returns the after-contact work that
        follows, in seconds (the router ends it at `acw_until`), or None when there is none."""
        row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
        snap = self._agent_snapshot(s, tenant_id, row)
        after = skills.finish_contact(snap, channel, now, self._policy(tenant_id))
        row.acw_until = after.acw_until
        row.idle_since = after.idle_since
        self._set_agent(s, tenant_id, row, after.state, now, reason="finished_contact")
        self._route_soon(s, tenant_id)  # free now, or when after-contact work ends (its timer)
        return None if after.acw_until is None else (after.acw_until - now).total_seconds()

    def _bot_steps(self, s: Session, c: Contact) -> list[BotStep]:
        return [
            _bot_step(e.data["decision"], e.at)
            for e in repo.events(s, tenant_id=c.tenant_id, contact_id=c.id)
            if e.kind is EventKind.BOT_REPLIED and e.data.get("decision")
        ]

    @cached_property
    def _sensitive_queues(self) -> frozenset[str]:
        """Queues that serve a sensitive topic (special needs, social, emergencies): what waits
        there never overflows to an agent without the skill."""
        return frozenset(t.queue for t in self.contract.topics if t.sensitive)

    def _routing_facts(self, c: Contact, queue: QueueRow | None) -> dict[str, Any]:
        """What the router needs beyond the queue and the wait: whether the contact is sensitive,
        and for an e-mail the moment it may overflow, counted against its reply promise."""
        topic = self.contract.by_id.get(c.topic) if c.topic else None
        sensitive = (topic is not None and topic.sensitive) or (c.queue_id in self._sensitive_queues)
        overflow_at = None
        if c.channel is Channel.EMAIL and c.sla_due_at is not None:
            hours, policy = self._email_hours(c.tenant_id, c.queue_id), self._policy(c.tenant_id)
            overflow_at = skills.email_overflow_at(c.sla_due_at, hours, self._schedule(queue), policy)
        return {"sensitive": sensitive, "overflow_at": overflow_at}

    @cached_property
    def _dialog_topics(self) -> frozenset[str]:
        """Small talk (greeting, thanks): a reply on these topics is not an answer."""
        return frozenset(t.id for t in self.contract.topics if t.domain == "dialog")

    def _queue_info(self, queue: QueueRow) -> QueueInfo:
        return QueueInfo(id=queue.id, name=queue.name)

    def _topic_info(self, topic_id: str | None) -> TopicInfo | None:
        if topic_id is None or topic_id not in self.contract.by_id:
            return None
        return TopicInfo(id=topic_id, title=self.contract.by_id[topic_id].title)

    def _queue_for(self, decision: TriageDecision | None, topic: str | None, tenant_id: str = "") -> str:
        if decision is not None and decision.queue:
            queue = decision.queue
        elif topic and topic in self.contract.by_id:
            queue = self.contract.by_id[topic].queue
        else:
            queue = self.default_queue
        own = self.tenant_routing.get(tenant_id)
        return own.queue_for(queue) if own is not None else queue  # a queue the tenant runs

    def _own(self, s: Session, tenant_id: str, agent_id: str, contact_id: str) -> Contact:
        repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
        c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
        if c.state in (ContactState.ASSIGNED, ContactState.AGENT_ACTIVE) and c.assigned_agent_id != agent_id:
            raise NotAssignedAgent(
                f"contact {contact_id!r} is assigned to agent {c.assigned_agent_id!r}, not {agent_id!r}"
            )
        return c  # other states: the caller's transition() raises IllegalTransition


# --- small pure helpers ---------------------------------------------------------------------------


def _check_level(agent_id: str, queue_id: str, level: int) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= skills.MAX_SKILL:
        raise InvalidSkillLevel(
            f"agent {agent_id!r}: skill {level!r} for queue {queue_id!r}; use a whole number 0..{skills.MAX_SKILL}"
        )


def _outcome(value: Outcome | str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        raise UnknownOutcome(
            f"unknown outcome {value!r}; use one of {', '.join(o.value for o in Outcome)}"
        ) from None


def _decision_data(decision: TriageDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    article = decision.article
    return {
        "action": decision.action.value,
        "topic": decision.topic,
        "queue": decision.queue,
        "confidence": decision.confidence,
        "reason": decision.reason.value if decision.reason else None,
        "candidates": list(decision.candidates),
        "article": None
        if article is None
        else {
            "id": article.id, "title": article.title, "source": article.source, "source_url": article.source_url,
            "reviewed": article.reviewed, "historical": article.historical,
        },
    }  # fmt: skip


def _bot_step(data: Mapping[str, Any], at: datetime) -> BotStep:
    art = data.get("article")
    article = None if not art else ArticleRef(
        id=art["id"], title=art["title"], source=art["source"], source_url=art.get("source_url"),
        reviewed=art["reviewed"], historical=bool(art.get("historical", False)),
    )  # fmt: skip
    return BotStep(action=Action(data["action"]), topic=data.get("topic"), article=article, at=at)


def _task_view(t: Task) -> TaskView:
    """A task as shown: the note redacted, also for tasks stored before notes were."""
    return replace(TaskView.of(t), note=redact(t.note))


def _offer_view(offer: Offer, c: Contact) -> OfferView:
    return OfferView(
        id=offer.id, contact_id=offer.contact_id, agent_id=offer.agent_id, queue_id=c.queue_id or "",
        channel=c.channel, skill=offer.skill, overflow=offer.overflow, offered_at=offer.offered_at,
        expires_at=offer.expires_at, status=offer.status,
    )  # fmt: skip
