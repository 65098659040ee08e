"""What kontakt sends a Rasa client: Rasa's message dicts, `{"recipient_id", "text"}` plus
`buttons` and `custom` when the bot's reply has them (Rasa's CollectingOutputChannel shape), in
the REST answer or as the body of a callback POST."""

from __future__ import annotations

import json
from typing import Any

from bot.responses import BotMessage

__all__ = ["payload", "rasa_message"]


def rasa_message(recipient_id: str, text: str, shown: BotMessage | None = None) -> dict[str, Any]:
    """One message; `shown` is the bot's rendered reply when it is at hand (buttons, triage)."""
    msg: dict[str, Any] = {"recipient_id": recipient_id, "text": text}
    if shown is not None:
        if shown.buttons:
            msg["buttons"] = [{"title": b.title, "payload": b.payload} for b in shown.buttons]
        if shown.custom:
            msg["custom"] = shown.custom
    return msg


def payload(message: dict[str, Any]) -> bytes:
    """The JSON body of a callback POST (also kept as the record of a REST handover)."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8")
