"""A citizen's turn with the bot: usually one read and one write transaction, otherwise two writes.

The usual case, a contact the bot owns: `look_before_turn` reads what the decision needs (the
messages, the events) without writing; the bot decides with no transaction open, so other
conversations write meanwhile; `answer_citizen_turn` then stores the message, the bot's replies,
events and any handoff together, if the contact is still the bot's. When it is not (an agent took
it, the idle closer ended it, the same client_message_id arrived twice), it writes nothing and the
caller takes the careful path: `begin_citizen_turn` stores the message first and reads what the
decision needs, and `finish_bot_turn` stores the replies, events and handoff. A new contact, one
a human owns and a repeated message take that path from the start. Either write ends by reading
the contact's log as the channel shows it, so rendering the turn needs no further transaction.
`bot.conversation.handle_citizen_message` puts these around `bot.dialogue.decide`, and stores the
message on its own when deciding fails, so nothing the citizen wrote is lost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from bot.engine.handoff import HandoffMixin
from bot.engine.lifecycle import LifecycleMixin
from bot.engine.routing import QueueStatus, RoutingMixin
from bot.engine.views import ContactLog
from bot.routing.handoff import HandoffPacket, PacketReason
from bot.storage import repository as repo
from bot.storage.models import Channel, Contact, ContactState
from bot.storage.repository import ContactView, EventView, MessageView
from bot.types import NLUResult, TriageDecision

# A contact in these states waits for a human: a turn tells the citizen where in the queue.
WAITING_STATES = frozenset({ContactState.QUEUED, ContactState.OFFERED, ContactState.HANDOFF_REQUESTED})
FINAL_STATES = frozenset({ContactState.CLOSED, ContactState.ABANDONED})


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What the first half of a turn stored and read."""

    contact: ContactView  # after the message was stored (before it, when closed or a repeat)
    inbound: MessageView | None  # None: the contact is closed or abandoned, nothing was stored
    duplicate: bool  # the client_message_id was stored before: nothing new was written
    before: tuple[MessageView, ...]  # the contact's messages before this one (all of them for a repeat)
    events: tuple[EventView, ...]  # the contact's events, read when the bot may answer
    queue: QueueStatus | None  # when the contact waits for a human
    log: ContactLog | None = None  # the contact after the message, when a human owns it (the bot stays silent)

    @property
    def bot_may_answer(self) -> bool:
        return self.inbound is not None and not self.duplicate and self.contact.state is ContactState.BOT


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """What the second half stored: the bot's replies and any handoff, and the contact after."""

    contact: ContactView
    replies: tuple[MessageView, ...]
    handoff: HandoffPacket | None
    queue: QueueStatus | None
    log: ContactLog  # the contact, its messages and events after the turn, read in the same transaction


@dataclass(frozen=True, slots=True)
class TurnLook:
    """What `look_before_turn` read: the contact and what the decision needs, nothing written."""

    contact: ContactView | None  # None: no contact for the key yet
    before: tuple[MessageView, ...]  # the contact's messages so far (read only when the bot may answer)
    events: tuple[EventView, ...]  # the contact's events (read only when the bot may answer)
    bot_may_answer: bool  # the bot owns the contact and the message is not a repeat


@dataclass(frozen=True, slots=True)
class TurnAnswer:
    """What `answer_citizen_turn` stored in its one transaction."""

    inbound: MessageView
    end: TurnEnd


