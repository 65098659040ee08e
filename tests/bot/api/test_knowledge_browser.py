"""The editors' page (/agent/knowledge) in headless Chromium against the whole app: an editor of
København logs in, opens the waste-collection article, edits the municipality's text, previews
the answer to a citizen's question (nothing published), publishes, and the web chat's answer
over HTTP carries the new text; rolling back to the repository's file takes it away again.
Screenshot: test-artifacts/knowledge-page.png."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.config import ROOT
from connectors.app import build_app
from tests.bot.api.test_knowledge_api import fork
from tests.browser import ARTIFACTS, WAIT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PEPPER = "test-pepper-knowledge-page-0123456789abcdefghijklmnop"
OVERLAY = (ROOT / "knowledge" / "local" / "kobenhavn" / "affald_toemning.md").read_text(encoding="utf-8")
MARK = "Ring til affaldsvagten, hvis beholderen stadig står fuld næste morgen."
QUESTION = "Min skraldespand er ikke blevet tømt"


def _chat(base: str) -> str:
    r = httpx.post(base + "/chat/api/messages", json={"text": QUESTION, "tenant": "kobenhavn"}, timeout=30)
    assert r.status_code == 200, r.text
    return "\n".join(m["text"] or "" for m in r.json()["messages"] if m["kind"] == "bot")


def test_editor_previews_publishes_and_rolls_back_and_the_chat_answer_follows(
    browser, serve, settings, understanding, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    local = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'kontakt.sqlite3'}",
                                        "agent_token_pepper": SecretStr(PEPPER)})  # fmt: skip
    app = build_app(local, understanding=fork(understanding))
    base = serve(app)
    pepper = token_pepper(local)
    eva = create_agent(app.state.engine, pepper, tenant_id="kobenhavn", agent_id="eva", name="Eva", role="editor")
    anne = create_agent(app.state.engine, pepper, tenant_id="kobenhavn", agent_id="anne", name="Anne",
                        skills={"borgerservice_basis": 5})  # fmt: skip
    wait = WebDriverWait(browser, WAIT)
    find = browser.find_element

    def log_in(token: str) -> None:
        browser.get(base + "/agent/knowledge")
        wait.until(lambda d: find(By.ID, "login").is_displayed())
        find(By.ID, "token").send_keys(token)
        find(By.CSS_SELECTOR, "#login-form button").click()

    log_in(anne)
    wait.until(lambda d: "Kun redaktører" in find(By.ID, "login-error").text)
    browser.execute_script("sessionStorage.clear();")
    log_in(eva)
    wait.until(lambda d: find(By.ID, "app").is_displayed())

    find(By.ID, "filter").send_keys("tømt")
    item = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '#articles button[data-id="affald_toemning"]'))
    assert "Lokal" in item.text
    item.click()
    wait.until(lambda d: "Ikke tømt?" in find(By.ID, "file").get_property("value"))
    assert find(By.ID, "scope-local").get_attribute("aria-pressed") == "true"
    assert "Ingen ændringer endnu" in find(By.ID, "history").text

    textarea = find(By.ID, "file")
    textarea.clear()
    textarea.send_keys(OVERLAY.replace("## Ikke tømt?\n", f"## Ikke tømt?\n\n{MARK}\n"))
    find(By.ID, "question").send_keys(QUESTION)
    find(By.ID, "preview").click()
    wait.until(lambda d: MARK in find(By.ID, "preview-messages").text)
    assert "bygger på dit udkast" in find(By.ID, "preview-note").text
    assert MARK not in _chat(base)  # a preview publishes nothing

    find(By.ID, "publish").click()
    wait.until(lambda d: "Version 1 er udgivet" in find(By.ID, "status").text)
    assert MARK in _chat(base)
    assert "Version 1" in find(By.ID, "history").text and "eva" in find(By.ID, "history").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "knowledge-page.png"))

    back = [b for b in browser.find_elements(By.CSS_SELECTOR, "#history button.rollback") if "filen" in b.text]
    back[0].click()
    wait.until(lambda d: d.switch_to.alert).accept()
    wait.until(lambda d: "er udgivet igen som version 2" in find(By.ID, "status").text)
    assert MARK not in _chat(base)
    assert find(By.ID, "file").get_property("value") == OVERLAY
