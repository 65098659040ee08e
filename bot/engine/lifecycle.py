"""The contact's life on its channel: opened, citizen and bot messages, the agent's replies,
closed by the agent or abandoned by the citizen."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from bot.engine.core import EngineCore, _decision_data, _outcome
from bot.engine.endings import IdlePolicy, decide_ending, ending_data, idle_since_cutoff, last_answer
from bot.engine.states import ContactEvent, transition
from bot.errors import InvalidFeedback
from bot.privacy import redact
from bot.stats.facts import DEFAULT_SCALES, Ending, FeedbackLevel
from bot.storage import repository as repo
from bot.storage.models import (
    Author,
    Channel,
    Contact,
    ContactState,
    Direction,
    EventKind,
    OfferStatus,
    Outcome,
)
from bot.storage.repository import ContactView, MessageView
from bot.types import Action, TriageDecision

E = ContactEvent  # short name for the steps, as in bot.engine.states.TRANSITIONS

# The bot's replies are article answers and fixed wording that recur word for word, and
# redacting a long answer (links, phone numbers, opening hours) cost more than storing it.
_reply_redacted = lru_cache(maxsize=256)(redact)


class LeftBecause(enum.StrEnum):
    """Why a contact ended without an agent (`reason` in its terminal event)."""

    CITIZEN_LEFT = "citizen_left"  # hung up, closed the chat
    IDLE = "idle"  # nobody wrote for the idle time (close_idle)


class LifecycleMixin(EngineCore):
    """Opening a contact, the messages of citizen, bot and agent, closing and abandoning."""

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
                    c = self._find_or_open(s, tenant_id, channel, external_ref, at, name=name, phone=phone,
                                           email=email, authenticated=authenticated)  # fmt: skip
                    return ContactView.of(c)
            except sa_exc.IntegrityError:
                if attempt:  # pragma: no cover - a second race on the same key
                    raise
        raise AssertionError("unreachable")

    def _find_or_open(
        self,
        s: Session,
        tenant_id: str,
        channel: Channel,
        external_ref: str,
        at: datetime,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        authenticated: bool = False,
        lock: bool = False,
    ) -> Contact:
        """The contact for the key, created if new; `lock` holds an existing row for this
        transaction (PostgreSQL FOR UPDATE), as a write to its state needs."""
        c = repo.find_contact(s, tenant_id=tenant_id, channel=channel, external_ref=external_ref, lock=lock)
        if c is None:
            repo.get_tenant(s, tenant_id=tenant_id)  # UnknownTenant before anything is written
            c = Contact(
                id=str(uuid.uuid4()), tenant_id=tenant_id, channel=channel, external_ref=external_ref,
                state=ContactState.BOT, created_at=at, updated_at=at, offer_attempts=0,
                citizen_name=name, citizen_phone=phone, citizen_email=email, authenticated=authenticated,
            )  # fmt: skip
            s.add(c)
            s.flush()
            self._event(s, tenant_id, EventKind.CONTACT_OPENED, at, c, channel=channel.value)
        else:
            c.citizen_name = c.citizen_name or name
            c.citizen_phone = c.citizen_phone or phone
            c.citizen_email = c.citizen_email or email
            c.authenticated = c.authenticated or authenticated
        return c

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
                    return self._inbound(s, c, text, client_message_id, at)
            except sa_exc.IntegrityError:
                if attempt or client_message_id is None:
                    raise
        raise AssertionError("unreachable")

    def _inbound(self, s: Session, c: Contact, text: str, client_message_id: str | None, at: datetime) -> MessageView:
        self._move(s, c, E.CITIZEN_MESSAGE, at)
        m = repo.add_message(
            s, tenant_id=c.tenant_id, contact_id=c.id, direction=Direction.IN, author=Author.CITIZEN, text=text,
            at=at, client_message_id=client_message_id,
        )  # fmt: skip
        self._event(s, c.tenant_id, EventKind.MESSAGE_RECEIVED, at, c, message_id=m.id, state=c.state.value)
        return m

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
            return self._bot_reply(s, c, text, decision, at)

    def _bot_reply(
        self, s: Session, c: Contact, text: str, decision: TriageDecision | None, at: datetime
    ) -> MessageView:
        self._move(s, c, E.BOT_REPLY, at)
        topic = decision.topic if decision is not None else None
        if topic and topic in self.contract.by_id and self.contract.by_id[topic].domain != "dialog":
            c.topic = topic
        m = repo.add_message(s, tenant_id=c.tenant_id, contact_id=c.id, direction=Direction.OUT,
                             author=Author.BOT, text=text, at=at, text_redacted=_reply_redacted(text))  # fmt: skip
        self._event(s, c.tenant_id, EventKind.BOT_REPLIED, at, c, message_id=m.id,
                    decision=_decision_data(decision))  # fmt: skip
        if decision is not None and decision.action is Action.EMERGENCY:
            self._emergency_alert(s, c, at)
        return m

    def _emergency_alert(self, s: Session, c: Contact, at: datetime) -> None:
        """The bot referred the citizen to 112: one alert per citizen message, for supervisors."""
        (inbound,) = repo.messages(s, tenant_id=c.tenant_id, contact_id=c.id, direction=Direction.IN)[-1:] or (None,)
        about = inbound.id if inbound is not None else None
        for e in repo.events(s, tenant_id=c.tenant_id, contact_id=c.id):
            if e.kind is EventKind.EMERGENCY_ALERT and e.data.get("about_message_id") == about:
                return
        self._event(s, c.tenant_id, EventKind.EMERGENCY_ALERT, at, c, about_message_id=about,
                    channel=c.channel.value)  # fmt: skip

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

    # --- agent work -------------------------------------------------------------------------------

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
            return m

    def close(
        self, tenant_id: str, agent_id: str, contact_id: str, outcome: Outcome | str, *, now: datetime | None = None
    ) -> ContactView:
        """The agent closes with an outcome code and goes into after-contact work
        (policy.acw_seconds; skills.finish_contact). The `closed` event carries the ending
        `agent_closed` and the after-contact work that follows."""
        at = self._now(now)
        code = _outcome(outcome)
        with self.db.write() as s:
            c = self._own(s, tenant_id, agent_id, contact_id)
            transition(c.state, E.CLOSE, contact_id=c.id)
            acw = self._finish_agent(s, tenant_id, agent_id, c.channel, at)
            self._move(s, c, E.CLOSE, at)
            c.outcome = code
            c.closed_at = at
            self._event(s, tenant_id, EventKind.CLOSED, at, c, agent_id=agent_id, queue_id=c.queue_id, topic=c.topic,
                        **ending_data(Ending.AGENT_CLOSED, outcome=code.value, acw_seconds=acw))  # fmt: skip
            return ContactView.of(c)

    def record_feedback(
        self,
        tenant_id: str,
        contact_id: str,
        scores: Mapping[str, int],
        *,
        level: FeedbackLevel | str | None = None,
        scale: tuple[int, int] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Store a citizen's survey answers as a `feedback` event (the contract in
        bot.stats.facts). `level` defaults to the agent if one took the contact, else the bot;
        `scale` to the channel's (voice keypad 1-9, chat and e-mail 1-10). Answers may come one
        question at a time (a phone survey): a later answer to the same question replaces it."""
        at = self._now(now)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            low, high = scale or DEFAULT_SCALES[c.channel]
            bad = {q: v for q, v in scores.items() if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high}
            if low >= high or bad or not scores:
                raise InvalidFeedback(
                    f"contact {contact_id!r}: survey answers {dict(bad or scores)!r} do not fit the scale {low}..{high}"
                )
            if level is None:
                took = any(e.kind is EventKind.OFFER_ACCEPTED for e in repo.events(s, tenant_id=tenant_id, contact_id=c.id))
                level = FeedbackLevel.AGENT if took else FeedbackLevel.BOT
            self._event(s, tenant_id, EventKind.FEEDBACK, at, c, level=FeedbackLevel(level).value,
                        channel=c.channel.value, scale=[low, high], scores=dict(scores))  # fmt: skip

    # --- the citizen left -------------------------------------------------------------------------

    def mark_abandoned(self, tenant_id: str, contact_id: str, *, now: datetime | None = None) -> ContactView:
        """The citizen left (hung up, closed the chat) from BOT, QUEUED or OFFERED; a ringing
        offer is withdrawn and its agent freed. The ending follows from the contact's state and
        history (`decide_ending`): after a bot answer the bot resolved it (CLOSED), before any
        answer or while waiting for an agent the citizen abandoned it (ABANDONED)."""
        at = self._now(now)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            self._leave(s, c, at, LeftBecause.CITIZEN_LEFT)
            return ContactView.of(c)

    def close_idle(
        self, tenant_id: str, now: datetime | None = None, *, idle: IdlePolicy | None = None, limit: int = 200
    ) -> list[ContactView]:
        """End bot conversations nobody has written in for `idle` (the engine's `idle` policy by
        default), each with the ending `mark_abandoned` would give, dated at its last activity;
        returns them, least recently active first.
        Any worker's timer may call this: on PostgreSQL rows another worker holds are skipped
        (FOR UPDATE SKIP LOCKED), on SQLite writers are serialised, so no contact ends twice.
        At most `limit` contacts per call; call again while it returns a full batch."""
        at = self._now(now)
        cutoffs = idle_since_cutoff(at, idle or self.idle)
        with self.db.write() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            ended = []
            for c in repo.idle_bot_contacts(s, tenant_id=tenant_id, touched_before=cutoffs, limit=limit):
                # The citizen left at the last word; the timer only notices later. Ending it then
                # keeps the idle time out of the contact's duration (and old contacts in their day).
                self._leave(s, c, c.updated_at, LeftBecause.IDLE)
                ended.append(ContactView.of(c))
            return ended

    def _leave(self, s: Session, c: Contact, at: datetime, why: LeftBecause) -> None:
        answer = last_answer(self._bot_steps(s, c), self._dialog_topics) if c.state is ContactState.BOT else None
        decision = decide_ending(c.state, answer, now=at, enqueued_at=c.enqueued_at, contact_id=c.id)
        old = self._move(s, c, decision.step, at)
        agent_id = c.assigned_agent_id
        if old is ContactState.OFFERED:
            offer = repo.pending_offer_for(s, tenant_id=c.tenant_id, contact_id=c.id)
            if offer is not None:
                offer.status, offer.decided_at = OfferStatus.WITHDRAWN, at
                self._event(s, c.tenant_id, EventKind.OFFER_WITHDRAWN, at, c, agent_id=offer.agent_id,
                            offer_id=offer.id)  # fmt: skip
            c.assigned_agent_id = None
        data = ending_data(decision.ending, topic=decision.topic or c.topic, article_id=decision.article_id,
                           waited_seconds=decision.waited_seconds)  # fmt: skip
        if decision.step is E.RESOLVE:
            c.closed_at = at  # served by the bot: closed, with no agent and no outcome code
            self._event(s, c.tenant_id, EventKind.CLOSED, at, c, **{"from": old.value}, reason=why.value, **data)
        else:
            data.setdefault("waited_seconds", None)
            self._event(s, c.tenant_id, EventKind.ABANDONED, at, c, **{"from": old.value}, reason=why.value, **data)
        if agent_id is not None and old is ContactState.OFFERED:
            self._release_agent(s, c.tenant_id, agent_id, at)
