"""X-Twilio-Signature validation as a FastAPI dependency.

Twilio signs the full URL it requested plus the POST parameters with the account's auth token
(HMAC-SHA1, or HMAC-SHA256 when X-Twilio-Webhooks-Signature-Settings says so). We rebuild that
URL from the configured public base URL, or from X-Forwarded-Proto/X-Forwarded-Host behind a
proxy, or from the request itself. A missing, wrong or unverifiable signature is a 403, and so is
every request while KONTAKT_TWILIO_AUTH_TOKEN is unset: a voice webhook nobody can verify must
not drive the call flow.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from connectors.voice.config import VoiceSettings

log = logging.getLogger("kontakt.voice.security")


def get_voice_settings(request: Request) -> VoiceSettings:
    """The app's voice settings (`app.state.voice_settings`, set where the app is built from
    `settings.voice`). Tests override this dependency."""
    configured: VoiceSettings = request.app.state.voice_settings
    return configured


VoiceSettingsDep = Annotated[VoiceSettings, Depends(get_voice_settings)]


def _first(value: str | None) -> str | None:
    """First entry of a comma-separated proxy header ("https, http" -> "https")."""
    if not value:
        return None
    return value.split(",")[0].strip() or None


def signed_url(request: Request, settings: VoiceSettings) -> str:
    """The URL Twilio requested and signed, including the query string."""
    query = request.url.query
    path = request.url.path + (f"?{query}" if query else "")
    if settings.public_base_url:
        # A base with a path prefix (https://host/kontakt) is where the proxy mounted us.
        return settings.public_base_url + path
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    if settings.trust_forwarded_headers:
        scheme = _first(request.headers.get("x-forwarded-proto")) or scheme
        host = _first(request.headers.get("x-forwarded-host")) or host
    return f"{scheme}://{host}{path}"


def _refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=403, detail=f"Twilio signature check failed: {reason}.")


async def verify_twilio_signature(request: Request, settings: VoiceSettingsDep) -> None:
    """Raise 403 unless the request carries a valid X-Twilio-Signature."""
    token = settings.auth_token()
    if token is None:
        log.error(
            "voice webhook %s refused: no Twilio auth token configured. Set KONTAKT_TWILIO_AUTH_TOKEN"
            " to the auth token of the Twilio account (Console > Account > API keys & tokens).",
            request.url.path,
        )
        raise _refuse("the server has no Twilio auth token configured")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        log.warning("voice webhook %s refused: no %s header", request.url.path, SIGNATURE_HEADER)
        raise _refuse(f"no {SIGNATURE_HEADER} header")
    params = await request.form() if request.method == "POST" else {}
    url = signed_url(request, settings)
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(token).validate(url, params, signature, algorithm=algorithm):
        log.warning(
            "voice webhook refused: signature does not match %s (check KONTAKT_VOICE_PUBLIC_BASE_URL"
            " and the proxy's X-Forwarded-Proto/Host if every request fails)",
            url,
        )
        raise _refuse("the signature does not match")


TwilioSigned = Depends(verify_twilio_signature)
