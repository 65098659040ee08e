"""The supervisors' crisis page (/agent/crisis) in headless Chromium against the real app: log in,
switch crisis mode on with a crisis queue, let agents with level >= 5 join it, switch it off
again; an agent's token is refused. Screenshot: test-artifacts/crisis-page.png."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.console import router as console_router
from bot.api.crisis import notice_router
from bot.api.crisis import router as crisis_router
from tests.bot.conftest import MONDAY_10, FakeClock
from tests.browser import ARTIFACTS, WAIT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "test-pepper-crisis-page-0123456789abcdefghijklmnopq"
FLOOD = "Stormflod i aften. Sandsække udleveres ved Nordhavn Station fra kl. 16."


def test_supervisor_switches_crisis_mode_on_lets_agents_join_and_switches_it_off(
    browser, serve, settings, understanding, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}",
                                        "agent_token_pepper": SecretStr(PEPPER)})  # fmt: skip
    app = create_app(local, routers=[console_router, crisis_router, notice_router], understanding=understanding)
    base = serve(app)
    engine = app.state.engine
    engine.clock = FakeClock(MONDAY_10)
    pepper = token_pepper(local)
    sara = create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="sara", name="Sara", role="supervisor")
    anne = create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                        skills={"borgerservice_basis": 7})  # fmt: skip
    create_agent(engine, pepper, tenant_id="kobenhavn", agent_id="bo", name="Bo", skills={"borgerservice_basis": 3})
    wait = WebDriverWait(browser, WAIT)
    find = browser.find_element

    def log_in(token: str) -> None:
        browser.get(base + "/agent/crisis")
        wait.until(lambda d: find(By.ID, "login").is_displayed())
        find(By.ID, "token").send_keys(token)
        find(By.CSS_SELECTOR, "#login-form button").click()

    log_in(anne)
    wait.until(lambda d: "Kun supervisorer" in find(By.ID, "login-error").text)

    browser.execute_script("sessionStorage.clear();")
    log_in(sara)
    wait.until(lambda d: find(By.ID, "app").is_displayed())
    assert find(By.ID, "state-word").text == "slået fra"
    find(By.ID, "message-da").send_keys(FLOOD)
    Select(find(By.ID, "crisis-queue")).select_by_value("krise")
    find(By.ID, "keywords").send_keys("sandsæk, oversvøm")
    find(By.ID, "switch-on").click()
    wait.until(lambda d: find(By.ID, "state-word").text == "slået TIL")
    notice = httpx.get(base + "/chat/api/crisis", params={"tenant": "kobenhavn"}).json()
    assert notice["active"] and notice["message_da"] == FLOOD

    Select(find(By.ID, "join-level")).select_by_value("5")
    Select(find(By.ID, "join-queue")).select_by_value("borgerservice_basis")
    find(By.ID, "join").click()
    wait.until(lambda d: "1 medarbejder er gået med i krisekøen." in find(By.ID, "status").text)
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#joined li")] == ["anne: niveau 7 (ny i køen)"]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "crisis-page.png"))

    find(By.ID, "switch-off").click()
    wait.until(lambda d: d.switch_to.alert).accept()
    wait.until(lambda d: find(By.ID, "state-word").text == "slået fra")
    assert "sat tilbage for 1 medarbejder" in find(By.ID, "status").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#joined li")
    assert httpx.get(base + "/chat/api/crisis", params={"tenant": "kobenhavn"}).json()["active"] is False
