"""End to end: the agent console in headless Chromium against the real app under uvicorn.

Fails (does not skip) when Chromium or chromedriver is missing: install `chromium chromium-driver`.
The screenshot goes to test-artifacts/console.png (gitignored)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.console import router as console_router
from bot.api.supervisor import router as supervisor_router

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
PEPPER = "browser-test-pepper-0123456789abcdefghijklmnop"
EVIL = '<img src=x onerror="window.__pwned=1">'
WAIT = 30


def test_console_login_take_reply_close(browser, serve, settings, understanding, tmp_path, monkeypatch):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'console.sqlite3'}", "agent_token_pepper": SecretStr(PEPPER)})
    app = create_app(local, routers=[agents_router, supervisor_router, console_router], understanding=understanding)
    base = serve(app)
    engine = app.state.engine
    token = create_agent(engine, token_pepper(local), tenant_id="kobenhavn", agent_id="anne", name="Anne",
                         role="supervisor", skills={"borgerservice_basis": 7})  # fmt: skip
    contact = engine.open_contact("kobenhavn", "chat", "browser-1", name="Jens Hansen")
    engine.record_inbound("kobenhavn", contact.id, "Jeg har spørgsmål om boligstøtte til min lejlighed og mangler svar på ansøgningen fra sidste måned."
                          " Mit cpr er 010190-1234")
    engine.record_inbound("kobenhavn", contact.id, EVIL)
    engine.request_handoff("kobenhavn", contact.id, None, "asked_for_human")

    browser.get(base + "/agent")
    wait = WebDriverWait(browser, WAIT)
    find = browser.find_element
    assert browser.title.startswith("Medarbejderkonsol")
    assert browser.switch_to.active_element.get_attribute("id") == "token"  # focus starts in the login field

    find(By.ID, "token").send_keys("kontakt_wrong", Keys.ENTER)
    wait.until(lambda d: "ikke gyldig" in find(By.ID, "login-error").text)
    find(By.ID, "token").send_keys(token, Keys.ENTER)
    wait.until(lambda d: find(By.ID, "me-name").text == "Anne")
    assert browser.execute_script("return sessionStorage.getItem('kontakt-agent-token');") == token

    # The queue shows the waiting contact (live poll).
    wait.until(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue] .waiting")] == ["1"])
    assert find(By.CSS_SELECTOR, "#queues tr[data-queue] th").text == "Basis – generel borgerservice"

    # "n" takes the next contact from the keyboard; the packet opens.
    browser.execute_script("document.activeElement.blur();")
    ActionChains(browser).send_keys("n").perform()
    wait.until(lambda d: find(By.ID, "contact-body").is_displayed())
    assert "boligstøtte" in find(By.ID, "p-summary").text
    assert find(By.ID, "p-reason").text == "Borgeren bad om en medarbejder"
    assert "Jens Hansen" in find(By.ID, "p-identity").text
    transcript = find(By.ID, "transcript").text
    assert "010190-1234" not in transcript and "[CPR]" in transcript  # not logged in with MitID
    assert EVIL in transcript  # citizen markup is shown as text, never run
    assert find(By.CSS_SELECTOR, "#transcript").find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.__pwned === undefined;")

    # Reply with Ctrl+Enter from the reply box ("s" focuses it).
    ActionChains(browser).send_keys("s").perform()
    wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "reply")
    find(By.ID, "reply").send_keys("Jeg hjælper dig gerne med boligstøtten.")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    wait.until(lambda d: "Jeg hjælper dig gerne" in find(By.ID, "transcript").text)
    assert [m.text for m in engine.messages_since("kobenhavn", contact.id)][-1] == "Jeg hjælper dig gerne med boligstøtten."
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console.png"))

    # Close with a Danish outcome label.
    Select(find(By.ID, "outcome")).select_by_visible_text("Straksafklaret")
    find(By.CSS_SELECTOR, "#close-form button[type=submit]").click()
    wait.until(lambda d: "afsluttet" in find(By.ID, "status").text)
    assert engine.contact("kobenhavn", contact.id).outcome == "straksafklaret"
    assert browser.switch_to.active_element.get_attribute("id") == "next"

    # Supervisor view: live queues, agent states and the editable skills table.
    ActionChains(browser).send_keys("o").perform()
    wait.until(lambda d: find(By.ID, "supervisor").is_displayed())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sv-agents tr[data-agent='anne']"))
    cell = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#sv-skills tr[data-agent='anne'] input[data-queue='esb']"))
    cell.clear()
    cell.send_keys("4")
    find(By.CSS_SELECTOR, "#sv-skills tr[data-agent='anne'] button").click()
    wait.until(lambda d: "gemt" in find(By.ID, "status").text)
    assert engine.agent_state("kobenhavn", "anne").skills["esb"] == 4
    browser.save_screenshot(str(ARTIFACTS / "console-supervisor.png"))
