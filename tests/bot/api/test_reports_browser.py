"""End to end in headless Chromium against the real app under uvicorn: the wallboard (tiles red
past their limits, updating without a reload) and the reports page (charts drawn with the
vendored Chart.js; a click on a bar lists the contacts behind it), on the hand-built day of
`stats_log` with the engine's clock fixed at 12:00 that day. Screenshots go to test-artifacts/.

Fails (does not skip) when Chromium or chromedriver is missing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.capacity import router as capacity_router
from bot.api.wallboard import stats_router
from bot.storage import Database
from bot.storage.models import AgentState, Contact, ContactState, Event, EventKind
from tests.bot.api.stats_log import BASIS, BOLIG, T0, TENANT, write_log
from tests.bot.api.test_capacity_api import ContractOnly
from tests.bot.conftest import FakeClock
from tests.browser import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "reports-browser-pepper-0123456789abcdefghijk"
WAIT = 30
NOW = T0 + timedelta(hours=2)  # 12:00 Copenhagen

PIXELS_DRAWN = """
const c = document.getElementById(arguments[0]);
const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
return n;
"""

BAR_CENTRE = """
const chart = Chart.getChart(document.getElementById(arguments[0]));
const bar = chart.getDatasetMeta(0).data[arguments[1]];
const box = chart.canvas.getBoundingClientRect();
return [bar.x - box.width / 2, (bar.y + bar.base) / 2 - box.height / 2, chart.data.labels[arguments[1]]];
"""


def queue_now(db: Database, cid: str, queue: str, waited: float) -> None:
    """A contact waiting in `queue` for `waited` seconds at NOW."""
    since = NOW - timedelta(seconds=waited)
    with db.write() as s:
        s.add(Contact(id=cid, tenant_id=TENANT, channel="voice", external_ref=cid, state=ContactState.QUEUED,
                      queue_id=queue, created_at=since, updated_at=since, enqueued_at=since, offer_attempts=0,
                      authenticated=False))  # fmt: skip
        s.flush()
        s.add(Event(tenant_id=TENANT, contact_id=cid, kind=EventKind.QUEUED, at=since, data={"queue_id": queue}))


@pytest.fixture
def site(serve, settings, contract, migrated_sqlite, tmp_path, monkeypatch):
    import shutil

    path = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": f"sqlite:///{path}", "agent_token_pepper": SecretStr(PEPPER),
                                        "kpi_file": tmp_path / "none.yaml"})  # fmt: skip
    app = create_app(local, routers=[capacity_router, stats_router], understanding=ContractOnly(contract))
    base = serve(app)
    engine = app.state.engine
    engine.clock = FakeClock(NOW)
    db = app.state.db
    write_log(db)
    queue_now(db, "waiting-long", BASIS, 300)  # past the 120 s limit: red
    pepper = token_pepper(local)
    token = create_agent(engine, pepper, tenant_id=TENANT, agent_id="sara", name="Sara", role="supervisor")
    create_agent(engine, pepper, tenant_id=TENANT, agent_id="anne", name="Anne", role="agent",
                 skills={BASIS: 5, BOLIG: 3})  # fmt: skip
    engine.set_agent_state(TENANT, "anne", AgentState.AVAILABLE)
    return base, token, db


def log_in(browser, base: str, path: str, token: str):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(base + path)
    # The wallboard redraws its tiles at every poll: an element found just before a redraw is stale.
    wait = WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.find_element(By.ID, "token").is_displayed())
    browser.find_element(By.ID, "token").send_keys(token, Keys.ENTER)
    return wait


def test_wallboard_turns_red_and_updates_live(browser, site):
    from selenium.webdriver.common.by import By

    base, token, db = site
    wait = log_in(browser, base, "/agent/wallboard", token)
    basis = f"#queues article[data-queue='{BASIS}']"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, basis))
    tile = browser.find_element(By.CSS_SELECTOR, basis)
    assert "alarm" in tile.get_attribute("class")
    figures = {f.get_attribute("data-figure"): f for f in tile.find_elements(By.CSS_SELECTOR, ".figure")}
    assert "alarm" in figures["longest_wait"].get_attribute("class")
    assert figures["longest_wait"].text.endswith("5:00 min.")
    assert "alarm" in figures["service_level"].get_attribute("class")  # 0 % today (E late, C abandoned)
    assert figures["service_level"].text.endswith("0 % / 80 %")
    assert "alarm" not in figures["waiting"].get_attribute("class")  # 1 waiting, limit 10
    assert "1 ledige" in tile.find_element(By.CSS_SELECTOR, ".agents").text
    assert "Københavns Kommune" in browser.find_element(By.ID, "tenant-name").text
    assert "alarm" in browser.find_element(By.ID, "total-longest").get_attribute("class")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "wallboard.png"))

    # A new caller in another queue shows up at the next poll, without reloading the page.
    bolig = f"#queues article[data-queue='{BOLIG}'] [data-figure='waiting'] .value"
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, bolig).text == "0")
    browser.execute_script("window.kontaktMarker = 1;")
    queue_now(db, "waiting-new", BOLIG, 10)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, bolig).text == "1")
    assert browser.execute_script("return window.kontaktMarker") == 1  # the same page, not a reload


def test_reports_draw_charts_and_a_bar_lists_its_contacts(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    base, token, _ = site
    wait = log_in(browser, base, "/agent/reports?date=2026-12-07", token)
    wait.until(lambda d: d.execute_script("return window.kontaktReports.draws") >= 5)
    for chart in ("chart-hour", "chart-queue", "chart-channel", "chart-topic", "chart-week"):
        assert browser.execute_script(PIXELS_DRAWN, chart) > 500, chart
    kpis = browser.find_element(By.ID, "kpis").text
    assert "Serviceniveau\n33,3 %" in kpis and "E-mails besvaret til tiden\n50 %" in kpis
    hours = browser.execute_script("return Chart.getChart(document.getElementById('chart-hour')).data.labels")
    assert hours == ["10:00", "11:00", "19:00"]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "reports.png"))

    # The first bar of the queue chart is borgerservice_basis (C..G and the caller waiting now): click it.
    canvas = browser.find_element(By.ID, "chart-queue")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    dx, dy, label = browser.execute_script(BAR_CENTRE, "chart-queue", 0)
    assert label == "Basis – generel borgerservice"  # the queue's name, never its id
    ActionChains(browser).move_to_element_with_offset(canvas, int(dx), int(dy)).click().perform()
    rows = "#drill-table tbody tr"
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 6)
    listed = [r.get_attribute("data-contact") for r in browser.find_elements(By.CSS_SELECTOR, rows)]
    assert listed == ["C", "D", "E", "F", "G", "waiting-long"]
    assert browser.find_element(By.ID, "drill-title").text == "– Basis – generel borgerservice (6)"
    table = browser.find_element(By.ID, "drill-table").text.replace("\xa0", " ")
    assert "Opgivet i køen" in table
    assert "2 t. 55 min." in table  # F, an e-mail, waited from 10:45 to 13:40
    # Without a loaded model the weak questions say so, in Danish.
    browser.find_element(By.ID, "weak-load").click()
    wait.until(lambda d: "Sprogmodellen er ikke indlæst" in d.find_element(By.ID, "weak-status").text)
    browser.execute_script("document.getElementById('drill').scrollIntoView();")
    browser.save_screenshot(str(ARTIFACTS / "reports-drilldown.png"))
