"""Settings of the voice connector (environment variables prefixed KONTAKT_VOICE_, except the
Twilio auth token, which is KONTAKT_TWILIO_AUTH_TOKEN). The token never lives in the repository;
without it every voice webhook is refused (see `security.py`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import VoiceConfigError
from bot.routing.calendar import OpeningHours, default_schedule, schedule_from_mapping
from bot.routing.skills import RoutingPolicy

_DIALLABLE = re.compile(r"^(?:\+?\d{3,15}|sip:[^\s]+)$")


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KONTAKT_VOICE_", env_file=".env", extra="ignore", populate_by_name=True, frozen=True
    )

    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KONTAKT_TWILIO_AUTH_TOKEN", "twilio_auth_token")
    )
    # The URL Twilio is configured with, e.g. "https://kontakt.kk.dk". When set, signatures are
    # checked against it (behind a proxy the Host header is rarely what Twilio signed).
    public_base_url: str | None = None
    # Without a public base URL: rebuild the URL from X-Forwarded-Proto/X-Forwarded-Host.
    trust_forwarded_headers: bool = True

    tenant: str | None = None  # tenant id for article search; None = articles for every tenant
    municipality_name: str | None = None  # "Københavns Kommune" in the welcome; None = generic
    # Opening hours of the entry point, in the format of `bot.routing.calendar.schedule_from_mapping`;
    # None = weekdays 08-18 with Danish public holidays closed.
    opening_hours: dict[str, Any] | None = None

    voice_da: str = "Polly.Naja"
    voice_en: str = "Polly.Amy"
    gather_timeout_seconds: int = 5
    min_speech_confidence: float = 0.30  # Twilio's Confidence below this counts as unclear
    max_unclear: int = 2  # this many unclear answers (or silences) -> a human

    english_queue: str = "borgerservice_basis"  # agents there are flagged with the "english" attribute
    fallback_queue: str = "borgerservice_basis"  # no input, unclear input, errors
    switchboard_queue: str = "omstilling"  # unknown extensions, external targets without a number
    extensions: dict[str, str] = Field(default_factory=dict)  # "1234" -> "+4533661234" or "sip:..."
    transfer_numbers: dict[str, str] = Field(default_factory=dict)  # external queue id -> number
    dial_timeout_seconds: int = 20
    taskrouter_workflow_sid: str | None = None  # set to attach the handoff context as an Enqueue <Task>

    hold_music_url: str | None = None  # None = silence (<Pause>) between announcements
    hold_pause_seconds: int = 15
    callback_queue_length: int = 5  # offer a callback when more than this many wait ...
    callback_wait_seconds: float = 60  # ... or the caller has waited this long
    callback_digits: int = 8  # Danish subscriber numbers
    survey_enabled: bool = True

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", v):
            raise ValueError(f"public_base_url {v!r} must look like https://host or https://host/prefix")
        return v

    @field_validator("extensions", "transfer_numbers")
    @classmethod
    def _diallable(cls, v: Mapping[str, str]) -> dict[str, str]:
        for key, target in v.items():
            if not _DIALLABLE.match(str(target).replace(" ", "")):
                raise ValueError(f"{key!r} -> {target!r} is not diallable; use +4533661234 or sip:user@host")
        return {str(k): str(t).replace(" ", "") for k, t in v.items()}

    @field_validator("min_speech_confidence")
    @classmethod
    def _unit(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"min_speech_confidence {v!r} must be between 0 and 1")
        return v

    @cached_property
    def schedule(self) -> OpeningHours:
        return default_schedule() if self.opening_hours is None else schedule_from_mapping(self.opening_hours)

    @cached_property
    def routing_policy(self) -> RoutingPolicy:
        return RoutingPolicy(
            callback_queue_length=self.callback_queue_length, callback_wait_seconds=self.callback_wait_seconds
        )

    def auth_token(self) -> str | None:
        token = self.twilio_auth_token.get_secret_value().strip() if self.twilio_auth_token else ""
        return token or None


@lru_cache(maxsize=1)
def voice_settings_from_env() -> VoiceSettings:
    try:
        return VoiceSettings()
    except ValueError as exc:
        raise VoiceConfigError(f"invalid KONTAKT_VOICE_* settings: {exc}") from None
