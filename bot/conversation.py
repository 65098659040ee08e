"""One citizen turn on the conversation engine, the same for every channel (issue 5: no channel
keeps its own copy of conversation state or business rules; once a human takes over, the bot is
silent).

`handle_citizen_message` does, for a contact the bot owns, one read and one write transaction:

1. (read, `engine.look_before_turn`) finds the contact for (tenant, channel, external_ref) and
   reads what the decision needs: the citizen's recent messages as safety history, the contact's
   last topic and any earlier safety decision (from the BOT_REPLIED events);
2. runs one bot turn (`bot.dialogue.decide`, no transaction open); if that fails, the message is
   stored on its own before the error goes on, so nothing the citizen wrote is lost;
3. (write, `engine.answer_citizen_turn`) stores the citizen's message, the bot's reply with its
   decision and, when the decision needs a human, the handoff with the reason, or `out_of_hours`
   when the queue is closed (the result then says when it opens, from the tenant's schedule, so
   the channel can offer a message or a callback).

A new contact, one a human owns (the bot says nothing and the message waits for the agent, the
result carries the queue status), a repeated client_message_id, or a contact that changed while
the bot decided (the write in 3 then stores nothing) take the careful path in two writes:
`engine.begin_citizen_turn` stores the message first, committed before anything else can fail,
and reads what the decision needs; `engine.finish_bot_turn` stores the reply and any handoff.

Nothing here knows a channel's wire format; channels turn `TurnResult` into JSON, TwiML or mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.crisis_board import route_turn
from bot.dialogue import Turn, decide, is_payload
from bot.engine import ConversationEngine, QueueStatus
from bot.engine.turns import FINAL_STATES, TurnEnd
from bot.engine.views import ContactLog
from bot.errors import ConversationClosed, NeverOpen
from bot.responses import BotMessage
from bot.routing import calendar
from bot.routing.handoff import HandoffPacket, PacketReason
from bot.storage.models import Author, Channel, ContactState, Direction, EventKind
from bot.storage.repository import ContactView, EventView, MessageView
from bot.tenants import Tenant
from bot.types import Action, HandoffReason, NLUResult, TriageDecision
from bot.understanding import Parsed, Understanding

__all__ = [
    "ClosedInfo", "FINAL_STATES", "HISTORY_MESSAGES", "TurnResult", "decision_from_event", "flagged_decision",
    "handle_citizen_message", "handoff_reason", "queue_for",
]  # fmt: skip

HISTORY_MESSAGES = 9  # earlier citizen messages read with the new one (safety window, topic)


@dataclass(frozen=True, slots=True)
class ClosedInfo:
    """The handoff found the queue closed: the citizen may leave a message or ask for a call."""

    queue_id: str
    opens_at: datetime | None  # UTC; None when the schedule never opens again
    opens_at_text: str | None  # 'mandag den 4. januar kl. 8.00' (Copenhagen time)


@dataclass(frozen=True, slots=True)
class TurnResult:
    contact: ContactView  # after the turn
    inbound: MessageView
    duplicate: bool  # the client_message_id was seen before: nothing new was written
    bot_answered: bool  # False when a human owns the contact (the bot stayed silent)
    decision: TriageDecision | None
    parsed: Parsed | None
    replies: tuple[MessageView, ...]  # the bot's stored replies, in order
    rendered: tuple[BotMessage, ...]  # the same replies with buttons (empty for a duplicate)
    handoff: HandoffPacket | None = None
    queue: QueueStatus | None = None  # when the contact waits for a human
    closed: ClosedInfo | None = None  # the handoff went to a closed queue
    log: ContactLog | None = None  # the contact, messages and events after the turn (None for a repeat)

    @property
    def handed_off(self) -> bool:
        return self.handoff is not None


def handle_citizen_message(
    engine: ConversationEngine,
    understanding: Understanding,
    tenant_id: str,
    channel: Channel | str,
    external_ref: str,
    text: str,
    client_message_id: str | None = None,
    *,
    tenant: Tenant | None = None,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> TurnResult:
    """One citizen message through the engine (see the module docstring). `tenant` (from
    bot.tenants) supplies the opening hours; without it the engine's queue schedule is used.
    Raises `ConversationClosed` for a contact that was closed or abandoned."""
    look = engine.look_before_turn(tenant_id, channel, external_ref, client_message_id)
    if look.bot_may_answer and look.contact is not None:
        try:
            plan = _plan(engine, understanding, tenant_id, text, look.contact, look.before, look.events, tenant, now)
        except Exception:
            # Deciding failed: the citizen's message is kept all the same, then the error goes on.
            engine.begin_citizen_turn(tenant_id, channel, external_ref, text, client_message_id, name=name,
                                      phone=phone, email=email, now=now)  # fmt: skip
            raise
        answer = engine.answer_citizen_turn(
            look, text, client_message_id, [m.text for m in plan.turn.messages], plan.turn.decision, plan.reason,
            nlu=plan.nlu, name=name, phone=phone, email=email, now=now,
        )  # fmt: skip
        if answer is not None:
            return _answered(plan, answer.inbound, answer.end)
    # The careful path: a new contact, one a human owns, a repeat, or a contact that changed
    # while the bot decided. The message is stored first, then the bot decides on what is true.
    start = engine.begin_citizen_turn(tenant_id, channel, external_ref, text, client_message_id, name=name,
                                      phone=phone, email=email, now=now)  # fmt: skip
    contact, inbound = start.contact, start.inbound
    if inbound is None:
        raise ConversationClosed(
            f"contact {contact.id!r} ({Channel(channel).value} {external_ref[:12]!r}…) is {contact.state.value};"
            " start a new conversation"
        )
    if start.duplicate:
        return _replay(engine, contact, inbound, start.before)
    if not start.bot_may_answer:
        return TurnResult(contact, inbound, False, False, None, None, (), (), queue=start.queue, log=start.log)
    plan = _plan(engine, understanding, tenant_id, text, contact, start.before, start.events, tenant, now)
    end = engine.finish_bot_turn(tenant_id, contact.id, [m.text for m in plan.turn.messages], plan.turn.decision,
                                 plan.reason, nlu=plan.nlu, now=now)  # fmt: skip
    return _answered(plan, inbound, end)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The bot's decision for one message, before anything of it is stored."""

    turn: Turn
    reason: PacketReason | None  # why it goes to a human, when it does
    closed: ClosedInfo | None  # the handoff's queue is closed
    nlu: NLUResult | None


