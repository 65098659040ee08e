"""End to end: live offers in the agent console (headless Chromium against the real app under
uvicorn, built by connectors.app.build_app with its push-routing loop).

A citizen asks for a person in the web chat over the real HTTP API; nobody pulls. The offer
appears in the logged-in agent's console within 2 s with a cue and a countdown, is accepted by
clicking and the contact opens. Then a declined offer and an expired one each go to the next
agent. Screenshot: test-artifacts/console-offer.png (gitignored)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.config import RateLimitSettings
from bot.engine import ConversationEngine
from bot.routing.skills import AgentState
from bot.storage.models import ContactState
from connectors.app import build_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PEPPER = "offers-browser-pepper-0123456789abcdefghijklmnop"
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen: the queues are open
LIVE = 2  # seconds: an offer must reach the console this fast once the contact is queued
WAIT = 30  # seconds: everything else
ASK_FOR_PERSON = "Jeg vil gerne tale med en medarbejder"


def running_from(start: datetime) -> Callable[[], datetime]:
    """The engine's clock: real seconds pass (offers expire), counted from a Monday morning."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def _queue_chat(http: httpx.Client) -> str:
    r = http.post("/chat/api/messages", json={"tenant": "kobenhavn", "text": ASK_FOR_PERSON})
    assert r.status_code == 200, r.text
    return r.json()["session"]


def _contact(engine: ConversationEngine, session: str) -> str:
    return engine.open_contact("kobenhavn", "chat", session).id


def _offered_to(engine: ConversationEngine, contact_id: str) -> str | None:
    return next((o.agent_id for o in engine.offers("kobenhavn") if o.contact_id == contact_id), None)


def test_offers_arrive_live_and_are_accepted_declined_or_left_to_expire(
    serve, browser, settings, understanding, tmp_path
):  # serve before browser: the browser closes its stream first, so the server stops at once
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'offers.sqlite3'}",
                                        "agent_token_pepper": SecretStr(PEPPER)})  # fmt: skip
    app = build_app(local, understanding=understanding, rate_limits=RateLimitSettings(enabled=False))
    base = serve(app)
    engine: ConversationEngine = app.state.engine
    engine.clock = running_from(MONDAY_10)
    token = create_agent(engine, token_pepper(local), tenant_id="kobenhavn", agent_id="anne", name="Anne",
                         skills={"borgerservice_basis": 7})  # fmt: skip
    create_agent(engine, token_pepper(local), tenant_id="kobenhavn", agent_id="bo", name="Bo",
                 skills={"borgerservice_basis": 3})  # fmt: skip
    engine.set_agent_state("kobenhavn", "bo", AgentState.AVAILABLE)

    browser.get(base + "/agent")
    wait, live = WebDriverWait(browser, WAIT), WebDriverWait(browser, LIVE, poll_frequency=0.05)
    find = browser.find_element
    find(By.ID, "token").send_keys(token, Keys.ENTER)  # a key press: the page may make sound from now on
    wait.until(lambda d: find(By.ID, "me-name").text == "Anne")
    find(By.CSS_SELECTOR, ".state-buttons button[data-state='available']").click()
    wait.until(lambda d: find(By.ID, "me-state").text == "Klar")
    wait.until(lambda d: find(By.ID, "offers-section").get_attribute("data-live") == "true")

    with httpx.Client(base_url=base, timeout=WAIT) as http:
        # 1. A citizen asks for a person; nobody pulls; the offer rings in Anne's console.
        first = _contact(engine, _queue_chat(http))
        offer = live.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]"))[0]
        assert _offered_to(engine, first) == "anne"
        assert "Chat" in offer.text and "Svar inden" in offer.find_element(By.CLASS_NAME, "countdown").text
        assert find(By.ID, "offers").get_attribute("data-cues") == "1"  # the cue (sound and highlight)
        assert "ringing" in find(By.ID, "offers-section").get_attribute("class")
        assert "Ny henvendelse tilbudt" in find(By.ID, "status").text
        assert browser.title.startswith("(1) Nyt tilbud")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "console-offer.png"))
        offer.find_element(By.CSS_SELECTOR, "button.accept").click()
        wait.until(lambda d: find(By.ID, "contact-body").is_displayed())
        assert find(By.ID, "p-reason").text == "Borgeren bad om en medarbejder"
        assert engine.contact("kobenhavn", first).state is ContactState.ASSIGNED
        assert browser.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]") == []

        # 2. Anne declines the next one: it goes to Bo, and Anne is paused.
        second = _contact(engine, _queue_chat(http))
        offer = live.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]"))[0]
        offer.find_element(By.CSS_SELECTOR, "button.decline").click()
        wait.until(lambda d: _offered_to(engine, second) == "bo")
        wait.until(lambda d: find(By.ID, "me-state").text == "Pause")
        assert browser.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]") == []

        # 3. Anne is ready again but lets the next offer ring out: it goes to Bo.
        find(By.CSS_SELECTOR, ".state-buttons button[data-state='available']").click()
        wait.until(lambda d: engine.agent_state("kobenhavn", "anne").state is not AgentState.PAUSED)
        engine.offer_timeout = timedelta(seconds=3)
        third = _contact(engine, _queue_chat(http))
        live.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]"))
        assert _offered_to(engine, third) == "anne"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offers li[data-offer]") == [])
        wait.until(lambda d: _offered_to(engine, third) == "bo")
        wait.until(lambda d: find(By.ID, "me-state").text == "Pause")
        assert "udløb" in find(By.ID, "status").text or "Pause" in find(By.ID, "me-state").text
        assert find(By.ID, "offers").get_attribute("data-cues") == "3"
    script_errors = [e["message"] for e in browser.get_log("browser") if e.get("source") == "javascript"]
    assert script_errors == []
