"""X-Twilio-Signature: forged, tampered, missing or unverifiable requests get 403."""

from __future__ import annotations

import logging

import pytest
from twilio.request_validator import RequestValidator
from voice_helpers import BASE, TOKEN, Twilio, fixture, twiml

from bot.config import Settings
from connectors.voice.config import VoiceSettings
from connectors.voice.security import get_voice_settings

pytestmark = pytest.mark.slow


def test_security_signed_request_is_accepted(twilio):
    twiml(twilio.post("/voice/incoming", fixture("incoming")))


def test_security_missing_signature_is_403(twilio, store):
    r = twilio.unsigned("/voice/incoming", fixture("incoming"))
    assert r.status_code == 403
    assert store.get(fixture("incoming")["CallSid"]) is None  # nothing happened for the forged call


def test_security_signature_with_another_token_is_403(client):
    forger = Twilio(client, token="not-the-account-token")
    r = forger.post("/voice/incoming", fixture("incoming"))
    assert r.status_code == 403


def test_security_tampered_params_are_403(twilio):
    params = fixture("gather_speech")
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/voice/gather", params)
    params["SpeechResult"] = "jeg vil tale med en medarbejder"
    r = twilio.post("/voice/gather", params, signature=signature)
    assert r.status_code == 403


def test_security_signature_for_another_path_is_403(twilio):
    params = fixture("incoming")
    r = twilio.post("/voice/incoming", params, signed_url=BASE + "/voice/status")
    assert r.status_code == 403


def test_security_query_string_is_part_of_the_signed_url(twilio):
    params = fixture("gather_digits", Digits="7")
    ok = twilio.post("/voice/survey?q=2", params)
    assert ok.status_code == 200
    forged = twilio.post("/voice/survey?q=2", params, signed_url=BASE + "/voice/survey?q=3")
    assert forged.status_code == 403


def test_security_unset_token_refuses_everything_and_tells_the_operator(app, client, caplog):
    app.dependency_overrides[get_voice_settings] = lambda: VoiceSettings(twilio_auth_token=None)
    with caplog.at_level(logging.ERROR, logger="kontakt.voice.security"):
        r = Twilio(client).post("/voice/incoming", fixture("incoming"))
    assert r.status_code == 403
    assert any("KONTAKT_TWILIO_AUTH_TOKEN" in rec.getMessage() for rec in caplog.records)


def test_security_token_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("KONTAKT_TWILIO_AUTH_TOKEN", "from-env")
    settings = Settings().voice  # the one Settings gives the voice channel the account's token
    assert settings.auth_token() == "from-env"
    assert "from-env" not in repr(settings)  # a SecretStr masks itself


def test_security_forwarded_proto_and_host_behind_a_proxy(twilio):
    params = fixture("incoming")
    r = twilio.post(
        "/voice/incoming",
        params,
        signed_url="https://kontakt.example.dk/voice/incoming",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "kontakt.example.dk"},
    )
    twiml(r)


def test_security_forwarded_headers_can_be_distrusted(app, client):
    app.dependency_overrides[get_voice_settings] = lambda: VoiceSettings(
        twilio_auth_token=TOKEN, trust_forwarded_headers=False
    )
    r = Twilio(client).post(
        "/voice/incoming",
        fixture("incoming"),
        signed_url="https://kontakt.example.dk/voice/incoming",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "kontakt.example.dk"},
    )
    assert r.status_code == 403


def test_security_public_base_url_is_what_twilio_signed(app, client):
    app.dependency_overrides[get_voice_settings] = lambda: VoiceSettings(
        twilio_auth_token=TOKEN, public_base_url="https://kontakt.example.dk/"
    )
    t = Twilio(client)
    root = twiml(
        t.post("/voice/incoming", fixture("incoming"), signed_url="https://kontakt.example.dk/voice/incoming")
    )
    # action URLs are absolute on the public host, so Twilio signs what we check next time
    assert root.find("Gather").get("action") == "https://kontakt.example.dk/voice/gather?step=menu"
    assert t.post("/voice/incoming", fixture("incoming")).status_code == 403


def test_security_hmac_sha256_signature_settings(twilio):
    params = fixture("incoming")
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/voice/incoming", params, algorithm="HMAC_SHA256")
    r = twilio.post(
        "/voice/incoming",
        params,
        signature=sig,
        headers={"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_x,algorithm=HMAC_SHA256"},
    )
    twiml(r)


def test_security_signed_request_without_callsid_is_400(twilio):
    r = twilio.post("/voice/incoming", fixture("incoming", CallSid=None))
    assert r.status_code == 400
