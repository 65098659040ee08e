"""`RasaChannel`: Rasa's REST and callback channels on the conversation engine.

One citizen message is the same turn as on every channel (`bot.conversation`): the contact is
opened or found, the message stored first, safety and triage read the stored history, a handoff
queues the contact with its packet, and the bot is silent once a human owns the contact.

Then everything the citizen is owed is handed over (`hand_over`): each outbound message of the
contact (the bot's replies of this turn, and agent replies written since the last handover) gets
its handover row in the outbox, in the same transaction that decides what to send:

- REST: the rows are SENT at once and the messages are the HTTP answer, so a REST client reads an
  agent's reply in the answer to its next message;
- callback: the rows are PENDING and the callback worker POSTs them (connectors/rasa/delivery.py),
  retried with backoff while the client's URL is down.

An agent's reply reaches a callback conversation through `on_changed`, the watcher the agent API
calls after every reply (bot/channels.py). The web chat shares the engine's `chat` channel, so a
reply sender keyed by channel would sit in the path of every web chat reply; the watcher reads the
contact's external_ref and acts only on Rasa callback conversations.

Nothing is kept per process: the conversation is found by its external_ref, and what was handed
over is in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation import FINAL_STATES, decision_from_event, handle_citizen_message
from bot.engine import ConversationEngine
from bot.errors import ConversationClosed
from bot.responses import BotMessage, render, texts
from bot.storage import deliveries
from bot.storage import repository as repo
from bot.storage.models import Author, Channel, ContactState, Direction, EventKind
from bot.storage.repository import ContactView
from bot.tenants import Tenant, Tenants
from bot.understanding import Understanding
from connectors.rasa.inbound import RasaKind, parse_ref, ref_stem
from connectors.rasa.outbound import payload, rasa_message

__all__ = ["KEY_PREFIX", "RasaChannel"]

log = logging.getLogger("kontakt.rasa")

KEY_PREFIX = "rasa:"  # outbox dedupe key of a handover: "rasa:<message id>"
CHANNEL = Channel.CHAT  # the engine's channel for Rasa conversations (chat-like routing and capacity)


class RasaChannel:
    """Cheap to construct; thread-safe (all state is in the database)."""

    def __init__(
        self,
        engine: ConversationEngine,
        understanding: Understanding,
        tenants: Tenants,
        *,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.understanding = understanding
        self.tenants = tenants
        self.wake = wake  # tells this process's callback worker that something is due

    # --- a citizen message ------------------------------------------------------------------------

    def receive(self, kind: RasaKind, tenant_id: str | None, sender: str, text: str) -> list[dict[str, Any]]:
        """One message from a Rasa client → the messages handed over now (the REST answer; for a
        callback conversation the same messages go to the worker). `UnknownTenant` for a tenant
        this installation does not serve."""
        tenant = self.tenants.get(tenant_id)
        if not text.strip():
            return self._empty(kind, tenant, sender)
        for attempt in range(2):
            ref = self._current_ref(kind, tenant.id, sender)
            try:
                turn = handle_citizen_message(
                    self.engine, self.understanding, tenant.id, CHANNEL, ref, text, tenant=tenant
                )
                break
            except ConversationClosed:  # closed by an agent a moment ago: the next conversation
                if attempt:
                    raise
        shown = {m.id: b for m, b in zip(turn.replies, turn.rendered, strict=False)}
        return self.hand_over(kind, tenant.id, turn.contact.id, sender, shown)

    def _empty(self, kind: RasaKind, tenant: Tenant, sender: str) -> list[dict[str, Any]]:
        """An empty message opens nothing: it collects what is owed, and while the bot has the
        conversation (or there is none) the bot asks for words."""
        contact = self._open_contact(kind, tenant.id, sender)
        out = self.hand_over(kind, tenant.id, contact.id, sender) if contact is not None else []
        if contact is None or contact.state is ContactState.BOT:
            out.append(rasa_message(sender, texts()["da"]["empty"]))
        return out

    # --- handing over -------------------------------------------------------------------------------

    def hand_over(
        self,
        kind: RasaKind,
        tenant_id: str,
        contact_id: str,
        sender: str,
        shown: Mapping[int, BotMessage] | None = None,
    ) -> list[dict[str, Any]]:
        """Every outbound message of the contact not handed over yet, oldest first, each exactly
        once even with concurrent requests (the contact row is locked while deciding)."""
        shown = dict(shown or {})
        now = self.engine.clock()
        out: list[dict[str, Any]] = []
        with self.engine.db.write() as s:
            repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
            owed = deliveries.undelivered(s, tenant_id=tenant_id, contact_id=contact_id, key_prefix=KEY_PREFIX)
            if any(m.author is Author.BOT and m.id not in shown for m in owed):
                shown.update(self._rendered_from_events(s, tenant_id, contact_id))
            for m in owed:
                msg = rasa_message(sender, m.text, shown.get(m.id))
                if deliveries.record_handover(s, message=m, payload=payload(msg), key_prefix=KEY_PREFIX,
                                              channel=CHANNEL, now=now, sent=kind is RasaKind.REST):  # fmt: skip
                    out.append(msg)
        if out and kind is RasaKind.CALLBACK:
            self.wake()
        return out

    def _rendered_from_events(self, s: Session, tenant_id: str, contact_id: str) -> dict[int, BotMessage]:
        """Buttons and triage of bot replies stored by another request or process, rebuilt from
        the decision stored with each reply (the same render, matched by its text)."""
        u = self.understanding
        texts_by_id = {m.id: m.text for m in repo.messages(s, tenant_id=tenant_id, contact_id=contact_id,
                                                           direction=Direction.OUT)}  # fmt: skip
        out: dict[int, BotMessage] = {}
        for e in repo.events(s, tenant_id=tenant_id, contact_id=contact_id):
            decision = decision_from_event(e.data.get("decision"), u) if e.kind is EventKind.BOT_REPLIED else None
            mid = e.data.get("message_id")
            if decision is None or not isinstance(mid, int) or mid not in texts_by_id:
                continue
            match = next((b for b in render(decision, u.contract, u.articles) if b.text == texts_by_id[mid]), None)
            if match is not None:
                out[mid] = match
        return out

    def on_changed(self, tenant_id: str, contact_id: str) -> None:
        """Watcher (bot/channels.py): after an agent's reply, POST it to a callback conversation.
        Never raises into the agent's request: what is not handed over now stays owed and goes
        out with the conversation's next handover."""
        try:
            contact = self.engine.contact(tenant_id, contact_id)
            ref = parse_ref(contact.external_ref) if contact.channel is CHANNEL else None
            if ref is not None and ref.kind is RasaKind.CALLBACK:
                self.hand_over(ref.kind, tenant_id, contact_id, ref.sender)
        except Exception:  # noqa: BLE001 - the reply is stored; delivery catches up later
            log.exception("handing over the messages of contact %s to the Rasa callback failed", contact_id)

    def catch_up(self, since: datetime, until: datetime) -> int:
        """Hand over what callback conversations that changed between `since` and `until` are
        still owed (a process that stored an agent's or the bot's reply stopped before handing it
        over). `until` lies a little in the past, so requests still running are left to finish
        their own handover. Returns how many messages went to the worker."""
        with self.engine.db.read() as s:
            found = [(c.tenant_id, c.id, c.external_ref)
                     for c in deliveries.changed_since(s, channel=CHANNEL, ref_prefix=f"{RasaKind.CALLBACK.value}:",
                                                       since=since, until=until)]  # fmt: skip
        handed = 0
        for tenant_id, contact_id, external_ref in found:
            ref = parse_ref(external_ref)
            if ref is not None and ref.kind is RasaKind.CALLBACK:
                handed += len(self.hand_over(ref.kind, tenant_id, contact_id, ref.sender))
        return handed

    # --- the sender's conversation ------------------------------------------------------------------

    def _generations(self, kind: RasaKind, tenant_id: str, sender: str) -> dict[int, ContactState]:
        with self.engine.db.read() as s:
            found = deliveries.ref_generations(s, tenant_id=tenant_id, channel=CHANNEL, stem=ref_stem(kind, sender))
            return {n: c.state for n, c in found.items()}

    def _current_ref(self, kind: RasaKind, tenant_id: str, sender: str) -> str:
        """The external_ref the sender's message belongs to: the newest conversation, or the next
        one when the newest has ended."""
        states = self._generations(kind, tenant_id, sender)
        newest = max(states, default=0)
        n = newest + 1 if newest == 0 or states[newest] in FINAL_STATES else newest
        return f"{ref_stem(kind, sender)}{n}"

    def _open_contact(self, kind: RasaKind, tenant_id: str, sender: str) -> ContactView | None:
        states = self._generations(kind, tenant_id, sender)
        newest = max(states, default=0)
        if newest == 0 or states[newest] in FINAL_STATES:
            return None
        with self.engine.db.read() as s:
            c = repo.find_contact(s, tenant_id=tenant_id, channel=CHANNEL,
                                  external_ref=f"{ref_stem(kind, sender)}{newest}")  # fmt: skip
            return ContactView.of(c) if c is not None else None
