"""Handoff from the bot to a queue, and the agent's transfer to another queue: each stores a new
handoff packet version (built by bot.routing.handoff)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.engine.core import EngineCore
from bot.engine.states import ContactEvent, transition
from bot.routing import calendar
from bot.routing.handoff import (
    HandoffPacket,
    HistoryItem,
    Identity,
    PacketReason,
    Turn,
    build_packet,
    redacted,
)
from bot.storage import repository as repo
from bot.storage.models import Channel, Contact, EventKind, Handoff, QueueRow
from bot.types import HandoffReason, NLUResult, TriageDecision

E = ContactEvent  # short name for the steps, as in bot.engine.states.TRANSITIONS


class HandoffMixin(EngineCore):
    """From the bot to a queue, and from one queue to another, each with a handoff packet."""

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
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            return self._handoff(s, c, decision, reason, at, nlu=nlu, summary=summary)

    def _handoff(
        self,
        s: Session,
        c: Contact,
        decision: TriageDecision | None,
        reason: PacketReason | HandoffReason | str | None,
        at: datetime,
        *,
        nlu: NLUResult | None = None,
        summary: str | None = None,
    ) -> HandoffPacket:
        if reason is None:
            reason = decision.reason if decision is not None and decision.reason else PacketReason.ASKED_FOR_HUMAN
        reason = PacketReason(reason)
        tenant_id = c.tenant_id
        self._move(s, c, E.REQUEST_HANDOFF, at)
        topic = decision.topic if decision is not None else None
        if topic and topic in self.contract.by_id and (self.contract.by_id[topic].domain != "dialog" or c.topic is None):
            c.topic = topic
        queue_id = self._queue_for(decision, c.topic, tenant_id)
        queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
        c.queue_id = queue.id
        if c.channel is Channel.EMAIL and c.sla_due_at is None:
            c.sla_due_at = calendar.add_business_hours(
                at, self._email_hours(tenant_id, queue.id), self._schedule(queue)
            ).astimezone(UTC)
        # The e-mail promise travels with the handoff, so the statistics need no other source.
        due = {"sla_due_at": c.sla_due_at.astimezone(UTC).isoformat()} if c.sla_due_at is not None else {}
        self._event(s, tenant_id, EventKind.HANDOFF_REQUESTED, at, c, reason=reason.value,
                    queue_id=queue.id, topic=c.topic, **due)  # fmt: skip
        packet = self._packet(s, c, queue, reason, at, nlu=nlu, summary=summary)
        self._store_packet(s, c, packet, at)
        self._move(s, c, E.ENQUEUE, at)
        c.enqueued_at = at
        c.returned_at = None
        self._event(s, tenant_id, EventKind.QUEUED, at, c, queue_id=queue.id)
        self._route_soon(s, tenant_id)
        return packet

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
        steps = self._bot_steps(s, c)
        history = [
            HistoryItem(contact_id=h.id, channel=h.channel, date=h.created_at, topic=h.topic,
                        outcome=h.outcome.value if h.outcome else None)
            for h in repo.citizen_history(s, tenant_id=c.tenant_id, phone=c.citizen_phone,
                                          email=c.citizen_email, exclude_contact_id=c.id)
        ]  # fmt: skip
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

    # --- transfer -----------------------------------------------------------------------------

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
            acw = self._finish_agent(s, tenant_id, agent_id, c.channel, at)
            old_queue = c.queue_id
            self._move(s, c, E.TRANSFER, at)
            c.queue_id = queue.id
            c.assigned_agent_id = None
            c.enqueued_at = at
            c.returned_at = None
            c.offer_attempts = 0
            self._event(s, tenant_id, EventKind.TRANSFERRED, at, c, agent_id=agent_id,
                        from_queue=old_queue, to_queue=queue.id,
                        **({} if acw is None else {"acw_seconds": acw}))  # fmt: skip
            packet = self._packet(s, c, queue, PacketReason.TRANSFER, at, note=note)
            self._store_packet(s, c, packet, at)
            self._event(s, tenant_id, EventKind.QUEUED, at, c, queue_id=queue.id)
            self._route_soon(s, tenant_id)
            return packet
