"""Tables and queries of the phone channel (migration 0005_voice).

- `voice_calls`: the state of one live call, keyed by Twilio's CallSid, so any worker can serve
  any webhook of any call (language, menu position, counters, safety flag, recent utterances,
  survey answers, the bridge to an agent). The call-flow state is one JSON document owned by
  `connectors/voice`; `state` and `contact_id` are columns because the engine's side looks them up.
- `voice_responses`: the TwiML answered per Twilio idempotency token, so a retried webhook gets
  the same answer from any worker and the call flow does not run twice.
- `agent_lines`: where an agent takes calls: a phone number (<Number>) or a Twilio Client
  identity (<Client>).

A CallSid is globally unique (Twilio issues it), so a webhook finds its call, and through it
the tenant, by the CallSid alone; every other query is tenant-scoped like `repository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage import repository as repo
from bot.storage.models import Base

__all__ = [
    "AgentLine", "AgentLineView", "VoiceCall", "VoiceResponse", "agent_line", "cached_response", "call_for_contact",
    "forget_responses", "get_call", "insert_call", "remember_response", "set_agent_line",
]  # fmt: skip

ID = String(64)


class VoiceCall(Base):
    __tablename__ = "voice_calls"
    __table_args__ = (Index("ix_voice_calls_tenant_contact", "tenant_id", "contact_id"),)

    call_sid: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    contact_id: Mapped[str] = mapped_column(String(36), ForeignKey("contacts.id"))
    state: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VoiceResponse(Base):
    __tablename__ = "voice_responses"
    __table_args__ = (Index("ix_voice_responses_call_sid", "call_sid"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of call, URL and token
    call_sid: Mapped[str] = mapped_column(ID)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class AgentLine(Base):
    __tablename__ = "agent_lines"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "agent_id"], ["agents.tenant_id", "agents.id"]),)

    agent_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    phone: Mapped[str | None] = mapped_column(String(40))  # E.164, e.g. +4533661234
    client_identity: Mapped[str | None] = mapped_column(String(120))  # Twilio Client identity
    updated_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class AgentLineView:
    agent_id: str
    phone: str | None
    client_identity: str | None

    @property
    def target(self) -> str | None:
        """What to dial: the phone number, else "client:<identity>" (Twilio Client)."""
        if self.phone:
            return self.phone
        return f"client:{self.client_identity}" if self.client_identity else None


# --- calls ----------------------------------------------------------------------------------------


def get_call(session: Session, *, call_sid: str, lock: bool = False) -> VoiceCall | None:
    stmt = select(VoiceCall).where(VoiceCall.call_sid == call_sid)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def call_for_contact(session: Session, *, tenant_id: str, contact_id: str, lock: bool = False) -> VoiceCall | None:
    stmt = select(VoiceCall).where(VoiceCall.tenant_id == tenant_id, VoiceCall.contact_id == contact_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt.order_by(VoiceCall.created_at.desc())).first()


def insert_call(
    session: Session, *, call_sid: str, tenant_id: str, contact_id: str, state: str, record: dict[str, Any],
    at: datetime,
) -> VoiceCall:
    repo.get_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    row = VoiceCall(call_sid=call_sid, tenant_id=tenant_id, contact_id=contact_id, state=state, record=record,
                    created_at=at, updated_at=at)  # fmt: skip
    session.add(row)
    session.flush()
    return row


# --- replayed answers -----------------------------------------------------------------------------


def cached_response(session: Session, *, key: str) -> str | None:
    row = session.get(VoiceResponse, key)
    return None if row is None else row.body


def remember_response(session: Session, *, key: str, call_sid: str, body: str, at: datetime) -> str:
    """Store the answer under `key` unless another worker already did; returns the stored one."""
    existing = session.get(VoiceResponse, key)
    if existing is not None:
        return existing.body
    try:
        with session.begin_nested():
            session.add(VoiceResponse(key=key, call_sid=call_sid, body=body, created_at=at))
    except IntegrityError:
        found = session.get(VoiceResponse, key)
        return found.body if found is not None else body
    return body


def forget_responses(session: Session, *, call_sid: str) -> int:
    """Drop the remembered answers of an ended call (they may speak a phone number back)."""
    rows = list(session.scalars(select(VoiceResponse).where(VoiceResponse.call_sid == call_sid)))
    for row in rows:
        session.delete(row)
    return len(rows)


# --- agents' lines --------------------------------------------------------------------------------


def set_agent_line(
    session: Session, *, tenant_id: str, agent_id: str, phone: str | None, client_identity: str | None, at: datetime
) -> AgentLineView:
    repo.get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    row = session.get(AgentLine, agent_id)
    if row is None:
        row = AgentLine(agent_id=agent_id, tenant_id=tenant_id, updated_at=at)
        session.add(row)
    row.phone, row.client_identity, row.updated_at = phone, client_identity, at
    session.flush()
    return AgentLineView(agent_id, row.phone, row.client_identity)


def agent_line(session: Session, *, tenant_id: str, agent_id: str) -> AgentLineView | None:
    stmt = select(AgentLine).where(AgentLine.tenant_id == tenant_id, AgentLine.agent_id == agent_id)
    row = session.scalars(stmt).one_or_none()
    return None if row is None else AgentLineView(row.agent_id, row.phone, row.client_identity)
