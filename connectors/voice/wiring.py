"""The voice channel's parts on an app, made in the lifespan once the engine exists:

- `app.state.voice_calls`: the `EngineCallStore` every voice webhook uses;
- `channels.bridges["voice"]`: put the caller through when an agent accepts (`bridge.py`);
- `channels.reply_senders["voice"]`: an agent's written reply to a caller becomes a callback task.

Used as a background hook of `bot.api.create_app` (connectors/app.py; tests do the same).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.engine import ConversationEngine
from bot.storage.repository import TaskView
from bot.tenants import Tenants
from connectors.voice.bridge import CallBridge, TwilioCalls, default_voice
from connectors.voice.config import VoiceSettings
from connectors.voice.edge import check_voice_setup
from connectors.voice.engine_store import EngineCallStore, tenant_by_number
from connectors.voice.prompts import MenuOption, Prompts, load_prompts

log = logging.getLogger("kontakt.voice")

# What the back office reads on the task, before the agent's words (Danish, shown in the console).
REPLY_NOTE_DA = "Ring borgeren op og giv dette svar fra medarbejderen: {text}"


class CallReplies:
    """`channels.reply_senders["voice"]`: a caller cannot read, so the agent's reply is stored on
    the contact and handed to the back office as a callback task (nothing is dropped: without a
    usable phone number the agent gets the error and nothing is stored)."""

    def __init__(self, engine: ConversationEngine) -> None:
        self.engine = engine

    def __call__(
        self, tenant_id: str, contact_id: str, agent_id: str, text: str, *, client_message_id: str | None = None
    ) -> None:
        contact = self.engine.contact(tenant_id, contact_id)
        if client_message_id is not None and any(
            m.client_message_id == client_message_id for m in self.engine.messages_since(tenant_id, contact_id, 0)
        ):
            return  # a repeated reply: stored and handed over already
        task: TaskView = self.engine.request_follow_up_callback(
            tenant_id, agent_id, contact_id, contact.citizen_phone or "", REPLY_NOTE_DA.format(text=text)
        )
        self.engine.agent_reply(tenant_id, agent_id, contact_id, text, client_message_id=client_message_id)
        log.info("voice contact %s: the agent's reply became callback task %s", contact_id, task.id)


def tenant_prompts(tenants: Tenants) -> Prompts:
    """The spoken texts with each municipality's own menu from knowledge/tenants.yaml."""
    menus = {t.id: tuple(MenuOption.model_validate(o.model_dump()) for o in t.voice.menu)
             for t in tenants.tenants if t.voice.menu}  # fmt: skip
    return load_prompts().with_tenant_menus(menus)


@asynccontextmanager
async def voice_channel(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    # A queue named in the settings or the menu that does not exist fails the start, not a caller.
    state.voice_prompts = prompts = tenant_prompts(state.tenants)
    check_voice_setup(state.voice_settings, prompts, state.understanding.contract,
                      [t.id for t in state.tenants.tenants])  # fmt: skip
    engine: ConversationEngine = state.engine
    store = EngineCallStore(engine, tenant_by_number(state.tenants))
    state.voice_calls = store

    def voice_settings() -> VoiceSettings:
        return state.voice_settings  # read per call: an operator (or a test) may replace them

    calls = TwilioCalls.from_settings(state.settings.twilio)
    state.channels.bridges["voice"] = CallBridge(store, calls, voice_settings, default_voice, engine.clock)
    state.channels.reply_senders["voice"] = CallReplies(engine)
    yield
