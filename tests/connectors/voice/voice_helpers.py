"""Helpers for the voice tests: recorded Twilio requests, signing as Twilio signs, TwiML parsing.
(A module with a unique name, because tests/ has no __init__.py files.)"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.exceptions import StarletteDeprecationWarning
from twilio.request_validator import RequestValidator

with warnings.catch_warnings():
    # starlette 1.10 wants httpx2 for its TestClient and warns about httpx 0.28 (pinned); the
    # warning is about the test transport, not about our code. Remove once the pin moves.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://testserver"
CPH = ZoneInfo("Europe/Copenhagen")
OPEN_NOW = datetime(2026, 11, 24, 10, 0, tzinfo=CPH)  # a Tuesday morning


def fixture(name: str, **overrides: str) -> dict[str, str]:
    """A recorded Twilio request (form fields) with some fields replaced; None drops a field."""
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> list[str]:
    """Every <Say> text, in document order (also inside <Gather>)."""
    return [el.text or "" for el in root.iter("Say")]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now


class Twilio:
    """Posts webhooks signed like Twilio: HMAC over the full URL plus the sorted form params."""

    def __init__(self, client: TestClient, token: str = TOKEN) -> None:
        self.client = client
        self.validator = RequestValidator(token)

    def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        signed_url: str | None = None,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
    ):
        url = signed_url or BASE + path
        sig = signature if signature is not None else self.validator.compute_signature(url, params)
        all_headers = {"X-Twilio-Signature": sig, **(headers or {})}
        return self.client.post(path, data=params, headers=all_headers)

    def unsigned(self, path: str, params: dict[str, str]):
        return self.client.post(path, data=params)
