"""The tables (SQLAlchemy 2 typed declarative) and the enums stored in them.

Every row carries a `tenant_id`; every query in `bot.storage.repository` filters on it. Times
are stored as UTC (`UTCDateTime` refuses naive datetimes and always returns aware UTC ones).
Enums are stored as their string values in VARCHAR columns (no native PostgreSQL enum types,
so adding a value needs no type migration); the migration in `migrations/versions` mirrors
these classes, and a test compares the two.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.errors import NaiveDatetime
from bot.routing.handoff import Author
from bot.routing.skills import AgentState, Channel

__all__ = [
    "Agent", "AgentRole", "AgentSkill", "AgentStateRow", "AgentState", "Author", "Base", "Channel",
    "Contact", "ContactState", "Direction", "Event", "EventKind", "Handoff", "InboundMail", "InboundMailStatus",
    "Message", "Offer", "OfferStatus", "OutboxItem", "OutboxKind", "OutboxStatus", "Outcome", "QueueRow", "Task",
    "TaskKind", "TaskStatus", "Tenant", "UTCDateTime",
]  # fmt: skip


class ContactState(enum.StrEnum):
    """Where a contact is in its life (see `bot.engine.TRANSITIONS`)."""

    BOT = "bot"
    HANDOFF_REQUESTED = "handoff_requested"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    AGENT_ACTIVE = "agent_active"
    MESSAGE_LEFT = "message_left"
    CALLBACK_REQUESTED = "callback_requested"
    ABANDONED = "abandoned"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class AgentRole(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    # Edits the knowledge articles of its tenant and nothing else: no contacts, no citizen data.
    EDITOR = "editor"


class OfferStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the citizen left while the offer was ringing


class TaskKind(enum.StrEnum):
    MESSAGE = "message"  # besked
    CALLBACK = "callback"  # tilbagekald


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Outcome(enum.StrEnum):
    """Registration codes an agent gives when closing (seed 000 §5.3 channel-strategy codes)."""

    STRAKSAFKLARET = "straksafklaret"  # resolved at first contact
    HENVIST_TIL_SELVBETJENING = "henvist_til_selvbetjening"  # referred to self-service
    VEJLEDT_I_SELVBETJENING = "vejledt_i_selvbetjening"  # guided through self-service
    OMSTILLET = "omstillet"  # transferred to the administration
    BESKED_TAGET = "besked_taget"  # message taken
    TILBAGEKALD_AFTALT = "tilbagekald_aftalt"  # callback agreed
    MOEDETID_BOOKET = "moedetid_booket"  # meeting booked


class EventKind(enum.StrEnum):
    """Append-only event log kinds: the source for statistics."""

    TENANT_CREATED = "tenant_created"
    QUEUE_SAVED = "queue_saved"
    AGENT_ADDED = "agent_added"
    SKILL_SET = "skill_set"
    AGENT_STATE_CHANGED = "agent_state_changed"
    CONTACT_OPENED = "contact_opened"
    MESSAGE_RECEIVED = "message_received"
    BOT_REPLIED = "bot_replied"
    HANDOFF_REQUESTED = "handoff_requested"
    QUEUED = "queued"
    OFFERED = "offered"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"
    OFFER_EXPIRED = "offer_expired"
    OFFER_WITHDRAWN = "offer_withdrawn"
    AGENT_REPLIED = "agent_replied"
    TRANSFERRED = "transferred"
    MESSAGE_LEFT = "message_left"
    CALLBACK_REQUESTED = "callback_requested"
    TASK_DONE = "task_done"
    ABANDONED = "abandoned"
    CLOSED = "closed"
    # e-mail channel and outbox (migration 0002; VARCHAR values, so no type change)
    MAIL_RECEIVED = "mail_received"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    OUTBOX_FAILED = "outbox_failed"
    # poison handling (migration 0003): gave up on an item that never finished; a supervisor looks
    MAIL_QUARANTINED = "mail_quarantined"
    OUTBOX_QUARANTINED = "outbox_quarantined"
    FEEDBACK = "feedback"  # a citizen's survey answers (chat or voice)
    # the bot referred the citizen to 112 (VARCHAR values, so no migration); supervisors are alerted
    EMERGENCY_ALERT = "emergency_alert"
    # crisis mode per tenant (migration 0004_crisis): who switched it, and who joined the crisis queue
    CRISIS_STARTED = "crisis_started"
    CRISIS_UPDATED = "crisis_updated"
    CRISIS_ENDED = "crisis_ended"
    CRISIS_QUEUE_JOINED = "crisis_queue_joined"
    CRISIS_QUEUE_LEFT = "crisis_queue_left"
    # the citizen pressed "Afslut samtale" while a person still had the chat: the session stays
    # ended for every worker (VARCHAR value, no migration; statistics ignore it)
    CHAT_ENDED = "chat_ended"


def _enum(cls: type[enum.Enum], length: int = 32) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC. Naive datetimes are refused; values come back aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"{value.isoformat()} has no time zone; store aware datetimes (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


ID = String(64)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class QueueRow(Base):
    """A competence queue of a tenant; ids come from knowledge/topics.yaml."""

    __tablename__ = "queues"

    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # Opening hours as accepted by bot.routing.calendar.schedule_from_mapping; None = default.
    schedule: Mapped[dict[str, Any] | None]
    avg_handle_seconds: Mapped[int] = mapped_column(Integer, default=300)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[AgentRole] = mapped_column(_enum(AgentRole))
    token_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    __table_args__ = (
        CheckConstraint("level >= 0 AND level <= 9", name="level_0_9"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"]),
    )

    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    agent_id: Mapped[str] = mapped_column(ID, primary_key=True)
    queue_id: Mapped[str] = mapped_column(ID, primary_key=True)
    level: Mapped[int] = mapped_column(Integer)


class AgentStateRow(Base):
    __tablename__ = "agent_states"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"]),)

    agent_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    state: Mapped[AgentState] = mapped_column(_enum(AgentState))
    since: Mapped[datetime]
    acw_until: Mapped[datetime | None]
    idle_since: Mapped[datetime | None]


class Contact(Base):
    """One citizen conversation, e-mail thread or call."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "external_ref"),
        ForeignKeyConstraint(["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"]),
        ForeignKeyConstraint(["tenant_id", "assigned_agent_id"], ["agents.tenant_id", "agents.id"]),
        Index("ix_contacts_tenant_state_queue", "tenant_id", "state", "queue_id"),
        Index("ix_contacts_tenant_phone", "tenant_id", "citizen_phone"),
        Index("ix_contacts_tenant_email", "tenant_id", "citizen_email"),
        # The router's timers ask across tenants for the waiting contacts only (migration 0007).
        Index("ix_contacts_state_tenant_enqueued", "state", "tenant_id", "enqueued_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 16))
    external_ref: Mapped[str] = mapped_column(String(255))
    state: Mapped[ContactState] = mapped_column(_enum(ContactState))
    topic: Mapped[str | None] = mapped_column(ID)
    queue_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]  # set when an offer went unanswered (front of queue)
    offer_attempts: Mapped[int] = mapped_column(Integer, default=0)
    assigned_agent_id: Mapped[str | None] = mapped_column(ID)
    sla_due_at: Mapped[datetime | None]
    citizen_name: Mapped[str | None] = mapped_column(String(200))
    citizen_phone: Mapped[str | None] = mapped_column(String(40))
    citizen_email: Mapped[str | None] = mapped_column(String(320))
    authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    closed_at: Mapped[datetime | None]


