"""Crisis mode in the widget, in headless Chromium against the real app under uvicorn: switched on
through the supervisor API, the panel shows the banner and the new conversation opens with the
message as its first bot message (before the citizen's own); switched off, the banner is gone.
Screenshot: test-artifacts/widget-crisis.png."""

from __future__ import annotations

from functools import partial

import httpx
import pytest
from pydantic import SecretStr
from test_widget_browser import QUESTION, Widget, _shot

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.crisis import notice_router
from bot.api.crisis import router as crisis_router
from connectors.webchat import router
from connectors.webchat.engine_backend import chat_services
from tests.bot.conftest import MONDAY_10, FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "test-pepper-crisis-widget-0123456789abcdefghijklmnop"
FLOOD = "Stormflod i aften. Sandsække udleveres ved Nordhavn Station fra kl. 16."


def test_widget_shows_the_crisis_banner_and_opens_with_the_message(browser, serve, settings, understanding, tmp_path):
    from selenium.webdriver.common.keys import Keys

    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}",
                                        "agent_token_pepper": SecretStr(PEPPER)})  # fmt: skip
    app = create_app(local, routers=[router, crisis_router, notice_router], understanding=understanding,
                     background=[partial(chat_services, feed=False)])  # fmt: skip
    base = serve(app)
    app.state.engine.clock = FakeClock(MONDAY_10)
    token = create_agent(app.state.engine, token_pepper(local), tenant_id="kobenhavn", agent_id="sara", name="Sara",
                         role="supervisor")  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    on = httpx.post(base + "/agent/api/supervisor/crisis", json={"message_da": FLOOD}, headers=auth)
    assert on.status_code == 200, on.text

    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()
    w.wait.until(lambda d: w.js("!r.getElementById('kontakt-crisis').hidden;"))
    banner = w.find("#kontakt-crisis")
    assert "Vigtig besked fra kommunen" in banner.text and FLOOD in banner.text

    w.find("#kontakt-input").send_keys(QUESTION, Keys.ENTER)
    w.wait_log(lambda t: "Vigtig besked" in t and QUESTION in t, "the crisis message and the citizen's question")
    messages = w.find_all(".kontakt-msg")
    assert "kontakt-msg--bot" in messages[0].get_attribute("class")
    assert f"Vigtig besked: {FLOOD}" in messages[0].text
    assert QUESTION in messages[1].text  # the citizen's message comes after the one the chat opened with
    _shot(browser, "widget-crisis.png")

    off = httpx.delete(base + "/agent/api/supervisor/crisis", headers=auth)
    assert off.status_code == 200, off.text
    w.find(".kontakt-close").click()
    w.find("#kontakt-launcher").click()  # opening the panel asks again
    w.wait.until(lambda d: w.js("r.getElementById('kontakt-crisis').hidden;"))
