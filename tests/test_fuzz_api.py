"""Bad input never breaks the API (issue 6, item 3): random and adversarial text, huge bodies, deep
JSON, invalid UTF-8, control characters and HTML/script over /model/parse, the REST webhook, the
chat API and signed Twilio webhooks, plus parse_mail. Zero 5xx, zero exceptions, JSON or TwiML.

A small hypothesis run; `python -m eval fuzz` runs 10,000+ generated cases with the same checks."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from eval.fuzz import (
    NASTY,
    Case,
    check_response,
    deep_json,
    generate,
    json_case,
    mail_case,
    make_app,
    make_client,
    run_case,
    voice_case,
)

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
text = st.one_of(st.text(max_size=300), st.sampled_from(NASTY), st.text(st.characters(codec="utf-8"), max_size=50))


@pytest.fixture(scope="module")
def client(settings, understanding):  # noqa: F811 - the conftest fixture, not hypothesis.settings
    with make_client(make_app(settings, understanding)) as c:
        yield c


@FUZZ
@given(text=text, tenant=st.one_of(st.none(), text))
def test_fuzz_model_parse_text(client, text: str, tenant: str | None) -> None:
    run_case(client, Case("parse", json.dumps({"text": text, "tenant": tenant}).encode()))


@FUZZ
@given(sender=text, message=text)
def test_fuzz_rest_webhook(client, sender: str, message: str) -> None:
    run_case(client, Case("webhook", json.dumps({"sender": sender, "message": message}).encode()))


@FUZZ
@given(session=st.one_of(st.none(), text), tenant=st.one_of(st.none(), text), body=text,
       cmid=st.one_of(st.none(), text))  # fmt: skip
def test_fuzz_chat_messages(client, session, tenant, body: str, cmid) -> None:
    payload = {"session": session, "tenant": tenant, "text": body, "client_message_id": cmid}
    run_case(client, Case("chat", json.dumps(payload).encode()))


@FUZZ
@given(raw=st.binary(max_size=2000), target=st.sampled_from(["parse", "webhook", "chat"]))
def test_fuzz_raw_bytes_bodies(client, raw: bytes, target: str) -> None:
    run_case(client, Case(target, raw))


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_generated_json_and_voice_and_mail_cases(client, seed: int) -> None:
    rng = random.Random(seed)
    for case in (json_case(rng, rng.choice(["parse", "webhook", "chat"])), voice_case(rng), mail_case(rng)):
        run_case(client, case)


@FUZZ
@given(raw=st.binary(max_size=5000))
def test_fuzz_parse_mail_never_raises(client, raw: bytes) -> None:
    run_case(client, Case("mail", raw))


@pytest.mark.parametrize("target", ["parse", "webhook", "chat"])
@pytest.mark.parametrize("body", [deep_json(100_000, "["), deep_json(50_000, "{"),
                                  json.dumps({"text": "ø" * 300_000}).encode(),
                                  b'{"text": "\xc3\x28 \xed\xa0\x80", "message": "\xff", "sender": "\xfe"}'])
def test_fuzz_deep_huge_and_invalid_utf8_bodies(client, target: str, body: bytes) -> None:
    run_case(client, Case(target, body))


@pytest.mark.parametrize("target", ["webhook", "chat"])
def test_fuzz_script_comes_back_as_json_text(client, target: str) -> None:
    script = "<script>alert('x')</script>"
    if target == "webhook":
        r = client.post("/webhooks/rest/webhook", json={"sender": "fuzz-1", "message": script})
    else:
        r = client.post("/chat/api/messages", json={"text": script})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "<script>" not in r.text or json.loads(r.text)  # only ever inside a JSON string


def test_fuzz_script_in_speech_is_escaped_in_twiml(client) -> None:
    from eval.fuzz import FUZZ_TOKEN  # noqa: F401 - the token the app was built with

    case = Case("voice_gather", form={"CallSid": "CA" + "1" * 32, "From": "+4520123456", "To": "+4533663366",
                                      "SpeechResult": "<script>alert(1)</script> pas", "Confidence": "0.9"},
                query="step=menu", content_type="form")  # fmt: skip
    run_case(client, case)


def test_fuzz_checker_rejects_html_and_5xx() -> None:
    from eval.fuzz import BadResponse

    with pytest.raises(BadResponse):
        check_response(Case("parse"), 500, "application/json", b"{}")
    with pytest.raises(BadResponse):
        check_response(Case("parse"), 200, "text/html", b"<script>")
    with pytest.raises(BadResponse):
        check_response(Case("voice_gather"), 200, "application/xml", b"<Response><script/></Response>")


def test_fuzz_generator_is_deterministic() -> None:
    assert list(generate(50, seed=3)) == list(generate(50, seed=3))
