"""Issue 5 end to end in headless Chromium: the demo page's widget on the engine. The bot answers
with its source, the citizen asks for a human and sees the queue position, an agent replies
(engine + notify, as the agent API does) and the reply shows with the agent's name; after that
the bot stays silent. Screenshots: test-artifacts/widget-answer.png, widget-agent-reply.png."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial

import pytest
from test_widget_browser import QUESTION, Widget, _shot

from bot.api import create_app
from bot.storage.models import AgentState, Author
from connectors.webchat import router
from connectors.webchat.engine_backend import chat_services
from connectors.webchat.notify import notify
from tests.bot.conftest import FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # open: the handoff is queued, not out of hours


def test_engine_widget_answer_queue_agent_reply_then_silent_bot(browser, serve, settings, understanding, tmp_path):  # noqa: E501

    own_db = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}"})
    app = create_app(own_db, routers=[router], understanding=understanding, clock=FakeClock(MONDAY_10),
                     background=[partial(chat_services, refresh_seconds=2)])  # fmt: skip
    base = serve(app)
    _conversation(browser, base, app)


def _conversation(browser, base: str, app) -> None:
    from selenium.webdriver.common.keys import Keys

    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()
    w.find("#kontakt-input").send_keys(QUESTION, Keys.ENTER)
    text = w.wait_log(lambda t: "Kilde:" in t, "the bot's answer with its source")
    assert QUESTION in text
    _shot(browser, "widget-answer.png")

    w.find(".kontakt-actions [data-action='human']").click()
    w.wait_log(lambda t: "i køen" in t, "the queue position")
    assert "Du er nummer 1 i køen." in w.log_text()

    sid = browser.execute_script("return Object.entries(localStorage).find(([k]) => k.endsWith(':session'))[1];")
    engine = app.state.engine
    contact = engine.open_contact("kobenhavn", "chat", sid)
    engine.add_agent("kobenhavn", "mette-e2e", "Mette Larsen", skills={contact.queue_id: 5})
    engine.set_agent_state("kobenhavn", "mette-e2e", AgentState.AVAILABLE)
    offer = next(o for o in engine.route("kobenhavn") if o.contact_id == contact.id)
    engine.accept_offer("kobenhavn", offer.id, "mette-e2e")
    engine.agent_reply("kobenhavn", "mette-e2e", contact.id, "Hej, jeg hedder Mette. Hvad kan jeg hjælpe med?")
    notify(engine.db, contact.id)
    w.wait_log(lambda t: "jeg hedder Mette" in t, "the agent's reply")
    assert "Mette, medarbejder" in w.find(".kontakt-msg--agent").text
    _shot(browser, "widget-agent-reply.png")

    bots_before = len(w.find_all(".kontakt-msg--bot"))
    w.find("#kontakt-input").send_keys("Hvornår kommer storskrald?", Keys.ENTER)
    w.wait_log(lambda t: "storskrald" in t, "the citizen's next message")
    time.sleep(2.5)  # more than one poll interval: any bot reply would have arrived
    assert len(w.find_all(".kontakt-msg--bot")) == bots_before
    authors = [m.author for m in engine.transcript("kobenhavn", contact.id)]
    assert authors[-2:] == [Author.AGENT, Author.CITIZEN]