class TurnsMixin(LifecycleMixin, HandoffMixin, RoutingMixin):
    """Citizen turns: `look_before_turn`, the bot decides, `answer_citizen_turn`; or, when that
    finds the contact changed, `begin_citizen_turn`, the bot decides, `finish_bot_turn`."""

    def look_before_turn(
        self,
        tenant_id: str,
        channel: Channel | str,
        external_ref: str,
        client_message_id: str | None = None,
    ) -> TurnLook:
        """One read transaction, nothing written: the contact for (tenant, channel, external_ref)
        and, when the bot owns it and `client_message_id` is new, its messages and events."""
        with self.db.read() as s:
            # Read-only: the rows go straight into views, without ORM objects.
            c = repo.find_contact_view(s, tenant_id=tenant_id, channel=Channel(channel), external_ref=external_ref)
            if c is None or c.state is not ContactState.BOT:
                return TurnLook(c, (), (), False)
            before = repo.message_views(s, tenant_id=tenant_id, contact_id=c.id)
            if client_message_id is not None and any(m.client_message_id == client_message_id for m in before):
                return TurnLook(c, before, (), False)
            events = repo.event_views(s, tenant_id=tenant_id, contact_id=c.id)
            return TurnLook(c, before, events, True)

    def answer_citizen_turn(
        self,
        look: TurnLook,
        text: str,
        client_message_id: str | None,
        texts: Sequence[str],
        decision: TriageDecision,
        handoff: PacketReason | None = None,
        *,
        nlu: NLUResult | None = None,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        now: datetime | None = None,
    ) -> TurnAnswer | None:
        """One write transaction for a turn `look` found the bot may answer: the citizen's
        message (as `begin_citizen_turn` stores it), then the replies and any
        handoff (as `finish_bot_turn`). Writes nothing and returns None when the contact is no
        longer the bot's or the client_message_id was stored meanwhile (the unique constraint
        refuses it): the caller then takes `begin_citizen_turn`."""
        if look.contact is None or not look.bot_may_answer:
            raise ValueError("answer_citizen_turn needs a look at a contact the bot may answer")
        at = self._now(now)
        tenant_id, contact_id = look.contact.tenant_id, look.contact.id
        try:
            with self.db.write() as s:
                # Locked as begin_citizen_turn locks it: an agent taking the contact waits.
                c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
                if c.state is not ContactState.BOT:
                    return None
                c.citizen_name = c.citizen_name or name
                c.citizen_phone = c.citizen_phone or phone
                c.citizen_email = c.citizen_email or email
                inbound = self._inbound(s, c, text, client_message_id, at)
                end = self._finish(s, c, texts, decision, handoff, at, nlu)
                return TurnAnswer(inbound, end)
        except sa_exc.IntegrityError:
            # The same client_message_id was stored since the look (a retry racing the first
            # request; messages are unique per contact and client_message_id): nothing of this
            # turn is kept, and the careful path finds the message and answers as for a repeat.
            return None

    def begin_citizen_turn(
        self,
        tenant_id: str,
        channel: Channel | str,
        external_ref: str,
        text: str,
        client_message_id: str | None = None,
        *,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        now: datetime | None = None,
    ) -> TurnStart:
        """One write transaction: the contact for (tenant, channel, external_ref), opened if new
        (as `open_contact`); the citizen's message stored (as `record_inbound`, a repeated
        `client_message_id` writes nothing); and what the bot's decision needs: the messages
        before it and the contact's events, or the queue status when a human owns the contact."""
        at = self._now(now)
        channel = Channel(channel)
        for attempt in range(2):
            try:
                with self.db.write() as s:
                    # Locked as record_inbound locks it: an agent taking the contact at the same
                    # moment waits, so the message's state step sees the state that is true.
                    c = self._find_or_open(s, tenant_id, channel, external_ref, at, name=name, phone=phone,
                                           email=email, lock=True)  # fmt: skip
                    if c.state in FINAL_STATES:
                        return TurnStart(ContactView.of(c), None, False, (), (), None)
                    before = _message_views(s, c)
                    if client_message_id is not None:
                        found = next((m for m in before if m.client_message_id == client_message_id), None)
                        if found is not None:
                            return TurnStart(ContactView.of(c), found, True, before, (), None)
                    inbound = self._inbound(s, c, text, client_message_id, at)
                    if c.state is ContactState.BOT:
                        events = _event_views(s, c)
                        return TurnStart(ContactView.of(c), inbound, False, before, events, None)
                    queue = self._queue_status(s, c, at) if c.state in WAITING_STATES else None
                    log = _log(s, c, (*before, inbound))
                    return TurnStart(ContactView.of(c), inbound, False, before, (), queue, log)
            except sa_exc.IntegrityError:
                # Two requests opened the same contact, or stored the same client_message_id, at
                # once (PostgreSQL): the second try finds what the first one wrote.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def finish_bot_turn(
        self,
        tenant_id: str,
        contact_id: str,
        texts: Sequence[str],
        decision: TriageDecision,
        handoff: PacketReason | None = None,
        *,
        nlu: NLUResult | None = None,
        now: datetime | None = None,
    ) -> TurnEnd:
        """One write transaction: each reply as `record_bot_reply`, then, with a `handoff`
        reason, the handoff as `request_handoff`; returns the contact after it and, when it
        now waits for a human, its queue status."""
        at = self._now(now)
        with self.db.write() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            return self._finish(s, c, texts, decision, handoff, at, nlu)

    def _finish(
        self,
        s: Session,
        c: Contact,
        texts: Sequence[str],
        decision: TriageDecision,
        handoff: PacketReason | None,
        at: datetime,
        nlu: NLUResult | None,
    ) -> TurnEnd:
        replies = tuple(self._bot_reply(s, c, t, decision, at) for t in texts)
        packet = self._handoff(s, c, decision, handoff, at, nlu=nlu) if handoff is not None else None
        queue = self._queue_status(s, c, at) if c.state in WAITING_STATES else None
        log = _log(s, c, _message_views(s, c))
        return TurnEnd(ContactView.of(c), replies, packet, queue, log)


# The turn's own reads go straight from rows into views, after a flush of what the turn wrote:
# building ORM objects for every earlier message and event, only to copy them into views, cost
# more than the rest of the write transaction.
def _message_views(s: Session, c: Contact) -> tuple[MessageView, ...]:
    s.flush()
    return repo.message_views(s, tenant_id=c.tenant_id, contact_id=c.id)


def _event_views(s: Session, c: Contact) -> tuple[EventView, ...]:
    s.flush()
    return repo.event_views(s, tenant_id=c.tenant_id, contact_id=c.id)


def _log(s: Session, c: Contact, messages: tuple[MessageView, ...]) -> ContactLog:
    return ContactLog(ContactView.of(c), messages, _event_views(s, c))
