"""The stale-article panel of the reports page in headless Chromium against the real app under
uvicorn, with the real articles, overlays and owners file and the engine's clock on 5 July 2027:
a Rødovre supervisor logs in through the shared supervisor script and sees Rødovre's overdue
overlays with owner, dates and a link to the editing page, and nothing of Copenhagen's.
Screenshot in test-artifacts/.

Fails (does not skip) when Chromium or chromedriver is missing."""

from __future__ import annotations

import datetime as dt
import shutil
from datetime import UTC

import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.capacity import router as capacity_router  # serves the vendored Chart.js
from bot.api.knowledge_review import review_background
from bot.api.knowledge_review import router as review_router
from bot.api.wallboard import stats_router
from tests.bot.api.test_capacity_api import ContractOnly
from tests.bot.api.test_reports_browser import log_in
from tests.bot.conftest import FakeClock
from tests.browser import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "review-browser-pepper-0123456789abcdefghijkl"
NOW = dt.datetime(2027, 7, 5, 10, 0, tzinfo=UTC)


def test_the_reports_page_lists_the_tenants_stale_articles(browser, serve, settings, contract, migrated_sqlite,
                                                           tmp_path, monkeypatch):  # fmt: skip
    from selenium.webdriver.common.by import By

    path = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": f"sqlite:///{path}", "agent_token_pepper": SecretStr(PEPPER),
                                        "kpi_file": tmp_path / "none.yaml", "review_check_seconds": 3600.0})  # fmt: skip
    app = create_app(local, routers=[capacity_router, stats_router, review_router], background=[review_background],
                     understanding=ContractOnly(contract), clock=FakeClock(NOW))  # fmt: skip
    base = serve(app)
    token = create_agent(app.state.engine, token_pepper(local), tenant_id="rodovre", agent_id="rita", name="Rita",
                         role="supervisor")  # fmt: skip

    wait = log_in(browser, base, "/agent/reports?date=2027-07-05", token)
    rows = "#stale-table tbody tr"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, rows))
    listed = {r.get_attribute("data-article"): r for r in browser.find_elements(By.CSS_SELECTOR, rows)}
    local_rows = sorted(k for k in listed if k.startswith("local:"))
    assert local_rows == ["local:boern_pladsanvisning", "local:boligstoette_indskudslaan", "local:borgerservice_flytning",
                          "local:borgerservice_pas", "local:sundhed_hjaelpemidler", "local:sundhed_plejebolig",
                          "local:sundhed_visitation_hjemmehjaelp"]  # fmt: skip
    pas = listed["local:borgerservice_pas"]
    cells = [c.text for c in pas.find_elements(By.TAG_NAME, "td")]
    assert cells[1:] == ["Kun vores kommune", "Rødovre Kommune – Borgerservice og Folkeregisteret", "6. dec. 2026",
                         "4. jun. 2027", "31"]  # fmt: skip
    link = pas.find_element(By.TAG_NAME, "a")
    assert link.get_attribute("href") == base + "/agent/knowledge#borgerservice_pas"
    status = browser.find_element(By.ID, "stale-status").text
    assert status == f"{len(listed)} artikler venter på gennemgang."
    assert "København" not in browser.find_element(By.ID, "stale-table").text
    # the shared head: this page's title, the municipality, links to the other supervisor pages
    head = browser.find_element(By.CSS_SELECTOR, "header.top")
    assert head.find_element(By.TAG_NAME, "h1").text.startswith("Rapporter")
    assert [a.text for a in head.find_elements(By.TAG_NAME, "a")] == ["Wallboard", "Konsol"]
    wait.until(lambda d: "Rødovre Kommune" in d.find_element(By.ID, "tenant-name").text)
    browser.execute_script("document.getElementById('h-stale').scrollIntoView();")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "reports-stale.png"))
