"""The edge of the voice webhooks: checks made before the call flow starts (the setup) and
answers given then, as TwiML: a dependency raises `Answered` with the TwiML to send (a number no
tenant serves, an unknown call), and `VoiceRoute` (the voice routers' route class) returns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from twilio.twiml.voice_response import VoiceResponse

from bot.errors import KontaktError, VoiceConfigError
from bot.topics import TopicContract
from connectors.voice.config import VoiceSettings
from connectors.voice.prompts import Lang, Prompts, load_prompts

__all__ = ["Answered", "VoiceRoute", "check_voice_setup"]

log = logging.getLogger("kontakt.voice")


class Answered(Exception):
    """A webhook already answered with TwiML before the call flow started (e.g. a number that
    is not served); `VoiceRoute` returns the response."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered")
        self.response = response


class VoiceRoute(APIRoute):
    """Returns the TwiML of an `Answered` raised by a dependency (FastAPI would make it a 500),
    and answers any of our errors (the database is unavailable, ...) with a spoken apology and a
    hang-up instead of an HTTP error the caller would hear as Twilio's own message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Answered as answered:
                return answered.response
            except KontaktError as exc:
                log.error("voice webhook %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
                resp = VoiceResponse()
                resp.say(load_prompts().text("error_call_again", Lang.DA), language=Lang.DA.bcp47)
                resp.hangup()
                return Response(str(resp), media_type="application/xml")

        return handle


def check_voice_setup(
    settings: VoiceSettings, prompts: Prompts, contract: TopicContract, tenant_ids: Collection[str] | None = None
) -> None:
    """Every queue the voice settings and the menu name must exist in the topic contract.
    Raises `VoiceConfigError` naming the key. Runs at start-up (`wiring.voice_channel`), so a
    typo fails the deployment instead of the first caller."""
    prompts.check_queues(contract, tenant_ids)
    named = {
        "KONTAKT_VOICE_FALLBACK_QUEUE": settings.fallback_queue,
        "KONTAKT_VOICE_ENGLISH_QUEUE": settings.english_queue,
        "KONTAKT_VOICE_SWITCHBOARD_QUEUE": settings.switchboard_queue,
        **{f"KONTAKT_VOICE_TRANSFER_NUMBERS[{q}]": q for q in settings.transfer_numbers},
    }
    for key, queue_id in named.items():
        if queue_id not in contract.queue_by_id:
            raise VoiceConfigError(
                f"{key} names unknown queue {queue_id!r}; use a queue id from knowledge/topics.yaml"
            )