def _plan(
    engine: ConversationEngine,
    understanding: Understanding,
    tenant_id: str,
    text: str,
    contact: ContactView,
    before: Sequence[MessageView],
    events: Sequence[EventView],
    tenant: Tenant | None,
    now: datetime | None,
) -> _Plan:
    """One bot turn (`bot.dialogue.decide`, no transaction open) on what the engine read: the
    citizen's recent messages as safety history, the contact's last topic and any earlier safety
    decision; crisis routing; and for a handoff its reason and whether the queue is closed."""
    history = [m.text for m in before if m.author is Author.CITIZEN and not is_payload(m.text)]
    flagged = flagged_decision(events, understanding)
    turn = decide(understanding, text, history[-HISTORY_MESSAGES:], contact.topic, flagged, tenant_id)
    turn = route_turn(engine, understanding, tenant_id, text, turn)  # crisis mode: to the crisis queue
    decision = turn.decision
    reason = handoff_reason(decision, flagged) if decision.action is Action.HANDOFF else None
    closed = None
    if reason is not None:
        queue_id = queue_for(engine, decision, decision.topic or contact.topic, tenant_id)
        closed = _closed(engine, tenant, queue_id, now)
        if closed is not None and reason not in (PacketReason.SENSITIVE, PacketReason.EMERGENCY):
            reason = PacketReason.OUT_OF_HOURS
    nlu = turn.parsed.nlu if turn.parsed is not None else None
    return _Plan(turn, reason, closed, nlu)


def _answered(plan: _Plan, inbound: MessageView, end: TurnEnd) -> TurnResult:
    turn = plan.turn
    return TurnResult(end.contact, inbound, False, True, turn.decision, turn.parsed, end.replies, tuple(turn.messages),
                      handoff=end.handoff, queue=end.queue, closed=plan.closed, log=end.log)  # fmt: skip