class Message(Base):
    """One turn. `text` is stored as sent; `text_redacted` (bot.privacy.redact) is the only text
    used in logs and the default transcript view."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("contact_id", "client_message_id"),
        Index("ix_messages_contact_id_id", "contact_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str] = mapped_column(String(36), ForeignKey("contacts.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, 8))
    author: Mapped[Author] = mapped_column(_enum(Author, 16))
    agent_id: Mapped[str | None] = mapped_column(ID)
    text: Mapped[str] = mapped_column(Text)
    text_redacted: Mapped[str] = mapped_column(Text)
    client_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (UniqueConstraint("contact_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str] = mapped_column(String(36), ForeignKey("contacts.id"))
    version: Mapped[int] = mapped_column(Integer)  # 1 for the first handoff, +1 per transfer
    schema_version: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    packet: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"]),
        # At most one pending offer per contact, whatever the workers do.
        Index(
            "uq_offers_pending_contact",
            "contact_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_offers_tenant_status", "tenant_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str] = mapped_column(String(36), ForeignKey("contacts.id"))
    agent_id: Mapped[str] = mapped_column(ID)
    skill: Mapped[int] = mapped_column(Integer)
    overflow: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[OfferStatus] = mapped_column(_enum(OfferStatus, 16))
    decided_at: Mapped[datetime | None]


class Task(Base):
    """A message (besked) or callback (tilbagekald) left for the back office."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_tenant_status_due", "tenant_id", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str] = mapped_column(String(36), ForeignKey("contacts.id"))
    kind: Mapped[TaskKind] = mapped_column(_enum(TaskKind, 16))
    queue_id: Mapped[str | None] = mapped_column(ID)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    preferred_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text)
    expectation: Mapped[str] = mapped_column(Text)  # what the citizen was told, word for word
    due_at: Mapped[datetime]
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, 16))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(ID)


