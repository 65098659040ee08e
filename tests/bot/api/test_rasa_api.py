"""The Rasa-compatible NLU API against the real trained Danish model (the REST and callback chat
channels are tested with the engine in tests/connectors/rasa/)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from bot.api import create_app


@pytest.fixture(scope="module")
def client(settings, understanding):
    with TestClient(create_app(settings, understanding=understanding)) as c:
        yield c


def test_root_greets_like_rasa(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.text.startswith("Hello from kontakt: ")


def test_parse_waste_collection_cites_article(client):
    r = client.post("/model/parse", json={"text": "Hvornår kommer skraldebilen?"})
    assert r.status_code == 200
    body = r.json()
    assert body["intent"]["name"] == "affald_toemning"
    assert body["intent_ranking"][0]["name"] == "affald_toemning"
    triage = body["triage"]
    assert triage["action"] == "answer"
    assert triage["topic"] == "affald_toemning"
    article = triage["article"]
    assert article["id"].startswith("affald_toemning")
    assert article["source"] and article["reviewed"]


def test_parse_shape_matches_rasa_golden(client):
    # Golden shape captured from Rasa 3.6.21 (shared/research/tech-feasibility.md §1.5).
    text = "Hvornår kommer skraldebilen til Vestergade 12?"
    body = client.post("/model/parse", json={"text": text}).json()
    assert set(body) >= {"text", "intent", "entities", "intent_ranking", "text_tokens"}
    assert body["text"] == text
    assert body["text_tokens"] == [[0, 7], [8, 14], [15, 27], [28, 31], [32, 42], [43, 45]]
    [address] = [e for e in body["entities"] if e["entity"] == "adresse"]
    assert (address["start"], address["end"], address["value"]) == (32, 45, "Vestergade 12")
    assert {"extractor", "confidence_entity"} <= set(address)
    ranking = body["intent_ranking"]
    assert all(set(r) == {"name", "confidence"} for r in ranking)
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_parse_maps_synonym_to_canonical_value(client):
    text = "Kan jeg få tilskud til husleje?"
    body = client.post("/model/parse", json={"text": text}).json()
    [e] = [e for e in body["entities"] if e["entity"] == "ydelse"]
    # Rasa's golden annotation covered "husleje"; our synonym list knows the longer phrase.
    assert text[e["start"] : e["end"]] in ("husleje", "tilskud til husleje")
    assert e["value"] == "boligstøtte"
    assert e["processors"] == ["EntitySynonymMapper"]
    assert body["intent"]["name"] == "boligstoette_boligstoette"


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("min mor er faldet om og trækker ikke vejret", "emergency"),
        ("han slår mig når han har drukket og jeg tør ikke gå hjem", "handoff"),
        ("hvad bliver vejret i morgen", "out_of_scope"),
        ("Hvad er status på min byggesag?", "handoff"),
    ],
)
def test_parse_triage_actions(client, text, action):
    triage = client.post("/model/parse", json={"text": text}).json()["triage"]
    assert triage["action"] == action
    if action == "emergency":
        assert triage["queue"] == "alarm_112" and triage["article"] is None
    if action == "handoff":
        assert triage["queue"] and triage["article"] is None


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'{"text": "\xff\xfe ugyldig"}', {"content-type": "application/json"}, 400),
        (json.dumps({"txt": "hej"}).encode(), {"content-type": "application/json"}, 422),
        (json.dumps({"text": 5}).encode(), {"content-type": "application/json"}, 422),
        (json.dumps({"text": "x" * 100_000}).encode(), {"content-type": "application/json"}, 413),
        (("[" * 5000 + "]" * 5000).encode(), {"content-type": "application/json"}, 400),
    ],
    ids=["invalid-json", "non-utf8", "missing-field", "wrong-type", "100kB", "deep-json"],
)
def test_parse_bad_input_is_a_clear_4xx(client, content, headers, status):
    r = client.post("/model/parse", content=content, headers=headers)
    assert r.status_code == status
    assert "message" in r.json()


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀🎉", "What is the weather like?", "Kan I hjælpe med my passport renewal please?", "a" * 3000,
     "<script>alert(1)</script>", "\u0000\u200b"],
)
def test_parse_odd_text_gets_a_sensible_answer(client, text):
    r = client.post("/model/parse", json={"text": text})
    assert r.status_code == 200
    body = r.json()
    if text.strip("\u0000\u200b ").strip():
        assert body["triage"]["action"] in {"answer", "selfservice", "clarify", "handoff", "out_of_scope"}


def test_emoji_only_is_out_of_scope(client):
    assert client.post("/model/parse", json={"text": "😀😀🎉"}).json()["triage"]["action"] == "out_of_scope"


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    assert {"/", "/model/parse", "/health"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_parse_reads_a_json_body_sent_as_a_form_like_rasa(client):
    # `curl -d '{"text": ...}'`, as in Rasa's documentation, sends a form content type.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/model/parse", content='{"text": "Hvornår kommer skraldebilen?"}', headers=form)
    assert r.status_code == 200
    assert r.json()["intent"]["name"] == "affald_toemning"
    bad = client.post("/model/parse", content="text=hej", headers=form)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"



@pytest.mark.parametrize(
    ("path", "sent", "seen"),
    [
        ("/webhooks/rest/webhook", b"application/x-www-form-urlencoded", b"application/json"),
        ("/webhooks/callback/webhook", b"application/x-www-form-urlencoded; charset=utf-8", b"application/json"),
        ("/chat/api/messages", b"application/x-www-form-urlencoded", b"application/x-www-form-urlencoded"),
        ("/model/parse", b"text/plain", b"text/plain"),
    ],
)
def test_only_rasa_endpoints_read_a_form_typed_body_as_json(path, sent, seen):
    import asyncio

    from bot.api import RasaJsonBody

    got = {}

    async def app(scope, receive, send):
        got.update(scope["headers"])

    scope = {"type": "http", "path": path, "headers": [(b"content-type", sent), (b"host", b"x")]}
    asyncio.run(RasaJsonBody(app)(scope, None, None))
    assert got[b"content-type"] == seen and got[b"host"] == b"x"
