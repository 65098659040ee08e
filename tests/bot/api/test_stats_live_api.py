"""Live figures and weak questions over HTTP on the hand-built day of `stats_log`, with the
engine's clock fixed at 12:00 that day: the wallboard JSON, Prometheus `/metrics` per tenant,
and the weak questions clustered with a deterministic fake embedder and classifier behind the
real interfaces (no model is loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update

from bot.agent_accounts import create_agent, token_pepper
from bot.api import create_app
from bot.api.wallboard import stats_router
from bot.storage.models import AgentState, AgentStateRow
from tests.bot.api.stats_log import BASIS, DAY_FROM, DAY_TO, OTHER, T0, TENANT, write_log
from tests.bot.api.test_reports_browser import queue_now
from tests.bot.conftest import FakeClock

pytestmark = pytest.mark.integration

PEPPER = "stats-live-pepper-0123456789abcdefghijklmnopq"
NOW = T0 + timedelta(hours=2)
VOCABULARY = ("skrald", "tømmes", "pas", "parkering", "noget")


class WordEmbedder:
    """Deterministic vectors: one dimension per vocabulary word the text contains."""

    def queries(self, texts):
        v = np.array([[1.0 if w in t.lower() else 0.0 for w in VOCABULARY] + [0.01] for t in texts])
        return v / np.linalg.norm(v, axis=1, keepdims=True)


class FirstWordClassifier:
    labels = ["affald_toemning", "borgerservice_pas"]

    def predict(self, texts, vectors):
        probs = np.array([[0.9, 0.1] if v[0] or v[1] else [0.2, 0.8] for v in vectors])
        return probs, np.zeros(len(texts))


class FakeUnderstanding:
    def __init__(self, contract) -> None:
        self.contract = contract
        self.embedder = WordEmbedder()
        self.classifier = FirstWordClassifier()


@dataclass
class Live:
    client: TestClient
    tokens: dict[str, str]

    def get(self, path: str, who: str | None = "sara", **params: object):
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.get(path, params=params, headers=headers)


@pytest.fixture
def live(settings, contract, migrated_sqlite, tmp_path, monkeypatch) -> Iterator[Live]:
    import shutil

    path = tmp_path / "kontakt.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    monkeypatch.setenv("KONTAKT_AGENT_TOKEN_PEPPER", PEPPER)
    local = settings.model_copy(update={"database_url": f"sqlite:///{path}", "agent_token_pepper": SecretStr(PEPPER),
                                        "kpi_file": tmp_path / "none.yaml"})  # fmt: skip
    app = create_app(local, routers=[stats_router], understanding=FakeUnderstanding(contract))
    with TestClient(app) as client:
        engine, db = app.state.engine, app.state.db
        engine.clock = FakeClock(NOW)
        write_log(db)
        queue_now(db, "waiting-long", BASIS, 300)
        pepper = token_pepper(local)
        tokens = {
            "sara": create_agent(engine, pepper, tenant_id=TENANT, agent_id="sara", name="Sara", role="supervisor"),
            "rita": create_agent(engine, pepper, tenant_id=OTHER, agent_id="rita", name="Rita", role="supervisor"),
            "anne": create_agent(engine, pepper, tenant_id=TENANT, agent_id="anne", name="Anne", role="agent",
                                 skills={BASIS: 5}),
        }  # fmt: skip
        create_agent(engine, pepper, tenant_id=TENANT, agent_id="bo", name="Bo", role="agent", skills={BASIS: 5})
        # Anne's after-contact work ended 10 s ago (the router writes no change then); Bo's runs on.
        with db.write() as s:
            for agent, until in (("anne", NOW - timedelta(seconds=10)), ("bo", NOW + timedelta(seconds=20))):
                s.execute(update(AgentStateRow).where(AgentStateRow.agent_id == agent)
                          .values(state=AgentState.AFTER_CONTACT_WORK, acw_until=until))  # fmt: skip
        yield Live(client, tokens)


def test_live_board_per_queue_with_alarms(live):
    r = live.get("/api/v1/stats/live")
    assert r.status_code == 200, r.text
    body = r.json()
    basis = next(q for q in body["queues"] if q["id"] == BASIS)
    assert (basis["waiting"], basis["longest_wait_seconds"]) == (1, 300.0)
    assert basis["agents"] == {"available": 1, "busy": 0, "after_contact_work": 1, "paused": 0}
    assert (basis["offered"], basis["answered"], basis["abandoned"], basis["service_level"]) == (3, 1, 1, 0.0)
    assert basis["alarms"] == ["longest_wait", "service_level"]
    assert body["limits"] == {"longest_wait_seconds": 120.0, "waiting": 10, "service_level_below": 0.6}
    assert body["contacts_by_ending"]["bot_answered"] == 2  # A and I
    assert body["tenant"] == {"id": TENANT, "name": "Københavns Kommune"}
    assert live.get("/api/v1/stats/live", "anne").status_code == 403
    assert live.get("/api/v1/stats/live", "rita", tenant=TENANT).status_code == 404


def test_metrics_show_the_callers_tenant_only(live):
    r = live.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'kontakt_queue_waiting{queue="borgerservice_basis",tenant="kobenhavn"} 1.0' in text
    assert 'kontakt_queue_longest_wait_seconds{queue="borgerservice_basis",tenant="kobenhavn"} 300.0' in text
    assert 'kontakt_agents{state="available",tenant="kobenhavn"} 1.0' in text
    assert 'kontakt_agents{state="after_contact_work",tenant="kobenhavn"} 1.0' in text
    assert 'kontakt_contacts_today{ending="bot_answered",tenant="kobenhavn"} 2.0' in text
    other = live.get("/metrics", "rita").text
    assert 'tenant="rodovre"' in other and "kobenhavn" not in other
    assert live.get("/metrics", None).status_code == 401


def test_weak_questions_are_clustered_redacted_and_kept_per_tenant(live):
    body = live.get("/api/v1/stats/questions", **{"from": DAY_FROM, "to": DAY_TO}).json()
    assert body["questions"] == 1  # H's clarify; X asked the same way, but in rodovre
    (cluster,) = body["clusters"]
    assert cluster["size"] == 1
    assert cluster["examples"] == ["hvornår tømmes min skraldespand på [CPR]"]
    assert cluster["nearest_topic"] == "affald_toemning"
    assert cluster["reasons"] == {"unanswered": 1, "low_confidence": 0, "low_feedback": 0}
    assert cluster["contacts"] == ["H"]
    theirs = live.get("/api/v1/stats/questions", "rita", **{"from": DAY_FROM, "to": DAY_TO}).json()
    assert [c["contacts"] for c in theirs["clusters"]] == [["X"]]