class Event(Base):
    """Append-only log; never updated or deleted."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_at", "tenant_id", "at"),
        Index("ix_events_contact_id", "contact_id"),
        # A contact's events within its tenant: without it SQLite reads such a question (has
        # this chat been ended? asked before every chat message) along ix_events_tenant_at,
        # through every event the tenant ever had (migration 0007).
        Index("ix_events_tenant_contact", "tenant_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str | None] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


# --- e-mail channel and durable outbox (migration 0002) --------------------------------------


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
    SENDING = "sending"  # claimed by a worker until next_attempt_at (a lease); then claimable again
    SENT = "sent"
    FAILED = "failed"  # permanently refused or out of attempts; an agent must look
    QUARANTINED = "quarantined"  # claimed again and again without an outcome (it kills the worker)


class OutboxKind(enum.StrEnum):
    AUTO_REPLY = "auto_reply"
    AGENT_REPLY = "agent_reply"
    REVIEW_REMINDER = "review_reminder"  # the weekly mail to an article owner (no contact)


class InboundMailStatus(enum.StrEnum):
    RECEIVED = "received"  # raw mail committed, not handled yet
    HANDLED = "handled"  # on its contact (and auto-replied where allowed)
    SKIPPED = "skipped"  # automatic mail (bounce, list, auto-reply) outside any thread: stored only
    FAILED = "failed"  # handling raised; the raw mail is kept and handling can be retried
    QUARANTINED = "quarantined"  # out of attempts (it failed or killed the process each time)


class OutboxItem(Base):
    """One outgoing message, stored before it is sent (transactional outbox). `payload` is the
    complete wire format (for e-mail: the MIME message as bytes); `dedupe_key` makes enqueueing
    idempotent. Our own Message-ID is kept in `message_id`, so replies to it can be threaded."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_tenant_message_id", "tenant_id", "message_id"),
        Index("ix_outbox_contact_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 16))
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind, 32))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    dedupe_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    contact_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("contacts.id"))
    message_id: Mapped[str | None] = mapped_column(String(255))  # our Message-ID, "<...@domain>"
    # Claims whose lease ran out without an outcome: the worker died while sending it.
    unfinished_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quarantined_at: Mapped[datetime | None]


class InboundMail(Base):
    """One inbound mail as received: the raw bytes are committed before anything else happens,
    so nothing is lost; (tenant_id, message_id) is unique, so a second delivery is recognised.
    `thread_id` is the external_ref of the contact the mail joined (the thread's root id)."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_inbound_mail_tenant_status", "tenant_id", "status"),
        Index("ix_inbound_mail_tenant_subject", "tenant_id", "from_addr", "subject_key"),
        Index("ix_inbound_mail_contact_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    message_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32))  # imap, http, test, ...
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    status: Mapped[InboundMailStatus] = mapped_column(_enum(InboundMailStatus, 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    subject_key: Mapped[str | None] = mapped_column(String(255))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    reference_ids: Mapped[str | None] = mapped_column(Text)  # References: space-separated, oldest first
    automatic: Mapped[str | None] = mapped_column(String(200))  # machine_reason, None for a person
    contact_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("contacts.id"))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    handled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # migration 0003: where replies go (addr-spec of Reply-To, else From, as written; None: nobody),
    # when the last attempt to handle it began (counted before handling), and when it was given up
    reply_addr: Mapped[str | None] = mapped_column(String(320))
    last_attempt_at: Mapped[datetime | None]
    quarantined_at: Mapped[datetime | None]
