"""The conversation engine: the per-contact state machine and the I/O around the pure decisions
(load from the database, decide with bot.routing, store, append an event).

States and steps (`TRANSITIONS`; `transition` is the pure check)::

    BOT ─request_handoff→ HANDOFF_REQUESTED ─enqueue→ QUEUED ─offer→ OFFERED ─accept→ ASSIGNED
      ASSIGNED ─agent_reply→ AGENT_ACTIVE ─close→ CLOSED      (ASSIGNED may close directly)
      OFFERED ─unanswered→ QUEUED (front of queue, skills.return_unanswered)
      ASSIGNED / AGENT_ACTIVE ─transfer→ QUEUED (another queue, new handoff packet version)
      BOT / HANDOFF_REQUESTED / QUEUED ─leave_message→ MESSAGE_LEFT, ─request_callback→ CALLBACK_REQUESTED
      MESSAGE_LEFT / CALLBACK_REQUESTED ─complete_task→ CLOSED
      BOT / QUEUED / OFFERED ─abandon→ ABANDONED

Every public method runs in one transaction (committed before it returns), takes
`tenant_id` explicitly and appends at least one event. The bot may answer only in BOT
(`bot_may_answer`); every channel asks that, never a flag of its own.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from bot.errors import (
    AgentExists,
    IllegalTransition,
    InvalidSkillLevel,
    InvalidTaskInput,
    NaiveDatetime,
    NoStaffedAgents,
    NotAssignedAgent,
    StaleOffer,
    UnknownOutcome,
)
from bot.privacy import redact, redact_data
from bot.routing import calendar, skills
from bot.routing.handoff import (
    BotStep,
    HandoffPacket,
    HistoryItem,
    Identity,
    PacketReason,
    QueueInfo,
    TopicInfo,
    Turn,
    build_packet,
    redacted,
)
from bot.storage import repository as repo
from bot.storage.db import Database
from bot.storage.models import (
    Agent,
    AgentRole,
    AgentSkill,
    AgentState,
    AgentStateRow,
    Author,
    Channel,
    Contact,
    ContactState,
    Direction,
    EventKind,
    Handoff,
    Offer,
    OfferStatus,
    Outcome,
    QueueRow,
    Task,
    TaskKind,
    TaskStatus,
    Tenant,
)
from bot.storage.repository import ContactView, EventView, MessageView, OfferView, TaskView
from bot.topics import TopicContract
from bot.types import Action, ArticleRef, HandoffReason, NLUResult, TriageDecision

__all__ = [
    "ContactEvent", "ContactState", "ConversationEngine", "QueueStatus", "TRANSITIONS", "TaskTexts",
    "transition",
]  # fmt: skip


class ContactEvent(enum.StrEnum):
    CITIZEN_MESSAGE = "citizen_message"
    BOT_REPLY = "bot_reply"
    REQUEST_HANDOFF = "request_handoff"
    ENQUEUE = "enqueue"
    OFFER = "offer"
    ACCEPT = "accept"
    UNANSWERED = "unanswered"  # declined or expired offer
    AGENT_REPLY = "agent_reply"
    TRANSFER = "transfer"
    CLOSE = "close"
    LEAVE_MESSAGE = "leave_message"
    REQUEST_CALLBACK = "request_callback"
    COMPLETE_TASK = "complete_task"
    ABANDON = "abandon"


S, E = ContactState, ContactEvent
_CITIZEN_CAN_WRITE = (
    S.BOT, S.HANDOFF_REQUESTED, S.QUEUED, S.OFFERED, S.ASSIGNED, S.AGENT_ACTIVE, S.MESSAGE_LEFT,
    S.CALLBACK_REQUESTED,
)  # fmt: skip
TRANSITIONS: Mapping[tuple[ContactState, ContactEvent], ContactState] = {
    **{(s, E.CITIZEN_MESSAGE): s for s in _CITIZEN_CAN_WRITE},
    (S.BOT, E.BOT_REPLY): S.BOT,
    (S.BOT, E.REQUEST_HANDOFF): S.HANDOFF_REQUESTED,
    (S.HANDOFF_REQUESTED, E.ENQUEUE): S.QUEUED,
    (S.QUEUED, E.OFFER): S.OFFERED,
    (S.OFFERED, E.ACCEPT): S.ASSIGNED,
    (S.OFFERED, E.UNANSWERED): S.QUEUED,
    (S.ASSIGNED, E.AGENT_REPLY): S.AGENT_ACTIVE,
    (S.AGENT_ACTIVE, E.AGENT_REPLY): S.AGENT_ACTIVE,
    (S.ASSIGNED, E.TRANSFER): S.QUEUED,
    (S.AGENT_ACTIVE, E.TRANSFER): S.QUEUED,
    (S.ASSIGNED, E.CLOSE): S.CLOSED,
    (S.AGENT_ACTIVE, E.CLOSE): S.CLOSED,
    **{(s, E.LEAVE_MESSAGE): S.MESSAGE_LEFT for s in (S.BOT, S.HANDOFF_REQUESTED, S.QUEUED)},
    **{(s, E.REQUEST_CALLBACK): S.CALLBACK_REQUESTED for s in (S.BOT, S.HANDOFF_REQUESTED, S.QUEUED)},
    (S.MESSAGE_LEFT, E.COMPLETE_TASK): S.CLOSED,
    (S.CALLBACK_REQUESTED, E.COMPLETE_TASK): S.CLOSED,
    **{(s, E.ABANDON): S.ABANDONED for s in (S.BOT, S.QUEUED, S.OFFERED)},
}


def transition(state: ContactState, event: ContactEvent, *, contact_id: str | None = None) -> ContactState:
    """The state after `event`, or `IllegalTransition` naming the contact, state and step."""
    try:
        return TRANSITIONS[(ContactState(state), ContactEvent(event))]
    except (KeyError, ValueError):
        raise IllegalTransition(state, event, contact_id) from None


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """What to tell a waiting citizen. `position` is None when the contact is not waiting."""

    contact_id: str
    queue_id: str | None
    position: int | None
    waiting: int
    expected_wait: timedelta | None  # None when nobody staffed has the skill
    offer_callback: bool
    is_open: bool
    opens_at: datetime | None  # next opening when closed


@dataclass(frozen=True, slots=True)
class TaskTexts:
    """Citizen-facing expectation texts (Danish data, not logic). Placeholders: {phone},
    {deadline} (as 'mandag den 4. januar kl. 10.00'), {opens} (next opening)."""

    callback: str = "Vi ringer dig op på {phone} senest {deadline}."
    message: str = "Din besked er givet videre. Du hører fra os på {phone} senest {deadline}."
    closed_suffix: str = " Vi har lukket nu og åbner igen {opens}."
    callback_hours: float = 2.0  # business hours from the preferred time (or now)
    message_hours: float = 10.0  # one working day on the default schedule


DEFAULT_QUEUE = "borgerservice_basis"
SLA_EMAIL_HOURS = 2.0
_PHONE_DIGITS = re.compile(r"\d")


class ConversationEngine:
    """The state machine over the database. Cheap to construct; one per process is enough."""

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
        texts: TaskTexts = TaskTexts(),
    ) -> None:
        self.db = db
        self.contract = contract
        self.clock = clock
        self.policy = policy
        self.offer_timeout = offer_timeout
        self.default_queue = default_queue
        self.email_sla_hours = email_sla_hours
        self.texts = texts

    # --- helpers ---------------------------------------------------------------------------

    def _now(self, now: datetime | None = None) -> datetime:
        value = self.clock() if now is None else now
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"clock/now gave {value.isoformat()} without a time zone; use UTC")
        return value.astimezone(UTC)

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
        # Events are kept for statistics long after the contact: no personal data in them.
        repo.add_event(
            s, tenant_id=tenant_id, kind=kind, at=at, contact_id=contact.id if contact else None,
            agent_id=agent_id, data=redact_data(data),
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

    def _finish_agent(self, s: Session, tenant_id: str, agent_id: str, channel: Channel, now: datetime) -> None:
        """The agent finished a contact (close or transfer): skills.finish_contact decides ACW.
        Call before the contact leaves its active state."""
        row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
        snap = self._agent_snapshot(s, tenant_id, row)
        after = skills.finish_contact(snap, channel, now, self.policy)
        row.acw_until = after.acw_until
        row.idle_since = after.idle_since
        self._set_agent(s, tenant_id, row, after.state, now, reason="finished_contact")

    def _queue_info(self, queue: QueueRow) -> QueueInfo:
        return QueueInfo(id=queue.id, name=queue.name)

    def _topic_info(self, topic_id: str | None) -> TopicInfo | None:
        if topic_id is None or topic_id not in self.contract.by_id:
            return None
        return TopicInfo(id=topic_id, title=self.contract.by_id[topic_id].title)

    # --- tenants, queues, agents ----------------------------------------------------------------

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
        for queue_id, schedule in (schedules or {}).items():
            calendar.schedule_from_mapping(schedule)  # validate before writing
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

    def add_agent(
        self,
        tenant_id: str,
        agent_id: str,
        name: str,
        *,
        role: AgentRole = AgentRole.AGENT,
        token_hash: str | None = None,
        skills: Mapping[str, int] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Create an agent (OFFLINE) with optional skills. The token is hashed by the caller."""
        at = self._now(now)
        for queue_id, level in (skills or {}).items():
            _check_level(agent_id, queue_id, level)
        with self.db.write() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            if s.get(Agent, agent_id) is not None:
                raise AgentExists(f"agent {agent_id!r} already exists; agent ids are unique across tenants")
            s.add(Agent(id=agent_id, tenant_id=tenant_id, name=name, role=AgentRole(role),
                        token_hash=token_hash, created_at=at))  # fmt: skip
            s.flush()
            s.add(AgentStateRow(agent_id=agent_id, tenant_id=tenant_id, state=AgentState.OFFLINE, since=at))
            self._event(s, tenant_id, EventKind.AGENT_ADDED, at, agent_id=agent_id, role=str(role))
            for queue_id, level in (skills or {}).items():
                self._put_skill(s, tenant_id, agent_id, queue_id, level, at)

    def set_skill(
        self, tenant_id: str, agent_id: str, queue_id: str, level: int, *, now: datetime | None = None
    ) -> None:
        """Set an agent's level 0..9 for a queue (0 = cannot take it)."""
        at = self._now(now)
        _check_level(agent_id, queue_id, level)
        with self.db.write() as s:
            repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
            self._put_skill(s, tenant_id, agent_id, queue_id, level, at)

    def _put_skill(self, s: Session, tenant_id: str, agent_id: str, queue_id: str, level: int, at: datetime) -> None:
        repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
        row = s.get(AgentSkill, (agent_id, queue_id))
        if row is None:
            s.add(AgentSkill(tenant_id=tenant_id, agent_id=agent_id, queue_id=queue_id, level=level))
        else:
            row.level = level
        self._event(s, tenant_id, EventKind.SKILL_SET, at, agent_id=agent_id, queue_id=queue_id, level=level)

    def set_agent_state(
        self, tenant_id: str, agent_id: str, state: AgentState | str, *, now: datetime | None = None
    ) -> None:
        """Log in/out, pause, or end after-contact work. AVAILABLE clears any ACW."""
        at = self._now(now)
        state = AgentState(state)
        with self.db.write() as s:
            row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
            active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=[agent_id])[agent_id]
            if state in (AgentState.AVAILABLE, AgentState.BUSY):
                row.acw_until = None
                state = AgentState.BUSY if any(active.values()) else AgentState.AVAILABLE
                if row.state not in skills.ROUTABLE_STATES and not any(active.values()):
                    row.idle_since = at
            self._set_agent(s, tenant_id, row, state, at, reason="agent")

    # --- contacts and messages --------------------------------------------------------------------

    def open_contact(
        self,
        tenant_id: str,
        channel: Channel | str,
        external_ref: str,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        authenticated: bool = False,
        now: datetime | None = None,
    ) -> ContactView:
        """The contact for (tenant, channel, external_ref), created if new (idempotent).
        Identity fields fill in what is still unknown; `authenticated` only turns on."""
        at = self._now(now)
        channel = Channel(channel)
        for attempt in range(2):
            try:
                with self.db.write() as s:
                    repo.get_tenant(s, tenant_id=tenant_id)
                    c = repo.find_contact(s, tenant_id=tenant_id, channel=channel, external_ref=external_ref)
                    if c is None:
                        c = Contact(
                            id=str(uuid.uuid4()), tenant_id=tenant_id, channel=channel, external_ref=external_ref,
                            state=ContactState.BOT, created_at=at, updated_at=at, offer_attempts=0,
                            citizen_name=name, citizen_phone=phone, citizen_email=email,
                            authenticated=authenticated,
                        )  # fmt: skip
                        s.add(c)
                        s.flush()
                        self._event(s, tenant_id, EventKind.CONTACT_OPENED, at, c, channel=channel.value)
                    else:
                        c.citizen_name = c.citizen_name or name
                        c.citizen_phone = c.citizen_phone or phone
                        c.citizen_email = c.citizen_email or email
                        c.authenticated = c.authenticated or authenticated
                    return ContactView.of(c)
            except sa_exc.IntegrityError:
                if attempt:  # pragma: no cover - a second race on the same key
                    raise
        raise AssertionError("unreachable")

    def contact(self, tenant_id: str, contact_id: str) -> ContactView:
        with self.db.read() as s:
            return ContactView.of(repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id))

    def record_inbound(
        self,
        tenant_id: str,
        contact_id: str,
        text: str,
        client_message_id: str | None = None,
        *,
        now: datetime | None = None,
    ) -> MessageView:
        """Store a citizen message (committed before returning). A repeated
        `client_message_id` returns the stored message and writes nothing."""
        at = self._now(now)
        for attempt in range(2):
            try:
                with self.db.write() as s:
                    c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
                    if client_message_id is not None:
                        found = repo.find_message(
                            s, tenant_id=tenant_id, contact_id=contact_id, client_message_id=client_message_id
                        )
                        if found is not None:
                            return MessageView.of(found)
                    self._move(s, c, E.CITIZEN_MESSAGE, at)
                    m = repo.add_message(
                        s, tenant_id=tenant_id, contact_id=contact_id, direction=Direction.IN,
                        author=Author.CITIZEN, text=text, at=at, client_message_id=client_message_id,
                    )  # fmt: skip
                    self._event(s, tenant_id, EventKind.MESSAGE_RECEIVED, at, c, message_id=m.id,
                                state=c.state.value)  # fmt: skip
                    return MessageView.of(m)
            except sa_exc.IntegrityError:
                if attempt or client_message_id is None:
                    raise
        raise AssertionError("unreachable")

    def bot_may_answer(self, tenant_id: str, contact_id: str) -> bool:
        """True only while the bot owns the contact (state BOT). Every channel asks this."""
        with self.db.read() as s:
            return repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id).state is ContactState.BOT

    def record_bot_reply(
        self,
        tenant_id: str,
        contact_id: str,
        text: str,
        decision: TriageDecision | None = None,
        *,
        now: datetime | None = None,
    ) -> MessageView:
        """Store the bot's reply and what it did (for the packet's bot_actions)."""
        at = self._now(now)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            self._move(s, c, E.BOT_REPLY, at)
            if decision is not None and decision.topic and decision.topic in self.contract.by_id:
                if self.contract.by_id[decision.topic].domain != "dialog":
                    c.topic = decision.topic
            m = repo.add_message(s, tenant_id=tenant_id, contact_id=contact_id, direction=Direction.OUT,
                                 author=Author.BOT, text=text, at=at)  # fmt: skip
            self._event(s, tenant_id, EventKind.BOT_REPLIED, at, c, message_id=m.id,
                        decision=_decision_data(decision))  # fmt: skip
            return MessageView.of(m)

    def messages_since(
        self, tenant_id: str, contact_id: str, after_message_id: int = 0, *, outbound_only: bool = True
    ) -> list[MessageView]:
        """Messages after `after_message_id`, oldest first: by default only outbound ones (bot,
        agent), which is what a channel delivers to the citizen."""
        with self.db.read() as s:
            repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            rows = repo.messages(
                s, tenant_id=tenant_id, contact_id=contact_id, after_id=after_message_id,
                direction=Direction.OUT if outbound_only else None,
            )  # fmt: skip
            return [MessageView.of(m) for m in rows]

    def transcript(self, tenant_id: str, contact_id: str) -> list[MessageView]:
        return self.messages_since(tenant_id, contact_id, 0, outbound_only=False)

    # --- handoff --------------------------------------------------------------------------------

    def request_handoff(
        self,
        tenant_id: str,
        contact_id: str,
        decision: TriageDecision | None,
        reason: PacketReason | HandoffReason | str | None,
        summary: str | None = None,
        *,
        nlu: NLUResult | None = None,
        now: datetime | None = None,
    ) -> HandoffPacket:
        """BOT → HANDOFF_REQUESTED → QUEUED: choose the queue (decision, topic, default), set the
        e-mail SLA (2 business hours on the queue's schedule), store the packet and enqueue."""
        at = self._now(now)
        if reason is None:
            reason = decision.reason if decision is not None and decision.reason else PacketReason.ASKED_FOR_HUMAN
        reason = PacketReason(reason)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            self._move(s, c, E.REQUEST_HANDOFF, at)
            if decision is not None and decision.topic and decision.topic in self.contract.by_id:
                if self.contract.by_id[decision.topic].domain != "dialog" or c.topic is None:
                    c.topic = decision.topic
            queue_id = self._queue_for(decision, c.topic)
            queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
            c.queue_id = queue.id
            if c.channel is Channel.EMAIL and c.sla_due_at is None:
                c.sla_due_at = calendar.add_business_hours(at, self.email_sla_hours, self._schedule(queue)).astimezone(UTC)
            self._event(s, tenant_id, EventKind.HANDOFF_REQUESTED, at, c, reason=reason.value,
                        queue_id=queue.id, topic=c.topic)  # fmt: skip
            packet = self._packet(s, c, queue, reason, at, nlu=nlu, summary=summary)
            self._store_packet(s, c, packet, at)
            self._move(s, c, E.ENQUEUE, at)
            c.enqueued_at = at
            c.returned_at = None
            self._event(s, tenant_id, EventKind.QUEUED, at, c, queue_id=queue.id)
            return packet

    def _queue_for(self, decision: TriageDecision | None, topic: str | None) -> str:
        if decision is not None and decision.queue:
            return decision.queue
        if topic and topic in self.contract.by_id:
            return self.contract.by_id[topic].queue
        return self.default_queue

    def _packet(
        self,
        s: Session,
        c: Contact,
        queue: QueueRow,
        reason: PacketReason,
        at: datetime,
        *,
        nlu: NLUResult | None = None,
        summary: str | None = None,
        note: str | None = None,
    ) -> HandoffPacket:
        rows = repo.messages(s, tenant_id=c.tenant_id, contact_id=c.id)
        turns = [Turn(author=m.author, text=m.text, at=m.created_at) for m in rows]
        steps = []
        for e in repo.events(s, tenant_id=c.tenant_id, contact_id=c.id):
            if e.kind is EventKind.BOT_REPLIED and e.data.get("decision"):
                steps.append(_bot_step(e.data["decision"], e.at))
        history = [
            HistoryItem(contact_id=h.id, channel=h.channel, date=h.created_at, topic=h.topic,
                        outcome=h.outcome.value if h.outcome else None)  # fmt: skip
            for h in repo.citizen_history(s, tenant_id=c.tenant_id, phone=c.citizen_phone,
                                          email=c.citizen_email, exclude_contact_id=c.id)  # fmt: skip
        ]
        return build_packet(
            tenant=c.tenant_id, channel=c.channel, contact_id=c.id, topic=self._topic_info(c.topic),
            queue=self._queue_info(queue), turns=turns, bot_steps=steps, reason=reason,
            identity=Identity(name=c.citizen_name, phone=c.citizen_phone, email=c.citizen_email,
                              authenticated=c.authenticated),
            history=history, deadline=c.sla_due_at, created_at=at, nlu=nlu, summary=summary, note=note,
        )  # fmt: skip

    @staticmethod
    def _store_packet(s: Session, c: Contact, packet: HandoffPacket, at: datetime) -> None:
        version = len(repo.handoffs(s, tenant_id=c.tenant_id, contact_id=c.id)) + 1
        s.add(Handoff(tenant_id=c.tenant_id, contact_id=c.id, version=version, schema_version=packet.schema_version,
                      reason=packet.reason.value, packet=redacted(packet).model_dump(mode="json"),
                      created_at=at))  # fmt: skip

    def handoff_packets(self, tenant_id: str, contact_id: str) -> list[HandoffPacket]:
        """Every stored packet of the contact (redacted, also if stored under older rules),
        first handoff first."""
        with self.db.read() as s:
            repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            return [redacted(HandoffPacket.model_validate(h.packet))
                    for h in repo.handoffs(s, tenant_id=tenant_id, contact_id=contact_id)]  # fmt: skip

    # --- routing ----------------------------------------------------------------------------------

    def _snapshot(
        self, s: Session, tenant_id: str, *, lock: bool
    ) -> tuple[skills.RouterSnapshot, dict[str, Contact], dict[str, AgentStateRow], dict[str, QueueRow]]:
        queue_rows = repo.queues(s, tenant_id=tenant_id)
        contacts = repo.waiting_contacts(s, tenant_id=tenant_id, lock=lock)
        agent_rows = repo.routable_agent_states(s, tenant_id=tenant_id, lock=lock)
        ids = [a.agent_id for a in agent_rows]
        skill_map = repo.skills_of(s, tenant_id=tenant_id, agent_ids=ids)
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=ids)
        queued = tuple(
            skills.QueuedContact(
                contact_id=c.id, queue_id=c.queue_id or self.default_queue, channel=c.channel,
                enqueued_at=c.enqueued_at or c.updated_at, returned_at=c.returned_at,
                offer_attempts=c.offer_attempts,
                priority=queue_rows[c.queue_id].priority if c.queue_id in queue_rows else 0,
            )  # fmt: skip
            for c in contacts
        )
        agents = tuple(
            skills.AgentSnapshot(agent_id=a.agent_id, state=a.state, skills=skill_map[a.agent_id],
                                 active=active[a.agent_id], acw_until=a.acw_until, idle_since=a.idle_since)
            for a in agent_rows
        )  # fmt: skip
        snap = skills.RouterSnapshot(contacts=queued, agents=agents)
        return snap, {c.id: c for c in contacts}, {a.agent_id: a for a in agent_rows}, queue_rows

    def route(self, tenant_id: str, now: datetime | None = None) -> list[OfferView]:
        """Expire overdue offers, then offer waiting contacts to agents (skills.assign).

        PostgreSQL: waiting contacts and agent-state rows are locked FOR UPDATE SKIP LOCKED, so
        concurrent routers never offer a contact twice or overfill an agent. SQLite: the
        transaction starts with BEGIN IMMEDIATE, which serialises routers.
        """
        at = self._now(now)
        with self.db.write() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            for offer in repo.pending_offers(s, tenant_id=tenant_id, due_before=at, lock=True):
                self._unanswered(s, tenant_id, offer, OfferStatus.EXPIRED, at)
            s.flush()
            snap, contacts, agent_rows, _ = self._snapshot(s, tenant_id, lock=True)
            made: list[OfferView] = []
            for a in skills.assign(snap, at, self.policy):
                c = contacts[a.contact_id]
                self._move(s, c, E.OFFER, at)
                c.assigned_agent_id = a.agent_id
                offer = Offer(tenant_id=tenant_id, contact_id=c.id, agent_id=a.agent_id, skill=a.skill,
                              overflow=a.overflow, offered_at=at, expires_at=at + self.offer_timeout,
                              status=OfferStatus.PENDING)  # fmt: skip
                s.add(offer)
                s.flush()
                row = agent_rows[a.agent_id]
                row.acw_until = None
                self._set_agent(s, tenant_id, row, AgentState.BUSY, at, reason="offered")
                self._event(s, tenant_id, EventKind.OFFERED, at, c, agent_id=a.agent_id, offer_id=offer.id,
                            queue_id=a.queue_id, skill=a.skill, overflow=a.overflow)  # fmt: skip
                made.append(_offer_view(offer, c))
            return made

    def _unanswered(self, s: Session, tenant_id: str, offer: Offer, status: OfferStatus, at: datetime) -> Contact:
        """OFFERED → QUEUED at the front (skills.return_unanswered); the agent goes PAUSED so
        the same offer is not made again at once."""
        c = repo.get_contact(s, tenant_id=tenant_id, contact_id=offer.contact_id, lock=True)
        offer.status = status
        offer.decided_at = at
        self._move(s, c, E.UNANSWERED, at)
        queued = skills.QueuedContact(
            contact_id=c.id, queue_id=c.queue_id or self.default_queue, channel=c.channel,
            enqueued_at=c.enqueued_at or at, returned_at=c.returned_at, offer_attempts=c.offer_attempts,
        )  # fmt: skip
        returned = skills.return_unanswered(queued, at)
        c.returned_at = returned.returned_at
        c.offer_attempts = returned.offer_attempts
        c.assigned_agent_id = None
        kind = EventKind.OFFER_EXPIRED if status is OfferStatus.EXPIRED else EventKind.OFFER_DECLINED
        self._event(s, tenant_id, kind, at, c, agent_id=offer.agent_id, offer_id=offer.id)
        row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=offer.agent_id, lock=True)
        self._set_agent(s, tenant_id, row, AgentState.PAUSED, at, reason=f"offer_{status.value}")
        return c

    def expire_offers(self, tenant_id: str, now: datetime | None = None) -> int:
        at = self._now(now)
        with self.db.write() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            due = repo.pending_offers(s, tenant_id=tenant_id, due_before=at, lock=True)
            for offer in due:
                self._unanswered(s, tenant_id, offer, OfferStatus.EXPIRED, at)
            return len(due)

    def accept_offer(
        self, tenant_id: str, offer_id: int, agent_id: str, *, now: datetime | None = None
    ) -> ContactView:
        """OFFERED → ASSIGNED. Raises `StaleOffer` if the offer expired (it is then returned
        to the queue, committed) or was already decided; `NotAssignedAgent` for another agent."""
        at = self._now(now)
        expired = False
        with self.db.write() as s:
            repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
            offer = repo.get_offer(s, tenant_id=tenant_id, offer_id=offer_id, lock=True)
            if offer.agent_id != agent_id:
                raise NotAssignedAgent(f"offer {offer_id} was made to agent {offer.agent_id!r}, not {agent_id!r}")
            if offer.status is not OfferStatus.PENDING:
                raise StaleOffer(f"offer {offer_id} is already {offer.status.value}; wait for the next offer")
            if offer.expires_at <= at:
                self._unanswered(s, tenant_id, offer, OfferStatus.EXPIRED, at)
                expired = True
            else:
                c = repo.get_contact(s, tenant_id=tenant_id, contact_id=offer.contact_id, lock=True)
                self._move(s, c, E.ACCEPT, at)
                offer.status = OfferStatus.ACCEPTED
                offer.decided_at = at
                self._event(s, tenant_id, EventKind.OFFER_ACCEPTED, at, c, agent_id=agent_id, offer_id=offer.id,
                            waited_seconds=(at - (c.enqueued_at or at)).total_seconds())  # fmt: skip
                view = ContactView.of(c)
        if expired:
            raise StaleOffer(f"offer {offer_id} expired; the contact went back to the front of its queue")
        return view

    def decline_or_expire_offer(
        self,
        tenant_id: str,
        offer_id: int,
        *,
        agent_id: str | None = None,
        expired: bool = False,
        now: datetime | None = None,
    ) -> ContactView:
        """The agent declined (or the offer timed out): the contact goes back to the front of
        its queue and the agent to PAUSED. `StaleOffer` if the offer is no longer pending."""
        at = self._now(now)
        with self.db.write() as s:
            offer = repo.get_offer(s, tenant_id=tenant_id, offer_id=offer_id, lock=True)
            if agent_id is not None and offer.agent_id != agent_id:
                raise NotAssignedAgent(f"offer {offer_id} was made to agent {offer.agent_id!r}, not {agent_id!r}")
            if offer.status is not OfferStatus.PENDING:
                raise StaleOffer(f"offer {offer_id} is already {offer.status.value}")
            status = OfferStatus.EXPIRED if expired else OfferStatus.DECLINED
            return ContactView.of(self._unanswered(s, tenant_id, offer, status, at))

    # --- agent work -------------------------------------------------------------------------------

    def _own(self, s: Session, tenant_id: str, agent_id: str, contact_id: str) -> Contact:
        repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
        c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
        if c.state in (ContactState.ASSIGNED, ContactState.AGENT_ACTIVE) and c.assigned_agent_id != agent_id:
            raise NotAssignedAgent(
                f"contact {contact_id!r} is assigned to agent {c.assigned_agent_id!r}, not {agent_id!r}"
            )
        return c  # other states: the caller's transition() raises IllegalTransition

    def agent_reply(
        self,
        tenant_id: str,
        agent_id: str,
        contact_id: str,
        text: str,
        *,
        client_message_id: str | None = None,
        now: datetime | None = None,
    ) -> MessageView:
        """ASSIGNED/AGENT_ACTIVE → AGENT_ACTIVE; the channel picks it up with messages_since."""
        at = self._now(now)
        with self.db.write() as s:
            c = self._own(s, tenant_id, agent_id, contact_id)
            if client_message_id is not None:
                found = repo.find_message(s, tenant_id=tenant_id, contact_id=contact_id,
                                          client_message_id=client_message_id)  # fmt: skip
                if found is not None:
                    return MessageView.of(found)
            old = self._move(s, c, E.AGENT_REPLY, at)
            m = repo.add_message(s, tenant_id=tenant_id, contact_id=contact_id, direction=Direction.OUT,
                                 author=Author.AGENT, agent_id=agent_id, text=text, at=at,
                                 client_message_id=client_message_id)  # fmt: skip
            self._event(s, tenant_id, EventKind.AGENT_REPLIED, at, c, agent_id=agent_id, message_id=m.id,
                        first=old is ContactState.ASSIGNED)  # fmt: skip
            return MessageView.of(m)

    def transfer(
        self,
        tenant_id: str,
        agent_id: str,
        contact_id: str,
        queue_id: str,
        note: str,
        *,
        now: datetime | None = None,
    ) -> HandoffPacket:
        """Cold transfer to another queue (back of that queue) with a new packet version
        carrying the agent's note; the agent finishes the contact (after-contact work)."""
        at = self._now(now)
        with self.db.write() as s:
            c = self._own(s, tenant_id, agent_id, contact_id)
            queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
            transition(c.state, E.TRANSFER, contact_id=c.id)
            self._finish_agent(s, tenant_id, agent_id, c.channel, at)
            old_queue = c.queue_id
            self._move(s, c, E.TRANSFER, at)
            c.queue_id = queue.id
            c.assigned_agent_id = None
            c.enqueued_at = at
            c.returned_at = None
            c.offer_attempts = 0
            self._event(s, tenant_id, EventKind.TRANSFERRED, at, c, agent_id=agent_id,
                        from_queue=old_queue, to_queue=queue.id)  # fmt: skip
            packet = self._packet(s, c, queue, PacketReason.TRANSFER, at, note=note)
            self._store_packet(s, c, packet, at)
            self._event(s, tenant_id, EventKind.QUEUED, at, c, queue_id=queue.id)
            return packet

    def close(
        self, tenant_id: str, agent_id: str, contact_id: str, outcome: Outcome | str, *, now: datetime | None = None
    ) -> ContactView:
        """The agent closes with an outcome code and goes into after-contact work
        (policy.acw_seconds; skills.finish_contact)."""
        at = self._now(now)
        code = _outcome(outcome)
        with self.db.write() as s:
            c = self._own(s, tenant_id, agent_id, contact_id)
            transition(c.state, E.CLOSE, contact_id=c.id)
            self._finish_agent(s, tenant_id, agent_id, c.channel, at)
            self._move(s, c, E.CLOSE, at)
            c.outcome = code
            c.closed_at = at
            self._event(s, tenant_id, EventKind.CLOSED, at, c, agent_id=agent_id, outcome=code.value,
                        queue_id=c.queue_id, topic=c.topic)  # fmt: skip
            return ContactView.of(c)

    # --- messages and callbacks -------------------------------------------------------------------

    def leave_message(
        self,
        tenant_id: str,
        contact_id: str,
        phone: str,
        note: str,
        *,
        name: str | None = None,
        now: datetime | None = None,
    ) -> TaskView:
        """The citizen leaves a message (besked) for the back office."""
        return self._task(tenant_id, contact_id, TaskKind.MESSAGE, phone, note, name, None, now)

    def request_callback(
        self,
        tenant_id: str,
        contact_id: str,
        phone: str,
        note: str,
        *,
        preferred_at: datetime | None = None,
        name: str | None = None,
        now: datetime | None = None,
    ) -> TaskView:
        """The citizen asks to be called back (tilbagekald), e.g. when the queue is long or closed."""
        return self._task(tenant_id, contact_id, TaskKind.CALLBACK, phone, note, name, preferred_at, now)

    def _task(
        self,
        tenant_id: str,
        contact_id: str,
        kind: TaskKind,
        phone: str,
        note: str,
        name: str | None,
        preferred_at: datetime | None,
        now: datetime | None,
    ) -> TaskView:
        at = self._now(now)
        phone, note = (phone or "").strip(), (note or "").strip()
        if len(_PHONE_DIGITS.findall(phone)) < 8:
            raise InvalidTaskInput(f"a {kind.value} needs a phone number with at least 8 digits, got {phone!r}")
        if not note:
            raise InvalidTaskInput(f"a {kind.value} needs a note saying what it is about")
        if preferred_at is not None and (preferred_at.tzinfo is None or preferred_at.utcoffset() is None):
            raise NaiveDatetime(f"preferred_at={preferred_at.isoformat()} has no time zone")
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            event = E.LEAVE_MESSAGE if kind is TaskKind.MESSAGE else E.REQUEST_CALLBACK
            self._move(s, c, event, at)
            queue_id = c.queue_id or self._queue_for(None, c.topic)
            queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
            schedule = self._schedule(queue)
            start = max(at, preferred_at.astimezone(UTC)) if preferred_at is not None else at
            hours = self.texts.message_hours if kind is TaskKind.MESSAGE else self.texts.callback_hours
            due = calendar.add_business_hours(start, hours, schedule)
            template = self.texts.message if kind is TaskKind.MESSAGE else self.texts.callback
            expectation = template.format(phone=phone, deadline=calendar.format_deadline_da(due, schedule.tz))
            if not calendar.is_open(at, schedule):
                opens = calendar.format_deadline_da(calendar.next_open(at, schedule), schedule.tz)
                expectation += self.texts.closed_suffix.format(opens=opens)
            # The note is shown to every agent of the queue and no one is assigned to a task, so the
            # personal-data rule never reveals it: only its redacted text is stored.
            task = Task(tenant_id=tenant_id, contact_id=c.id, kind=kind, queue_id=queue.id,
                        name=name or c.citizen_name, phone=phone, preferred_at=preferred_at, note=redact(note),
                        expectation=expectation, due_at=due.astimezone(UTC), status=TaskStatus.OPEN,
                        created_at=at)  # fmt: skip
            s.add(task)
            c.citizen_phone = c.citizen_phone or phone
            c.queue_id = queue.id
            s.flush()
            kind_event = EventKind.MESSAGE_LEFT if kind is TaskKind.MESSAGE else EventKind.CALLBACK_REQUESTED
            self._event(s, tenant_id, kind_event, at, c, task_id=task.id, queue_id=queue.id,
                        due_at=task.due_at.isoformat())  # fmt: skip
            return TaskView.of(task)

    def complete_task(
        self, tenant_id: str, agent_id: str, task_id: int, outcome: Outcome | str, *, now: datetime | None = None
    ) -> TaskView:
        """An agent has handled the message/callback: the task is done and the contact closed."""
        at = self._now(now)
        code = _outcome(outcome)
        with self.db.write() as s:
            repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
            task = repo.get_task(s, tenant_id=tenant_id, task_id=task_id, lock=True)
            if task.status is not TaskStatus.OPEN:
                raise IllegalTransition(f"task {task.status.value}", E.COMPLETE_TASK, task.contact_id)
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=task.contact_id, lock=True)
            self._move(s, c, E.COMPLETE_TASK, at)
            task.status, task.done_at, task.done_by = TaskStatus.DONE, at, agent_id
            c.outcome, c.closed_at = code, at
            self._event(s, tenant_id, EventKind.TASK_DONE, at, c, agent_id=agent_id, task_id=task.id)
            self._event(s, tenant_id, EventKind.CLOSED, at, c, agent_id=agent_id, outcome=code.value,
                        queue_id=c.queue_id, topic=c.topic)  # fmt: skip
            return _task_view(task)

    def tasks(self, tenant_id: str, status: TaskStatus | None = TaskStatus.OPEN) -> list[TaskView]:
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return [_task_view(t) for t in repo.tasks(s, tenant_id=tenant_id, status=status)]

    def mark_abandoned(self, tenant_id: str, contact_id: str, *, now: datetime | None = None) -> ContactView:
        """The citizen left (hung up, closed the chat) from BOT, QUEUED or OFFERED; a ringing
        offer is withdrawn and its agent freed."""
        at = self._now(now)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            old = self._move(s, c, E.ABANDON, at)
            agent_id = c.assigned_agent_id
            if old is ContactState.OFFERED:
                offer = repo.pending_offer_for(s, tenant_id=tenant_id, contact_id=c.id)
                if offer is not None:
                    offer.status, offer.decided_at = OfferStatus.WITHDRAWN, at
                    self._event(s, tenant_id, EventKind.OFFER_WITHDRAWN, at, c, agent_id=offer.agent_id,
                                offer_id=offer.id)  # fmt: skip
                c.assigned_agent_id = None
            waited = (at - c.enqueued_at).total_seconds() if c.enqueued_at else None
            self._event(s, tenant_id, EventKind.ABANDONED, at, c, **{"from": old.value}, waited_seconds=waited)
            if agent_id is not None and old is ContactState.OFFERED:
                self._release_agent(s, tenant_id, agent_id, at)
            return ContactView.of(c)

    # --- queue information --------------------------------------------------------------------

    def queue_status(self, tenant_id: str, contact_id: str, *, now: datetime | None = None) -> QueueStatus:
        """Position, expected wait and whether to offer a callback (skills.queue_position,
        expected_wait, should_offer_callback; a closed queue always offers one)."""
        at = self._now(now)
        with self.db.read() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            snap, _, _, queue_rows = self._snapshot(s, tenant_id, lock=False)
            queue = queue_rows.get(c.queue_id) if c.queue_id else None
            schedule = self._schedule(queue)
            open_now = calendar.is_open(at, schedule)
            opens_at = None if open_now else calendar.next_open(at, schedule).astimezone(UTC)
            all_agents = self._logged_in_snapshot(s, tenant_id)
            snap = skills.RouterSnapshot(contacts=snap.contacts, agents=all_agents)
            if c.state is not ContactState.QUEUED or queue is None:
                return QueueStatus(c.id, c.queue_id, None, 0, None, False, open_now, opens_at)
            position = skills.queue_position(c.id, snap, self.policy)
            waiting = len(skills.waiting_in_queue(queue.id, snap, self.policy))
            try:
                wait = skills.expected_wait(queue.id, snap, queue.avg_handle_seconds, position=position)
            except NoStaffedAgents:
                wait = None
            offer = (not open_now) or wait is None or skills.should_offer_callback(queue.id, snap, at, self.policy)
            return QueueStatus(c.id, queue.id, position, waiting, wait, offer, open_now, opens_at)

    def waiting(self, tenant_id: str) -> int:
        """How many contacts of the tenant wait in a queue (state QUEUED)."""
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return len(repo.waiting_contacts(s, tenant_id=tenant_id, limit=1_000_000))

    def _logged_in_snapshot(self, s: Session, tenant_id: str) -> tuple[skills.AgentSnapshot, ...]:
        rows = repo.agent_states(s, tenant_id=tenant_id)
        ids = [r.agent_id for r in rows]
        skill_map = repo.skills_of(s, tenant_id=tenant_id, agent_ids=ids)
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=ids)
        return tuple(
            skills.AgentSnapshot(agent_id=r.agent_id, state=r.state, skills=skill_map[r.agent_id],
                                 active=active[r.agent_id], acw_until=r.acw_until, idle_since=r.idle_since)
            for r in rows
        )  # fmt: skip

    def agent_state(self, tenant_id: str, agent_id: str) -> skills.AgentSnapshot:
        with self.db.read() as s:
            row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id)
            return self._agent_snapshot(s, tenant_id, row)

    def offers(self, tenant_id: str, agent_id: str | None = None) -> list[OfferView]:
        """Pending offers of the tenant (of one agent if given)."""
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            rows = repo.pending_offers(s, tenant_id=tenant_id)
            out = []
            for o in rows:
                if agent_id is None or o.agent_id == agent_id:
                    out.append(_offer_view(o, repo.get_contact(s, tenant_id=tenant_id, contact_id=o.contact_id)))
            return out

    def events(self, tenant_id: str, contact_id: str | None = None) -> list[EventView]:
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return [EventView.of(e) for e in repo.events(s, tenant_id=tenant_id, contact_id=contact_id)]


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
        },  # fmt: skip
    }


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

