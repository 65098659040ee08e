"""End to end: the real app under uvicorn on loopback, the demo page in headless Chromium.

Fails (does not skip) when Chromium or chromedriver is missing: install `chromium chromium-driver`.
Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.api import create_app
from connectors.webchat import router
from tests.connectors.webchat.bot_only import bot_only_chat, provide_chat

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
QUESTION = "Hvornår kommer skraldebilen?"
WAIT = 30


# -- page helpers ----------------------------------------------------------------------------------
class Widget:
    def __init__(self, drv) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.drv = drv
        self.wait = WebDriverWait(drv, WAIT)

    def root(self):
        from selenium.webdriver.common.by import By

        return self.drv.find_element(By.ID, "kontakt-chat").shadow_root

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self.root().find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        from selenium.webdriver.common.by import By

        return self.root().find_elements(By.CSS_SELECTOR, css)

    def js(self, expr: str):
        return self.drv.execute_script(
            "var h = document.getElementById('kontakt-chat'); var r = h && h.shadowRoot; return " + expr)

    def focused_id(self) -> str | None:
        return self.js("r && r.activeElement ? (r.activeElement.id || r.activeElement.className) : null;")

    def log_text(self) -> str:
        return self.js("r ? r.getElementById('kontakt-log').textContent : '';") or ""

    def wait_for_launcher(self) -> None:
        self.wait.until(lambda d: self.js("!!(r && r.getElementById('kontakt-launcher'));"))
        # styles come from widget.css inside the shadow root
        self.wait.until(lambda d: self.js(
            "getComputedStyle(r.getElementById('kontakt-launcher')).position === 'fixed';"))

    def tab_to(self, element_id: str, limit: int = 40) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        for _ in range(limit):
            if self.focused_id() == element_id:
                return
            ActionChains(self.drv).send_keys(Keys.TAB).perform()
        pytest.fail(f"#{element_id} cannot be reached with Tab")

    def keys(self, *keys) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.drv).send_keys(*keys).perform()

    def wait_log(self, predicate: Callable[[str], bool], what: str) -> str:
        try:
            self.wait.until(lambda d: predicate(self.log_text()))
        except Exception:
            pytest.fail(f"timed out waiting for {what}; log shows: {self.log_text()[-600:]!r}")
        return self.log_text()


class RefuseWebSockets:
    """ASGI wrapper that refuses every WebSocket handshake (403), like a proxy that blocks upgrades."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


