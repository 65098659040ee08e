"""The conversation engine: the per-contact state machine and the I/O around the pure decisions
(load from the database, decide with bot.routing, store, append an event).

The state machine itself is pure and lives in `bot.engine.states` (`TRANSITIONS`,
`transition`). `ConversationEngine` is put together from one part per concern:

- `core`: construction, the clock, moving a contact, events, agent snapshots;
- `tenants`: the tenant and its queues;
- `agents`: agent accounts, skills and the agent's own state;
- `lifecycle`: opening a contact, citizen/bot/agent messages, closing, abandoning;
- `handoff`: from the bot to a queue, and transfers, with their handoff packets;
- `turns`: a citizen's turn with the bot in two transactions (message first, then the replies);
- `routing`: offers to agents and what a waiting citizen is told;
- `dispatch`: push routing: the wake-up on commit, the timers, and each worker's loop;
- `tasks`: messages and callbacks for the back office (texts in bot/resources/tasks_da.yml);
- `views`: read-only views.

Every public method runs in one transaction (committed before it returns), takes
`tenant_id` explicitly and appends at least one event. The bot may answer only in BOT
(`bot_may_answer`); every channel asks that, never a flag of its own.
"""

from __future__ import annotations

from bot.engine.agents import AgentsMixin
from bot.engine.core import DEFAULT_QUEUE as DEFAULT_QUEUE  # module-level settings, as before
from bot.engine.core import SLA_EMAIL_HOURS as SLA_EMAIL_HOURS
from bot.engine.handoff import HandoffMixin
from bot.engine.lifecycle import LifecycleMixin
from bot.engine.routing import QueueStatus, RoutingMixin
from bot.engine.states import TRANSITIONS, ContactEvent, transition
from bot.engine.tasks import TasksMixin
from bot.engine.tenants import TenantsMixin
from bot.engine.texts import TaskTexts
from bot.engine.turns import TurnAnswer, TurnEnd, TurnLook, TurnsMixin, TurnStart
from bot.engine.views import ViewsMixin
from bot.storage.models import ContactState

__all__ = [
    "TRANSITIONS",
    "ContactEvent",
    "ContactState",
    "ConversationEngine",
    "QueueStatus",
    "TaskTexts",
    "TurnAnswer",
    "TurnEnd",
    "TurnLook",
    "TurnStart",
    "transition",
]  # fmt: skip


class ConversationEngine(
    TenantsMixin, AgentsMixin, TurnsMixin, LifecycleMixin, HandoffMixin, RoutingMixin, TasksMixin, ViewsMixin
):
    """The state machine over the database. Cheap to construct; one per process is enough."""
