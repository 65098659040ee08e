"""How the engine's decisions reach the channels: one registry per app, filled by the
composition root (connectors/app.py) and read by the agent API and the router.

The core never imports a channel. A channel registers what it can do:

- a reply sender, when an agent's text must be delivered by the channel itself (e-mail sends a
  mail, voice offers a callback or SMS, a Rasa callback integration gets a POST); channels
  without one (web chat) read new messages from the engine;
- a bridge, when the channel must act the moment an agent accepts a contact (voice connects
  the caller's live call to the agent's phone);
- a watcher, told after any change to a contact (e.g. wake a citizen's socket on another worker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class ReplySender(Protocol):
    def __call__(
        self, tenant_id: str, contact_id: str, agent_id: str, text: str, *, client_message_id: str | None = None
    ) -> None: ...


class Bridge(Protocol):
    def __call__(self, tenant_id: str, contact_id: str, agent_id: str) -> None: ...


Watcher = Callable[[str, str], None]  # (tenant_id, contact_id)


@dataclass
class Channels:
    reply_senders: dict[str, ReplySender] = field(default_factory=dict)  # channel value -> sender
    bridges: dict[str, Bridge] = field(default_factory=dict)  # channel value -> bridge
    watchers: list[Watcher] = field(default_factory=list)

    def sender(self, channel: str) -> ReplySender | None:
        return self.reply_senders.get(channel)

    def assigned(self, channel: str, tenant_id: str, contact_id: str, agent_id: str) -> None:
        """An agent accepted the contact: let its channel connect them (no-op for most)."""
        bridge = self.bridges.get(channel)
        if bridge is not None:
            bridge(tenant_id, contact_id, agent_id)

    def changed(self, tenant_id: str, contact_id: str) -> None:
        for watch in self.watchers:
            watch(tenant_id, contact_id)
