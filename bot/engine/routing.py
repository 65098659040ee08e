"""Routing: offers to agents (bot.routing.skills.assign), their expiry, acceptance and decline,
and what a waiting citizen is told about the queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.engine.core import EngineCore, _offer_view
from bot.engine.dispatch import RoutingTimers, next_overflow
from bot.engine.states import ContactEvent
from bot.errors import NoStaffedAgents, NotAssignedAgent, StaleOffer
from bot.routing import calendar, skills
from bot.storage import repository as repo
from bot.storage import routing_reads
from bot.storage.models import (
    AgentState,
    AgentStateRow,
    Contact,
    ContactState,
    EventKind,
    Offer,
    OfferStatus,
    QueueRow,
)
from bot.storage.repository import ContactView, OfferView

E = ContactEvent  # short name for the steps, as in bot.engine.states.TRANSITIONS


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


class RoutingMixin(EngineCore):
    """Offers to agents, and what a waiting citizen is told."""

    def _snapshot(
        self, s: Session, tenant_id: str, *, lock: bool
    ) -> tuple[skills.RouterSnapshot, dict[str, Contact], dict[str, AgentStateRow], dict[str, QueueRow]]:
        queue_rows = repo.queues(s, tenant_id=tenant_id)
        agent_rows = repo.routable_agent_states(s, tenant_id=tenant_id, lock=lock)
        # With nobody who could take work, no offer can be made: the waiting contacts (hundreds
        # when the queues are closed or unstaffed, and every handoff routes again) are not read.
        # Both reads skip locked rows, so the order they lock in cannot make anyone wait.
        contacts = repo.waiting_contacts(s, tenant_id=tenant_id, lock=lock) if agent_rows else []
        ids = [a.agent_id for a in agent_rows]
        skill_map = repo.skills_of(s, tenant_id=tenant_id, agent_ids=ids)
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=ids)
        queued = tuple(
            skills.QueuedContact(
                contact_id=c.id, queue_id=c.queue_id or self.default_queue, channel=c.channel,
                enqueued_at=c.enqueued_at or c.updated_at, returned_at=c.returned_at,
                offer_attempts=c.offer_attempts,
                priority=queue_rows[c.queue_id].priority if c.queue_id in queue_rows else 0,
                **self._routing_facts(c, queue_rows.get(c.queue_id or self.default_queue)),
            )
            for c in contacts
        )  # fmt: skip
        agents = tuple(
            skills.AgentSnapshot(agent_id=a.agent_id, state=a.state, skills=skill_map[a.agent_id],
                                 active=active[a.agent_id], acw_until=a.acw_until, idle_since=a.idle_since)
            for a in agent_rows
        )  # fmt: skip
        snap = skills.RouterSnapshot(contacts=queued, agents=agents)
        return snap, {c.id: c for c in contacts}, {a.agent_id: a for a in agent_rows}, queue_rows

    def route(self, tenant_id: str, now: datetime | None = None) -> list[OfferView]:
        """Expire overdue offers, end after-contact work that is over, then offer waiting
        contacts to agents (skills.assign). The dispatcher (bot.engine.dispatch) calls this
        whenever something changes and when a timer runs out; `/agent/api/next` still may.

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
            for row in agent_rows.values():
                if _acw_over(row, at):
                    self._end_acw(s, tenant_id, row, at)
            made: list[OfferView] = []
            for a in skills.assign(snap, at, self._policy(tenant_id)):
                c = contacts[a.contact_id]
                self._move(s, c, E.OFFER, at)
                c.assigned_agent_id = a.agent_id
                offer = Offer(tenant_id=tenant_id, contact_id=c.id, agent_id=a.agent_id, skill=a.skill,
                              overflow=a.overflow, offered_at=at, expires_at=at + self._offer_timeout(tenant_id),
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

    def _end_acw(self, s: Session, tenant_id: str, row: AgentStateRow, at: datetime) -> None:
        """After-contact work is over: the agent shows as free (busy if other contacts remain).
        The router already treats them as free; this keeps the console and statistics true."""
        active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=[row.agent_id])[row.agent_id]
        row.acw_until = None
        state = AgentState.BUSY if any(active.values()) else AgentState.AVAILABLE
        self._set_agent(s, tenant_id, row, state, at, reason="after_contact_work_ended")

    def _back_to_front(self, s: Session, c: Contact, at: datetime) -> None:
        """Offered or assigned but not connected → QUEUED at the front of its queue
        (skills.return_unanswered), no longer anyone's."""
        self._move(s, c, E.UNANSWERED, at)
        queued = skills.QueuedContact(
            contact_id=c.id, queue_id=c.queue_id or self.default_queue, channel=c.channel,
            enqueued_at=c.enqueued_at or at, returned_at=c.returned_at, offer_attempts=c.offer_attempts,
        )  # fmt: skip
        returned = skills.return_unanswered(queued, at)
        c.returned_at, c.offer_attempts, c.assigned_agent_id = returned.returned_at, returned.offer_attempts, None

    def _unanswered(self, s: Session, tenant_id: str, offer: Offer, status: OfferStatus, at: datetime) -> Contact:
        """OFFERED → QUEUED at the front (skills.return_unanswered); the agent goes PAUSED so
        the same offer is not made again at once."""
        c = repo.get_contact(s, tenant_id=tenant_id, contact_id=offer.contact_id, lock=True)
        offer.status = status
        offer.decided_at = at
        self._back_to_front(s, c, at)
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
            if due:
                self._route_soon(s, tenant_id)
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
                self._route_soon(s, tenant_id)
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
            self._route_soon(s, tenant_id)  # the contact goes to the next agent
            return ContactView.of(self._unanswered(s, tenant_id, offer, status, at))

    # --- timers for the dispatcher ------------------------------------------------------------

    def routing_timers(self, tenant_ids: Iterable[str], now: datetime | None = None) -> list[RoutingTimers]:
        """Each tenant's clocks in one read: pending offer expiries, ends of after-contact work,
        waiting contacts and the next overflow threshold (from each tenant's policy)."""
        at = self._now(now)
        tenant_ids = list(tenant_ids)
        policies = {t: self._policy(t) for t in tenant_ids}
        limits = {p.overflow_threshold(q) for p in policies.values() for q in p.overflow_after_seconds}
        limits |= {p.overflow_threshold("") for p in policies.values()}  # each tenant's default
        longest = max((x for x in limits if x is not None), default=None)

        def threshold_of(tenant_id: str) -> Callable[[str | None], timedelta | None]:
            policy = policies[tenant_id]
            return lambda queue_id: policy.overflow_threshold(queue_id or self.default_queue)

        with self.db.read() as s:
            expiries = routing_reads.offer_expiries(s)
            acw = routing_reads.acw_ends(s)
            waiting = routing_reads.waiting_counts(s)
            recent = routing_reads.queued_since(s, after=at - longest) if longest is not None else {}
        by_tenant: dict[str, dict[str | None, list[datetime]]] = defaultdict(dict)
        for (tenant_id, queue_id), times in recent.items():
            by_tenant[tenant_id][queue_id] = times
        return [
            RoutingTimers(tenant_id=t, waiting=waiting.get(t, 0), offer_expiries=tuple(expiries.get(t, ())),
                          acw_ends=tuple(acw.get(t, ())),
                          overflow_at=next_overflow(by_tenant.get(t, {}), threshold_of(t), at))
            for t in tenant_ids
        ]  # fmt: skip

    def return_unconnected(
        self, tenant_id: str, contact_id: str, agent_id: str, *, agent_missed: bool = True,
        now: datetime | None = None,
    ) -> ContactView:
        """The agent accepted, but the channel could not connect them: ASSIGNED → QUEUED at the
        front of its queue, as for an unanswered offer. When the agent missed it (their phone was
        not answered, was busy or failed) they go PAUSED, so the call is not put through to them
        again at once; otherwise (the citizen left meanwhile) they are free again.
        `NotAssignedAgent` if the contact is assigned to someone else."""
        at = self._now(now)
        with self.db.write() as s:
            c = self._own(s, tenant_id, agent_id, contact_id)
            self._back_to_front(s, c, at)
            self._event(s, tenant_id, EventKind.OFFER_DECLINED, at, c, agent_id=agent_id, reason="not_connected")
            s.flush()
            if agent_missed:
                row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
                self._set_agent(s, tenant_id, row, AgentState.PAUSED, at, reason="not_connected")
            else:
                self._release_agent(s, tenant_id, agent_id, at)
            return ContactView.of(c)

    # --- queue information --------------------------------------------------------------------

    def queue_status(self, tenant_id: str, contact_id: str, *, now: datetime | None = None) -> QueueStatus:
        """Position, expected wait and whether to offer a callback (skills.queue_position,
        expected_wait, should_offer_callback; a closed queue always offers one)."""
        at = self._now(now)
        with self.db.read() as s:
            return self._queue_status(s, repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id), at)

    def _queue_status(self, s: Session, c: Contact, at: datetime) -> QueueStatus:
        # Every turn of a waiting citizen asks this: the database counts the contact's place in its
        # own queue (position, length and the callback rule look at nothing else), and the
        # staffing is read as plain rows; no waiting contact is read into Python.
        tenant_id = c.tenant_id
        queue = routing_reads.queue_row(s, tenant_id=tenant_id, queue_id=c.queue_id) if c.queue_id else None
        schedule = self._schedule(queue)
        open_now = calendar.is_open(at, schedule)
        opens_at = None if open_now else calendar.next_open(at, schedule).astimezone(UTC)
        if c.state is not ContactState.QUEUED or queue is None:
            return QueueStatus(c.id, c.queue_id, None, 0, None, False, open_now, opens_at)
        policy = self._policy(tenant_id)
        place = routing_reads.queue_place(s, contact=c, queue_id=queue.id, priority=queue.priority,
                                          channel_priority=policy.channel_priority,
                                          unqueued_too=queue.id == self.default_queue)  # fmt: skip
        agents = tuple(
            skills.AgentSnapshot(agent_id=agent_id, state=state, skills=levels)
            for agent_id, state, levels in routing_reads.staffing(s, tenant_id=tenant_id)
        )
        position = place.ahead + 1
        try:
            snap = skills.RouterSnapshot(contacts=(), agents=agents)
            wait = skills.expected_wait(queue.id, snap, queue.avg_handle_seconds, position=position)
        except NoStaffedAgents:
            wait = None
        offer = (not open_now) or wait is None or skills.callback_due(place.waiting, place.oldest, at, policy)
        return QueueStatus(c.id, queue.id, position, place.waiting, wait, offer, open_now, opens_at)

    def waiting(self, tenant_id: str) -> int:
        """How many contacts of the tenant wait in a queue (state QUEUED)."""
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return routing_reads.waiting_counts(s, tenant_id=tenant_id).get(tenant_id, 0)


def _acw_over(row: AgentStateRow, at: datetime) -> bool:
    return row.state is AgentState.AFTER_CONTACT_WORK and row.acw_until is not None and row.acw_until <= at
