"""Rasa's REST and callback channels over HTTP (request and answer shapes of Rasa 3.6).

    POST /webhooks/rest/webhook      {"sender", "message", "metadata": {"tenant"}} → [{"recipient_id", "text", …}]
    POST /webhooks/callback/webhook  same body → "success"; the messages are POSTed to KONTAKT_CALLBACK_URL
    GET  /webhooks/rest/, /webhooks/callback/ → {"status": "ok"}

Bad input is a clear 4xx with `{error, message}`: malformed JSON 400, a body of the wrong shape
422, an unknown tenant 404 (naming no tenant), a message longer than KONTAKT_MAX_TEXT_CHARS 413
(a larger body is refused before it is read). Without KONTAKT_CALLBACK_URL the callback channel
is not offered: its webhook answers 404 `callback_not_configured` and stores nothing, since no
answer could reach the citizen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from connectors.rasa.inbound import RasaKind, WebhookRequest
from connectors.rasa.service import RasaChannel

__all__ = ["router"]

router = APIRouter(tags=["rasa channels"])


def get_channel(request: Request) -> RasaChannel:
    channel: RasaChannel = request.app.state.rasa_channel  # set by rasa_background in the lifespan
    return channel


ChannelDep = Annotated[RasaChannel, Depends(get_channel)]


def _too_long(request: Request, text: str) -> JSONResponse | None:
    limit = request.app.state.settings.max_text_chars
    if len(text) <= limit:
        return None
    return JSONResponse({"error": "text_too_long", "message": f"The message is longer than {limit} characters."},
                        status_code=413)  # fmt: skip


@router.get("/webhooks/rest/", summary="Health of the Rasa REST channel (Rasa shape)")
def rest_health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/webhooks/rest/webhook", summary="Chat over Rasa's REST channel, on the conversation engine")
def rest_webhook(body: WebhookRequest, channel: ChannelDep, request: Request) -> Any:
    """The answer is the list of messages for the sender: the bot's replies to this message, and
    any agent replies written since the sender's last message. Empty while a person has the
    conversation and has not written yet."""
    return _too_long(request, body.message) or channel.receive(RasaKind.REST, body.tenant, body.sender, body.message)


@router.get("/webhooks/callback/", summary="Health of the Rasa callback channel (Rasa shape)")
def callback_health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/webhooks/callback/webhook", response_class=PlainTextResponse,
             summary="Chat over Rasa's callback channel: answers are POSTed to KONTAKT_CALLBACK_URL")  # fmt: skip
def callback_webhook(body: WebhookRequest, channel: ChannelDep, request: Request) -> Any:
    """Answers "success" once the message is stored; the bot's replies, and later the agent's,
    are POSTed as `{"recipient_id", "text"}` to the callback URL, retried while it is down."""
    if request.app.state.settings.callback.url is None:
        return JSONResponse({"error": "callback_not_configured",
                             "message": "The callback channel is not set up on this installation."},
                            status_code=404)  # fmt: skip
    if not body.message.strip():
        return JSONResponse({"error": "empty_message", "message": "The message is empty."}, status_code=422)
    too_long = _too_long(request, body.message)
    if too_long is not None:
        return too_long
    channel.receive(RasaKind.CALLBACK, body.tenant, body.sender, body.message)
    return PlainTextResponse("success")
