"""End to end: a supervisor opens "Bemanding" in the console (headless Chromium against the real
app under uvicorn) for a day with generated history, and sees the staffing table and the chart.

Fails (does not skip) when Chromium or chromedriver is missing. The screenshot is saved in the
test's tmp dir and copied to /tmp/bemanding.png for a look."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.agents import router as agents_router
from bot.api.capacity import router as capacity_router
from bot.api.console import router as console_router
from bot.api.supervisor import router as supervisor_router
from bot.capacity.erlang import ServiceTarget, agents_for_target
from bot.routing.skills import DEFAULT_POLICY
from bot.storage import Database
from bot.storage.models import QueueRow
from tests.bot.api.test_capacity_api import ContractOnly
from tests.bot.capacity.conftest import TENANT, generate_month

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "capacity-browser-pepper-0123456789abcdefghijk"
WAIT = 30
SHOT = Path("/tmp/bemanding.png")
# The generated queues outside the topic contract get names as a municipality would give them.
NAMES = {"chat_basis": "Chat – generel borgerservice", "post_basis": "Digital Post – generel borgerservice"}

PIXELS_DRAWN = """
const c = document.getElementById('st-chart');
const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
return n;
"""


@pytest.fixture
def app_url(serve, settings, contract, migrated_sqlite, tmp_path, monkeypatch):
    path = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    seed = Database(url)
    try:
        generate_month(seed)
        with seed.write() as s:
            for queue_id, name in NAMES.items():
                s.execute(update(QueueRow).where(QueueRow.id == queue_id).values(name=name))
    finally:
        seed.dispose()
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": url, "agent_token_pepper": SecretStr(PEPPER)})
    routers = [agents_router, supervisor_router, capacity_router, console_router]
    app = create_app(local, routers=routers, understanding=ContractOnly(contract))
    base = serve(app)
    token = create_agent(app.state.engine, token_pepper(local), tenant_id=TENANT, agent_id="sara", name="Sara",
                         role="supervisor")  # fmt: skip
    agent_token = create_agent(app.state.engine, token_pepper(local), tenant_id=TENANT, agent_id="anne",
                               name="Anne", role="agent")  # fmt: skip
    return base, token, agent_token


def login(browser, base: str, token: str, name: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base + "/agent")
    wait = WebDriverWait(browser, WAIT)
    browser.find_element(By.ID, "token").send_keys(token, Keys.ENTER)
    wait.until(lambda d: d.find_element(By.ID, "me-name").text == name)
    return wait


def test_bemanding_table_and_chart_for_a_day_with_history(browser, app_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, token, _ = app_url
    wait = login(browser, base, token, "Sara")
    find = browser.find_element
    tab = find(By.ID, "tab-staffing")
    assert tab.is_displayed() and tab.text == "Bemanding"
    tab.click()
    wait.until(lambda d: find(By.ID, "staffing").is_displayed())
    assert not find(By.ID, "work").is_displayed()
    assert find(By.ID, "st-date").get_attribute("value")  # a default day (tomorrow) is filled in
    wait.until(lambda d: len(Select(find(By.ID, "st-queue")).options) > 1)
    options = [o.text for o in Select(find(By.ID, "st-queue")).options]
    assert options[0] == "Alle køer" and NAMES["chat_basis"] in options
    assert not any("_" in o for o in options)  # names, never queue ids

    # Monday 7 December 2026, every queue, the default goal and 30 % shrinkage.
    browser.execute_script("document.getElementById('st-date').value = '2026-12-07';")
    find(By.CSS_SELECTOR, "#st-form button[type=submit]").click()
    rows = "#st-table tbody[data-queue='borgerservice_basis'] tr[data-slot]"
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 20)
    wait.until(lambda d: find(By.ID, "st-chart").get_attribute("data-drawn"))
    assert browser.execute_script(PIXELS_DRAWN) > 1000
    assert (
        browser.execute_script(
            "return Chart.getChart(document.getElementById('st-chart')).data.labels.length"
        )
        == 20
    )

    ten = find(By.CSS_SELECTOR, "#st-table tbody[data-queue='borgerservice_basis'] tr[data-slot='10:00']")
    cells = [c.text for c in ten.find_elements(By.CSS_SELECTOR, "th, td")]
    acw = DEFAULT_POLICY.acw_seconds
    needed = agents_for_target(2 * 21, 270 + acw, ServiceTarget(0.8, 20))
    assert cells[:3] == ["10:00–10:30", "21", "5 min."]  # 270 s handling + 30 s after-contact work
    assert cells[3:5] == [str(needed.agents), str(math.ceil(needed.agents / 0.7))]
    assert cells[5].endswith(" %")
    header = find(By.CSS_SELECTOR, "#st-table tbody[data-queue='borgerservice_basis'] tr.group th").text
    assert header.startswith("Basis – generel borgerservice · Telefon · ")
    table = find(By.ID, "st-table").text
    assert "Alle køer i alt" in table and "chat_basis" not in table and "post_basis" not in table
    assert "Forventet serviceniveau (mål: 80 % inden for 20 sek.)" in table
    basis = find(By.ID, "st-basis").text
    assert basis.startswith(
        "Prognose for mandag den 7. december 2026 ud fra 3 mandage: 30. november, 16. november og 9. november."
    )
    assert "23. november havde ingen henvendelser og er ikke talt med." in basis

    browser.execute_script("window.scrollTo(0, 0);")
    shot = tmp_path / "bemanding.png"
    browser.save_screenshot(str(shot))
    shutil.copyfile(shot, SHOT)
    browser.execute_script("document.getElementById('st-table-title').scrollIntoView();")
    browser.save_screenshot(str(tmp_path / "bemanding-tabel.png"))
    shutil.copyfile(tmp_path / "bemanding-tabel.png", SHOT.with_name("bemanding-tabel.png"))

    # One queue: the table and the chart follow.
    drawn = find(By.ID, "st-chart").get_attribute("data-drawn")
    Select(find(By.ID, "st-queue")).select_by_visible_text(NAMES["chat_basis"])
    find(By.CSS_SELECTOR, "#st-form button[type=submit]").click()
    wait.until(lambda d: [b.get_attribute("data-queue") for b in d.find_elements(By.CSS_SELECTOR, "#st-table tbody")]
               == ["chat_basis"])  # fmt: skip
    wait.until(lambda d: find(By.ID, "st-chart").get_attribute("data-drawn") not in (None, drawn))
    assert "Chat: en medarbejder har op til 3 chats ad gangen." in find(By.ID, "st-notes").text

    # A value out of range is stopped in the page, in Danish, on the field.
    find(By.ID, "st-shrinkage").clear()
    find(By.ID, "st-shrinkage").send_keys("95")
    find(By.CSS_SELECTOR, "#st-form button[type=submit]").click()
    wait.until(lambda d: "Fravær skal være" in find(By.ID, "st-error").text)
    assert find(By.ID, "st-shrinkage").get_attribute("aria-invalid") == "true"

    # What if: the concept's peak hour.
    find(By.CSS_SELECTOR, "#wi-form button[type=submit]").click()
    wait.until(lambda d: "Der skal bruges 46 medarbejdere" in find(By.ID, "wi-result").text)


def test_bemanding_a_day_without_history_says_so(browser, app_url):
    from selenium.webdriver.common.by import By

    base, token, _ = app_url
    wait = login(browser, base, token, "Sara")
    browser.find_element(By.ID, "tab-staffing").click()
    browser.execute_script("document.getElementById('st-date').value = '2026-11-02';")
    browser.find_element(By.CSS_SELECTOR, "#st-form button[type=submit]").click()
    empty = wait.until(lambda d: d.find_element(By.ID, "st-empty") if d.find_element(By.ID, "st-empty").is_displayed()
                       else None)  # fmt: skip
    assert empty.text.startswith(
        "Der er ingen henvendelser i historikken for de 4 mandage før 2. november 2026"
    )
    assert not browser.find_element(By.ID, "st-result").is_displayed()


def test_bemanding_is_not_offered_to_agents(browser, app_url):
    from selenium.webdriver.common.by import By

    base, _, agent_token = app_url
    login(browser, base, agent_token, "Anne")
    assert not browser.find_element(By.ID, "tab-staffing").is_displayed()
