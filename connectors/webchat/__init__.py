"""Web chat channel: an embeddable widget (static/kontakt-widget.js), its WebSocket and HTTP
transport (routes.py) and the chat-session adapter over a conversation backend (session.py).

Embed on a municipal page with one tag::

    <script src="https://HOST/chat/widget.js" data-tenant="kobenhavn" async></script>
"""

from connectors.webchat.routes import router
from connectors.webchat.session import (
    BotOnlyBackend,
    ChatBackend,
    ContactRequest,
    Feedback,
    MessageKind,
    OutMessage,
)

__all__ = [
    "BotOnlyBackend", "ChatBackend", "ContactRequest", "Feedback", "MessageKind", "OutMessage", "router",
]
