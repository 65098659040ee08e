"""Putting a waiting caller through to the agent who accepted the call's contact.

`CallBridge` is the voice channel's bridge (`channels.bridges["voice"]`, called by the agent
API right after an accept): it looks up the agent's line (`agent_lines`: a phone number or a
Twilio Client identity), marks the call as being put through and redirects the caller's live
call with Twilio's REST API (`calls(sid).update(twiml=...)`, i.e.
POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json with `Twiml`) to a <Dial> of that
line. Only that caller is redirected; the hold loop stops the moment Twilio runs the new TwiML.

If the REST call cannot be made (no Twilio account configured, Twilio unreachable), the caller
is still put through: the hold loop's next round sees the accepted contact and dials itself.
An agent without a line cannot take a call: the contact goes back to the front of its queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from twilio.twiml.voice_response import VoiceResponse

from bot.config import TwilioSettings
from connectors.voice.calls import CallRecord
from connectors.voice.config import VoiceSettings
from connectors.voice.engine_store import EngineCallStore
from connectors.voice.prompts import Lang, load_prompts
from connectors.voice.twiml import Voice

log = logging.getLogger("kontakt.voice.bridge")

REST_TIMEOUT_SECONDS = 10.0


class TwilioCalls:
    """The real `twilio` REST client, pointed at `api_base_url` (Twilio's, or a test recorder)."""

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str) -> None:
        # Imported here: Twilio's REST client and requests cost a server 0.1 s of start-up, and
        # only a server with a Twilio account configured makes calls.
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=REST_TIMEOUT_SECONDS))
        self.client.api.base_url = api_base_url.rstrip("/")

    @classmethod
    def from_settings(cls, twilio: TwilioSettings) -> TwilioCalls | None:
        """None without KONTAKT_TWILIO_ACCOUNT_SID or KONTAKT_TWILIO_AUTH_TOKEN."""
        token = twilio.auth_token.get_secret_value().strip() if twilio.auth_token else ""
        if not twilio.account_sid or not token:
            return None
        return cls(twilio.account_sid, token, twilio.api_base_url)

    def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace what the live call is doing with `twiml`."""
        self.client.calls(call_sid).update(twiml=twiml)


def bridge_twiml(voice: Voice, record: CallRecord, target: str, settings: VoiceSettings) -> VoiceResponse:
    lang = Lang(record.language)
    return voice.bridge([voice.prompts.text("bridge_connecting", lang)], target, lang, settings.dial_timeout_seconds)


class CallBridge:
    """`channels.bridges["voice"]`: connect the caller of a voice contact to the accepting agent."""

    def __init__(
        self,
        store: EngineCallStore,
        calls: TwilioCalls | None,
        voice_settings: Callable[[], VoiceSettings],
        make_voice: Callable[[VoiceSettings], Voice],
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.calls, self.voice_settings = store, calls, voice_settings
        self.make_voice, self.clock = make_voice, clock

    def __call__(self, tenant_id: str, contact_id: str, agent_id: str) -> None:
        record = self.store.call_of(tenant_id, contact_id)
        now = self.clock()
        if record is None or record.ended_at is not None:
            log.warning("contact %s: no live call to put through to agent %s", contact_id, agent_id)
            return
        target = self.store.agent_target(tenant_id, agent_id)
        if target is None:
            log.error("agent %s has no phone number or Twilio Client identity (set it with `python -m bot agent"
                      " add --phone` or PUT /agent/api/supervisor/agents/%s/line); call %s goes back to the"
                      " front of its queue", agent_id, agent_id, record.call_sid)  # fmt: skip
            self.store.bridging(record.call_sid, agent_id, "", now)
            self.store.agent_leg(record.call_sid, None, "failed", now)
            return
        record = self.store.bridging(record.call_sid, agent_id, target, now)
        if self.calls is None:
            log.warning("call %s: no Twilio account configured (KONTAKT_TWILIO_ACCOUNT_SID); the hold loop puts"
                        " the caller through on its next round", record.call_sid)  # fmt: skip
            return
        settings = self.voice_settings()
        body = str(bridge_twiml(self.make_voice(settings), record, target, settings))
        from requests import RequestException  # loaded with the REST client (TwilioCalls)
        from twilio.base.exceptions import TwilioException

        try:
            self.calls.redirect(record.call_sid, body)
        except (TwilioException, RequestException) as exc:
            log.error("call %s: Twilio refused the redirect to agent %s (%s); the hold loop puts the caller"
                      " through on its next round", record.call_sid, agent_id, exc)  # fmt: skip
            return
        self.store.redirected(record.call_sid)
        log.info("call %s put through to agent %s", record.call_sid, agent_id)


def default_voice(settings: VoiceSettings) -> Voice:
    from connectors.voice.context import make_voice

    return make_voice(settings, load_prompts())
