"""Web chat channel: an embeddable widget (static/kontakt-widget.js), its WebSocket and HTTP
transport (routes.py), the chat-session contract (session.py) and its backend on the conversation
engine (engine_backend.py), built at start-up by `chat_services`.

Embed on a municipal page with one tag::

    <script src="https://HOST/chat/widget.js" data-tenant="kobenhavn" async></script>
"""

from connectors.webchat.routes import router
from connectors.webchat.session import (
    ChatBackend,
    ContactRequest,
    Feedback,
    MessageKind,
    OutMessage,
)

__all__ = [
    "ChatBackend", "ContactRequest", "Feedback", "MessageKind", "OutMessage", "router",
]