def _shot(drv, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    drv.save_screenshot(str(path))
    return path


# -- tests -----------------------------------------------------------------------------------------
def test_widget_answers_survives_reload_and_hands_off(browser, serve, settings, understanding):
    from selenium.webdriver.common.keys import Keys

    base = serve(create_app(settings, routers=[router], understanding=understanding, background=[bot_only_chat]))
    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    assert w.find("#kontakt-launcher").text == "Skriv med os"

    # Open with the keyboard; focus moves into the panel.
    w.tab_to("kontakt-launcher")
    w.keys(Keys.ENTER)
    w.wait.until(lambda d: w.focused_id() == "kontakt-input")
    assert w.js("r.getElementById('kontakt-launcher').getAttribute('aria-expanded');") == "true"
    assert w.js("r.getElementById('kontakt-launcher').hidden;") is True
    log = w.find("#kontakt-log")
    assert (log.get_attribute("role"), log.get_attribute("aria-live")) == ("log", "polite")

    # Esc closes and returns focus to the launcher; Enter opens again.
    w.keys(Keys.ESCAPE)
    w.wait.until(lambda d: w.focused_id() == "kontakt-launcher")
    assert w.find("#kontakt-launcher").get_attribute("aria-expanded") == "false"
    w.keys(Keys.ENTER)
    w.wait.until(lambda d: w.focused_id() == "kontakt-input")

    w.keys(QUESTION, Keys.ENTER)
    text = w.wait_log(lambda t: "Kilde:" in t, "the bot's answer with its source")
    assert QUESTION in text and "senest gennemgået" in text
    assert w.js("h.getAttribute('data-transport');") == "ws"
    assert w.focused_id() == "kontakt-input"
    cite = w.find(".kontakt-msg--bot .kontakt-cite")
    assert cite.find_element("css selector", "a").get_attribute("href").startswith("https://")
    _shot(browser, "widget-answer.png")

    # Reload: the conversation is still there (session in localStorage, history re-rendered).
    browser.refresh()
    w.wait_for_launcher()
    text = w.wait_log(lambda t: QUESTION in t and "Kilde:" in t, "the conversation after a reload")
    assert text.count(QUESTION) == 1  # history and the socket's catch-up do not duplicate
    assert not w.find("#kontakt-panel").get_attribute("hidden")

    # "Tal med en medarbejder" shows the title as the citizen's message and the handoff reply.
    w.find(".kontakt-actions [data-action='human']").click()
    text = w.wait_log(lambda t: "videre til" in t, "the handoff message")
    bubbles = w.find_all(".kontakt-msg")
    assert "Tal med en medarbejder" in bubbles[-2].text
    assert "kontakt-msg--user" in bubbles[-2].get_attribute("class")
    assert "medarbejder" in bubbles[-1].text
    _shot(browser, "widget-handoff.png")


def test_markup_from_the_citizen_is_shown_as_text(browser, serve, settings, understanding):
    from selenium.webdriver.common.keys import Keys

    base = serve(create_app(settings, routers=[router], understanding=understanding, background=[bot_only_chat]))
    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()
    evil = '<img src=x onerror="window.__pwned=1"><b>fed</b>'
    w.find("#kontakt-input").send_keys(evil, Keys.ENTER)
    w.wait_log(lambda t: "Kommunens assistent" in t, "a bot reply")
    assert evil in w.log_text()
    assert w.find_all(".kontakt-log img") == [] and w.find_all(".kontakt-log b") == []
    assert browser.execute_script("return window.__pwned === undefined;")


def test_http_fallback_when_websockets_are_blocked(browser, serve, settings, understanding):
    from selenium.webdriver.common.keys import Keys

    app = create_app(settings, routers=[router], understanding=understanding, background=[bot_only_chat])
    base = serve(RefuseWebSockets(app))
    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()
    w.find("#kontakt-input").send_keys(QUESTION, Keys.ENTER)
    w.wait_log(lambda t: "Kilde:" in t, "the answer over HTTP")
    assert w.js("h.getAttribute('data-transport');") == "http"
    browser.refresh()
    w.wait_for_launcher()
    w.wait_log(lambda t: QUESTION in t and "Kilde:" in t, "the conversation after a reload")


def test_queue_agent_out_of_hours_and_feedback(browser, serve, settings, understanding, scripted_backend):
    from selenium.webdriver.common.keys import Keys

    app = create_app(settings, routers=[router], understanding=understanding,
                     background=[provide_chat(scripted_backend)])  # fmt: skip
    base = serve(app)
    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()

    w.find(".kontakt-actions [data-action='human']").click()
    text = w.wait_log(lambda t: "Anne" in t, "the agent's reply")
    assert "Du er nummer 2 i køen." in text
    agent = w.find(".kontakt-msg--agent")
    assert "Anne, medarbejder" in agent.text

    w.find("#kontakt-input").send_keys("Har I lukket nu?", Keys.ENTER)
    text = w.wait_log(lambda t: "Vi åbner igen mandag kl. 8.00." in t, "the out-of-hours message")
    choices = [b.text for b in w.find_all(".kontakt-msg--system .kontakt-choice")]
    assert choices == ["Læg en besked", "Bliv ringet op"]
    w.find_all(".kontakt-msg--system .kontakt-choice")[1].click()
    assert w.focused_id().endswith("-phone")
    w.keys("1234", Keys.ENTER)  # too short: the form says so and keeps focus
    w.wait.until(lambda d: "8 cifre" in w.find(".kontakt-contact .kontakt-error").text)
    phone = w.find(".kontakt-contact input[type=tel]")
    phone.clear()
    phone.send_keys("12 34 56 78", Keys.ENTER)
    w.wait_log(lambda t: "vi ringer dig op" in t, "the call-back confirmation")
    assert scripted_backend.requests[-1][1].phone == "12345678"
    _shot(browser, "widget-queue-closed.png")

    # Afslut samtale -> three 1-10 questions and a comment; all by keyboard-reachable controls.
    w.find(".kontakt-actions [data-action='end']").click()
    w.wait.until(lambda d: w.focused_id() == "kontakt-feedback-title")
    legends = [e.text for e in w.find_all(".kontakt-scale legend")]
    assert legends == ["Hvor tilfreds er du samlet set med samtalen?",
                       "I hvor høj grad fik du afklaret det, du henvendte dig om?",
                       "I hvor høj grad synes du, at sproget i svarene var let at forstå?"]
    assert len(w.find_all(".kontakt-scale input[type=radio]")) == 30
    for qid, score in (("tilfredshed", 9), ("afklaring", 7), ("sprog", 10)):
        w.find(f"#kontakt-fb-{qid}-{score}").click()  # the (transparent) radio covers its label
    w.find("#kontakt-fb-comment").send_keys("Hurtigt svar")
    _shot(browser, "widget-feedback.png")
    w.find(".kontakt-feedback-form button[type=submit]").click()
    w.wait.until(lambda d: "Tak for din feedback." in w.find(".kontakt-feedback").text)
    (fb,) = scripted_backend.feedback.values()
    assert fb.scores == {"tilfredshed": 9, "afklaring": 7, "sprog": 10} and fb.comment == "Hurtigt svar"
    stored = browser.execute_script("return Object.keys(localStorage).filter(k => k.endsWith(':session'));")
    assert stored == []  # the ended conversation is not resumed on the next visit


def test_an_emergency_answer_is_an_alert_with_112_one_tap_away(browser, serve, settings, understanding):
    from selenium.webdriver.common.keys import Keys

    base = serve(create_app(settings, routers=[router], understanding=understanding, background=[bot_only_chat]))
    browser.get(base + "/chat/demo")
    w = Widget(browser)
    w.wait_for_launcher()
    w.find("#kontakt-launcher").click()
    w.find("#kontakt-input").send_keys("Min far er faldet om og trækker ikke vejret", Keys.ENTER)
    w.wait.until(lambda d: w.find_all(".kontakt-msg--emergency"))
    alert = w.find(".kontakt-msg--emergency")
    assert alert.get_attribute("role") == "alert"
    link = w.find(".kontakt-msg--emergency a.kontakt-112")
    assert link.get_attribute("href") == "tel:112" and link.text == "Ring 112"
    assert "112" in alert.text and "fået besked" in alert.text
    _shot(browser, "widget-emergency.png")
