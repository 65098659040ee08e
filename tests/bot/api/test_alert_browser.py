"""End to end: a supervisor logged in to the console in headless Chromium sees the red 112
banner once a citizen's chat message describing acute danger has been answered with 112 advice.
The real app (`connectors.app.build_app`) under uvicorn; the chat message is posted over HTTP.

Fails (does not skip) when Chromium or chromedriver is missing: install `chromium chromium-driver`."""

from __future__ import annotations

import json
import urllib.request

import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from connectors.app import build_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "alert-browser-pepper-0123456789abcdefghijklmno"
WAIT = 30


def _post_chat(base: str, text: str) -> None:
    body = json.dumps({"tenant": "kobenhavn", "text": text}).encode()
    req = urllib.request.Request(base + "/chat/api/messages", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=WAIT) as r:
        assert r.status == 200


def test_alert_banner_shows_a_112_referral_to_the_supervisor(browser, serve, settings, understanding, tmp_path,
                                                            monkeypatch):  # fmt: skip
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("KONTAKT_RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'alert.sqlite3'}",
                                        "agent_token_pepper": SecretStr(PEPPER)})  # fmt: skip
    app = build_app(local, understanding=understanding)
    base = serve(app)
    engine = app.state.engine
    token = create_agent(engine, token_pepper(local), tenant_id="kobenhavn", agent_id="sara", name="Sara",
                         role="supervisor")  # fmt: skip

    browser.get(base + "/agent")
    wait = WebDriverWait(browser, WAIT)
    find = browser.find_element
    find(By.ID, "token").send_keys(token, Keys.ENTER)
    wait.until(lambda d: find(By.ID, "me-name").text == "Sara")
    assert not find(By.ID, "alerts").is_displayed()

    _post_chat(base, "Min mand er faldet om og trækker ikke vejret, hans cpr er 010190-1234")
    wait.until(lambda d: find(By.ID, "alerts").is_displayed())
    banner = find(By.ID, "alerts")
    assert "Akut: borger henvist til 112" in banner.text
    (item,) = banner.find_elements(By.CSS_SELECTOR, "#alerts-list li")
    assert "Chat" in item.text and "trækker ikke vejret" in item.text
    assert "010190-1234" not in item.text and "[CPR]" in item.text
    assert item.find_element(By.CSS_SELECTOR, ".when").text.strip() not in ("", "–")
    assert banner.value_of_css_property("border-top-color") == "rgba(164, 38, 44, 1)"  # the console's warning red

    find(By.ID, "alerts-seen").click()
    wait.until(lambda d: not find(By.ID, "alerts").is_displayed())