# --- small pure helpers -------------------------------------------------------------------------


def handoff_reason(decision: TriageDecision, flagged: TriageDecision | None = None) -> PacketReason:
    """Why a handoff decision leaves the bot. After an emergency was seen, a request for a human
    is an emergency handoff, so the agent knows at once."""
    if flagged is not None and flagged.action is Action.EMERGENCY and not decision.sensitive:
        return PacketReason.EMERGENCY
    if decision.sensitive or decision.reason is HandoffReason.SENSITIVE:
        return PacketReason.SENSITIVE
    return PacketReason(decision.reason or HandoffReason.ASKED_FOR_HUMAN)


def decision_from_event(data: object, understanding: Understanding | None = None) -> TriageDecision | None:
    """The decision stored with a BOT_REPLIED event (`TriageDecision.to_data`), rebuilt. Events
    written before the decision kept `sensitive` get it from the reason and the topic contract."""
    if not isinstance(data, dict) or not data.get("action"):
        return None
    decision = TriageDecision.from_data(data)
    if "sensitive" in data:
        return decision
    reason, topic = decision.reason, decision.topic
    sensitive = reason is HandoffReason.SENSITIVE
    if understanding is not None and topic in understanding.contract.by_id:
        sensitive = sensitive or (bool(understanding.contract.by_id[topic].sensitive) and reason is not None)
    return replace(decision, sensitive=sensitive)


def flagged_decision(events: Sequence[EventView], understanding: Understanding | None = None) -> TriageDecision | None:
    """The decision that sticks for this contact: the first emergency decision the bot made, if
    any, else the first sensitive one. Acute beats sensitive here as in triage: a contact that
    began as a sensitive handoff and later reported danger now stays an emergency."""
    first_sensitive: TriageDecision | None = None
    for e in events:
        if e.kind is EventKind.BOT_REPLIED:
            d = decision_from_event(e.data.get("decision"), understanding)
            if d is None:
                continue
            if d.action is Action.EMERGENCY:
                return d
            if d.sensitive and first_sensitive is None:
                first_sensitive = d
    return first_sensitive


# --- engine reads ---------------------------------------------------------------------------------


def _replay(
    engine: ConversationEngine, contact: ContactView, earlier: MessageView, transcript: Sequence[MessageView]
) -> TurnResult:
    """The earlier result for a repeated client_message_id (a retry): what was stored then."""
    replies: list[MessageView] = []
    for later in transcript:
        if later.id <= earlier.id:
            continue
        if later.direction is Direction.IN:
            break
        if later.author is Author.BOT:
            replies.append(later)
    return TurnResult(contact, earlier, True, bool(replies), None, None, tuple(replies), (),
                      queue=_status(engine, contact, None))  # fmt: skip


def _status(engine: ConversationEngine, contact: ContactView, now: datetime | None) -> QueueStatus | None:
    if contact.state not in (ContactState.QUEUED, ContactState.OFFERED, ContactState.HANDOFF_REQUESTED):
        return None
    return engine.queue_status(contact.tenant_id, contact.id, now=now)


def _closed(engine: ConversationEngine, tenant: Tenant | None, queue_id: str, now: datetime | None) -> ClosedInfo | None:
    """None while the queue is open, on the tenant's hours for it (the default hours without one)."""
    at = engine.clock() if now is None else now
    schedule = tenant.opening_hours(queue_id) if tenant is not None else calendar.default_schedule()
    if calendar.is_open(at, schedule):
        return None
    try:
        opens = calendar.next_open(at, schedule)
    except NeverOpen:
        return ClosedInfo(queue_id, None, None)
    return ClosedInfo(queue_id, opens.astimezone(UTC), calendar.format_deadline_da(opens, schedule.tz))


def queue_for(engine: ConversationEngine, decision: TriageDecision, topic: str | None, tenant_id: str = "") -> str:
    """The queue a handoff goes to: the decision's, else the topic's, else the engine default,
    and a queue the tenant does not run goes to its fallback (ConversationEngine.request_handoff
    decides the same way, in the same method)."""
    return engine._queue_for(decision, topic, tenant_id)
