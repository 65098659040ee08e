"""A scripted day driven through the real engine with a fixed clock (SQLite and PostgreSQL),
then counted from the database the way the reports count it (`bot.stats.service`), and asked for
over HTTP (`/api/v1/stats/summary`):

1. a chat the bot answers; the citizen closes the chat;
2. a chat handed off, answered by Anne after 8 s and closed straksafklaret;
3. a caller who hangs up in the queue after 30 s, and 4. one who hangs up after 3 s;
5. an e-mail that waits three hours and is answered after its two-hour deadline.

The engine of the day may also write the explicit ending (contract in bot/stats/facts.py): the
figures are the same, since the ending it writes is the one the fold infers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.wallboard import stats_router
from bot.stats.config import TenantKpi
from bot.stats.report import summary_values
from bot.stats.service import load_period
from bot.storage.models import AgentState
from bot.types import Action, ArticleRef, HandoffReason, TriageDecision
from tests.bot.api.test_capacity_api import ContractOnly
from tests.bot.conftest import MONDAY_10, TENANT

pytestmark = pytest.mark.integration

ARTICLE = ArticleRef(id="aabningstider", title="Åbningstider", source="kk.dk", source_url=None,
                     reviewed="2026-01-01", historical=False)  # fmt: skip


def answer() -> TriageDecision:
    return TriageDecision(Action.ANSWER, "generelt_aabningstider_kontakt", "borgerservice_basis", False, 0.91, ARTICLE)


def handoff() -> TriageDecision:
    return TriageDecision(Action.HANDOFF, "generelt_sagsstatus", "borgerservice_basis", False, 0.84,
                          reason=HandoffReason.CASEWORK)  # fmt: skip


def play_the_day(engine, clock) -> dict[str, str]:
    engine.add_agent(TENANT, "anne", "Anne", skills={"borgerservice_basis": 5})
    engine.set_agent_state(TENANT, "anne", AgentState.AVAILABLE)
    ids = {}
    # 1. the bot answers
    c = engine.open_contact(TENANT, "chat", "chat-1")
    ids["bot"] = c.id
    engine.record_inbound(TENANT, c.id, "Hvornår har I åbent?")
    clock.advance(2)
    engine.record_bot_reply(TENANT, c.id, "Vi har åbent 8-18.", answer())
    clock.advance(60)
    engine.mark_abandoned(TENANT, c.id)
    # 2. handed off, answered after 8 s, closed
    c = engine.open_contact(TENANT, "chat", "chat-2", email="borger@example.dk")
    ids["agent"] = c.id
    engine.record_inbound(TENANT, c.id, "Hvordan går det med min sag?")
    clock.advance(2)
    engine.record_bot_reply(TENANT, c.id, "Jeg sender dig videre.", handoff())
    engine.request_handoff(TENANT, c.id, handoff(), None)
    clock.advance(8)
    (offer,) = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anne")
    clock.advance(20)
    engine.agent_reply(TENANT, "anne", c.id, "Din sag er færdigbehandlet.")
    clock.advance(100)
    engine.close(TENANT, "anne", c.id, "straksafklaret")
    # 3. and 4. callers who hang up in the queue (nobody routes them)
    for ref, patience in (("call-30", 30), ("call-3", 3)):
        c = engine.open_contact(TENANT, "voice", ref, phone="+4512345678" if patience == 30 else None)
        ids[ref] = c.id
        clock.advance(5)
        engine.request_handoff(TENANT, c.id, None, "asked_for_human")
        clock.advance(patience)
        engine.mark_abandoned(TENANT, c.id)
    # 5. an e-mail answered after its deadline (two opening hours)
    c = engine.open_contact(TENANT, "email", "<mail-1@example.dk>", email="skriver@example.dk")
    ids["email"] = c.id
    engine.record_inbound(TENANT, c.id, "Jeg har ikke fået svar på min ansøgning.")
    engine.request_handoff(TENANT, c.id, None, "topic_policy")
    clock.advance(3 * 3600)
    (offer,) = engine.route(TENANT)
    engine.accept_offer(TENANT, offer.id, "anne")
    clock.advance(300)
    engine.agent_reply(TENANT, "anne", c.id, "Her er svaret.")
    clock.advance(60)
    engine.close(TENANT, "anne", c.id, "straksafklaret")
    return ids


def test_the_scripted_day_gives_exactly_the_expected_summary(engine, clock, db):
    play_the_day(engine, clock)
    kpi = TenantKpi()
    start = MONDAY_10 - timedelta(hours=10)  # local midnight (UTC+1)
    facts, history = load_period(db, tenant_id=TENANT, start=start, end=start + timedelta(days=1),
                                 repeat_days=kpi.widest_fcr_window_days())  # fmt: skip
    s = summary_values(facts, kpi.policy(), now=clock(), history=history)
    assert s["contacts"] == 5
    assert (s["offered"], s["answered"], s["abandoned"], s["short_abandons"]) == (2, 1, 1, 1)
    assert s["service_level"] == 0.5  # the chat within 20 s / (the chat + the 30 s caller)
    assert s["asa_seconds"] == 8.0
    assert s["longest_wait_seconds"] == 30.0
    assert s["abandonment_rate"] == 0.5
    assert s["handled"] == 2  # the handed-off chat and the e-mail
    assert s["bot_contained"] == 0.5  # the bot replied in both chats; it answered one
    assert s["first_contact_resolution"] == 1.0  # bot answer, two straksafklaret closes; abandons not counted
    assert s["handoffs"] == 4
    assert s["transfers"] == 0
    assert s["email_deadline_met"] == 0.0
    assert s["parts"]["email_deadline_met"] == {"numerator": 0, "denominator": 1}


def summary_over_http(clock, db, settings, contract, tmp_path, monkeypatch):
    """`GET /api/v1/stats/summary` for the local day of 2 March 2026, asked by a supervisor of an
    app on the test's database and clock (no KPI file: the defaults)."""
    pepper = "scenario-pepper-0123456789abcdefghijklmnopqrs"
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", pepper)
    local = settings.model_copy(update={"database_url": db.url, "agent_token_pepper": SecretStr(pepper),
                                        "kpi_file": tmp_path / "none.yaml"})  # fmt: skip
    app = create_app(local, routers=[stats_router], understanding=ContractOnly(contract))
    with TestClient(app) as client:
        app.state.engine.clock = clock
        token = create_agent(app.state.engine, token_pepper(local), tenant_id=TENANT, agent_id="sara", name="Sara",
                             role="supervisor")  # fmt: skip
        return client.get("/api/v1/stats/summary", params={"from": "2026-03-02", "to": "2026-03-03"},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def test_the_scripted_day_through_the_summary_api(engine, clock, db, settings, contract, tmp_path, monkeypatch):
    """The same day, asked over HTTP by a supervisor for the local day of 2 March 2026."""
    play_the_day(engine, clock)
    r = summary_over_http(clock, db, settings, contract, tmp_path, monkeypatch)
    assert r.status_code == 200, r.text
    s = r.json()
    figures = {k: s[k] for k in ("offered", "answered", "abandoned", "service_level", "asa_seconds", "bot_contained",
                                 "first_contact_resolution", "handoffs", "email_deadline_met")}  # fmt: skip
    assert figures == {"offered": 2, "answered": 1, "abandoned": 1, "service_level": 0.5, "asa_seconds": 8.0,
                       "bot_contained": 0.5, "first_contact_resolution": 1.0, "handoffs": 4,
                       "email_deadline_met": 0.0}  # fmt: skip
