"""The per-contact state machine, pure: which step leads from which state to which.

States and steps (`TRANSITIONS`; `transition` is the pure check)::

    BOT ─request_handoff→ HANDOFF_REQUESTED ─enqueue→ QUEUED ─offer→ OFFERED ─accept→ ASSIGNED
      ASSIGNED ─agent_reply→ AGENT_ACTIVE ─close→ CLOSED      (ASSIGNED may close directly)
      OFFERED ─unanswered→ QUEUED (front of queue, skills.return_unanswered)
      ASSIGNED ─unanswered→ QUEUED (front of queue: the channel could not connect the agent,
        e.g. the agent's phone was not answered when a call was put through)
      ASSIGNED / AGENT_ACTIVE ─transfer→ QUEUED (another queue, new handoff packet version)
      BOT / HANDOFF_REQUESTED / QUEUED ─leave_message→ MESSAGE_LEFT, ─request_callback→ CALLBACK_REQUESTED
      MESSAGE_LEFT / CALLBACK_REQUESTED ─complete_task→ CLOSED
      BOT / QUEUED / OFFERED ─abandon→ ABANDONED
      BOT ─resolve→ CLOSED    (the citizen left or went quiet after the bot answered)

Terminal states say whether the contact was served: CLOSED (by an agent, by a completed task, or
by the bot: `resolve`) or ABANDONED (the citizen left unserved, in the bot before any answer or
while waiting for an agent). The precise ending is the `ending` of the contact's terminal event
(`bot.stats.facts.Ending`, chosen by `bot.engine.endings.decide_ending`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from bot.errors import IllegalTransition
from bot.storage.models import ContactState

__all__ = ["TRANSITIONS", "ContactEvent", "transition"]


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
    RESOLVE = "resolve"  # the bot's answer ended the contact


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
    (S.ASSIGNED, E.UNANSWERED): S.QUEUED,
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
    (S.BOT, E.RESOLVE): S.CLOSED,
}


def transition(state: ContactState, event: ContactEvent, *, contact_id: str | None = None) -> ContactState:
    """The state after `event`, or `IllegalTransition` naming the contact, state and step."""
    try:
        return TRANSITIONS[(ContactState(state), ContactEvent(event))]
    except (KeyError, ValueError):
        raise IllegalTransition(state, event, contact_id) from None
