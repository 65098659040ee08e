"""Read-only views: a contact, pending offers and the event log."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.core import EngineCore, _offer_view
from bot.storage import repository as repo
from bot.storage.models import ContactState, EventKind
from bot.storage.repository import ContactView, EventView, MessageView, OfferView


@dataclass(frozen=True, slots=True)
class ContactLog:
    """A contact with its messages and events, read together (one consistent snapshot)."""

    contact: ContactView
    messages: tuple[MessageView, ...]  # oldest first
    events: tuple[EventView, ...]  # oldest first


class ViewsMixin(EngineCore):
    """Read-only views."""

    def contact(self, tenant_id: str, contact_id: str) -> ContactView:
        with self.db.read() as s:
            return ContactView.of(repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id))

    def standing(self, tenant_id: str, contact_id: str, kind: EventKind) -> tuple[ContactState, bool]:
        """The contact's state and whether it has an event of `kind` (one small read)."""
        with self.db.read() as s:
            return repo.contact_standing(s, tenant_id=tenant_id, contact_id=contact_id, kind=kind)

    def contact_log(self, tenant_id: str, contact_id: str, *, messages: bool = True) -> ContactLog:
        """The contact, its messages (unless `messages=False`) and its events in one read, as a
        channel renders a conversation."""
        with self.db.read() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            rows = repo.messages(s, tenant_id=tenant_id, contact_id=contact_id) if messages else []
            return ContactLog(
                ContactView.of(c),
                tuple(MessageView.of(m) for m in rows),
                tuple(EventView.of(e) for e in repo.events(s, tenant_id=tenant_id, contact_id=contact_id)),
            )

    def offers(self, tenant_id: str, agent_id: str | None = None) -> list[OfferView]:
        """Pending offers of the tenant (of one agent if given)."""
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            rows = repo.pending_offers(s, tenant_id=tenant_id)
            out = []
            for o in rows:
                if agent_id is None or o.agent_id == agent_id:
                    out.append(_offer_view(o, repo.get_contact(s, tenant_id=tenant_id, contact_id=o.contact_id)))
            return out

    def events(self, tenant_id: str, contact_id: str | None = None) -> list[EventView]:
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return [EventView.of(e) for e in repo.events(s, tenant_id=tenant_id, contact_id=contact_id)]
