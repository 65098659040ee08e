"""What every voice webhook needs, as FastAPI dependencies: the signed form, the call's record
from the database, the called tenant (hours, name, articles, queues), the prompts and the TwiML
renderer, and the replay of answers per Twilio idempotency token.

Injected (override them in tests): `get_voice_settings` (security.py), `get_call_store`
(`app.state.voice_calls`, set by `connectors.voice.wiring.voice_channel`), `get_now`.

Only /voice/incoming starts a call. Any other webhook for a CallSid we never saw is answered at
the edge (`Answered`): a status callback with an empty TwiML and nothing stored, a caller's
webhook with a short Danish sentence and a fresh start at /voice/incoming.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from twilio.twiml.voice_response import VoiceResponse

from bot.errors import NumberNotServed
from bot.routing.calendar import OpeningHours
from bot.tenants import Tenant
from bot.topics import TopicContract
from bot.understanding import Understanding
from connectors.voice.calls import CallRecord
from connectors.voice.config import VoiceSettings
from connectors.voice.edge import Answered
from connectors.voice.engine_store import EngineCallStore, response_key
from connectors.voice.inbound import InvalidWebhook, VoiceWebhook
from connectors.voice.prompts import Lang, Prompts, load_prompts
from connectors.voice.security import VoiceSettingsDep
from connectors.voice.twiml import INCOMING, Urls, Voice

log = logging.getLogger("kontakt.voice")

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
STARTS_A_CALL = "/voice/incoming"
# Callbacks about a call (not the caller's own next step): an unknown call gets no answer at all.
STATUS_PATHS = frozenset({"/voice/status", "/voice/agent-status"})


def get_call_store(request: Request) -> EngineCallStore:
    store: EngineCallStore = request.app.state.voice_calls
    return store


def get_now(request: Request) -> datetime:
    """The app's one clock (the engine's), so a call's times agree with the queue's."""
    now: datetime = request.app.state.engine.clock()
    return now


async def get_webhook(request: Request) -> VoiceWebhook:
    try:
        return VoiceWebhook.from_form(await request.form())
    except InvalidWebhook as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def make_voice(settings: VoiceSettings, prompts: Prompts) -> Voice:
    return Voice(prompts, Urls(settings.public_base_url), settings.voice_da or None, settings.voice_en or None,
                 settings.gather_timeout_seconds)  # fmt: skip


@dataclass
class Call:
    """Everything one webhook needs: the request, the call's record and the collaborators."""

    request: Request
    form: VoiceWebhook
    settings: VoiceSettings
    store: EngineCallStore
    now: datetime
    tenant: Tenant
    prompts: Prompts
    voice: Voice
    record: CallRecord

    @property
    def understanding(self) -> Understanding:
        return self.request.app.state.understanding

    @property
    def contract(self) -> TopicContract:
        return self.understanding.contract

    @property
    def schedule(self) -> OpeningHours:
        """The called tenant's opening hours (knowledge/tenants.yaml)."""
        return self.tenant.opening_hours()

    @property
    def lang(self) -> Lang:
        return Lang(self.record.language)

    @property
    def sid(self) -> str:
        return self.record.call_sid

    def save(self, **changes: object) -> CallRecord:
        self.record = self.store.update(self.sid, **changes)
        return self.record

    def text(self, key: str, lang: Lang | None = None, /, **values: object) -> str:
        return self.prompts.text(key, lang or self.lang, **values)


def _xml(resp: VoiceResponse) -> Response:
    return Response(str(resp), media_type="application/xml")


def get_call(
    request: Request,
    form: Annotated[VoiceWebhook, Depends(get_webhook)],
    settings: VoiceSettingsDep,
    store: Annotated[EngineCallStore, Depends(get_call_store)],
    now: Annotated[datetime, Depends(get_now)],
) -> Call:
    # With each municipality's own menu (voice_channel); the file's prompts where not started.
    prompts = getattr(request.app.state, "voice_prompts", None) or load_prompts()
    voice = make_voice(settings, prompts)
    call_sid = form.parent_call_sid if request.url.path == "/voice/agent-status" else form.call_sid
    record = store.get(call_sid or "")
    if record is None:
        if request.url.path in STATUS_PATHS:
            log.warning("%s for unknown call %s: nothing to do", request.url.path, call_sid)
            raise Answered(_xml(VoiceResponse()))
        if request.url.path != STARTS_A_CALL:
            log.warning("call %s unknown at %s: starting it again", call_sid, request.url.path)
            raise Answered(_xml(voice.start_again(Lang.DA, Urls(settings.public_base_url)(INCOMING))))
        called = form.to or form.called or ""
        try:
            record, _ = store.start(form.call_sid, caller=form.number, called=called, now=now)
        except NumberNotServed as exc:
            log.warning("call %s refused: %s", form.call_sid, exc)
            raise Answered(_xml(voice.goodbye(Lang.DA, "number_not_served"))) from None
    tenant = request.app.state.tenants.get(record.tenant_id)
    return Call(request, form, settings, store, now, tenant, prompts, voice, record)


CallDep = Annotated[Call, Depends(get_call)]


def twiml(call: Call, build: Callable[[], VoiceResponse]) -> Response:
    """Render TwiML once per I-Twilio-Idempotency-Token: a retried webhook gets the same answer
    (from any worker: the answer is in the database) and the call flow does not run twice."""
    token = call.request.headers.get(IDEMPOTENCY_HEADER)
    url = call.request.url
    key = response_key(call.form.call_sid, f"{url.path}?{url.query}", token) if token else None
    if key is not None:
        cached = call.store.cached_response(key)
        if cached is not None:
            return Response(cached, media_type="application/xml")
    body = str(build())
    if key is not None:
        body = call.store.remember_response(key, call.form.call_sid, body, call.now)
    return Response(body, media_type="application/xml")
