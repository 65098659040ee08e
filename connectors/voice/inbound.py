"""Twilio's voice webhook form (application/x-www-form-urlencoded), as a typed boundary model.
Field names are Twilio's; Twilio sends empty strings for absent values, which become None."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import KontaktError


class InvalidWebhook(KontaktError, ValueError):
    """A signed request lacks a field every Twilio voice webhook has (CallSid)."""


KEYPAD = re.compile(r"^[0-9*#]{1,64}$")  # what a phone keypad can send (ASCII only: "²".isdigit())


class VoiceWebhook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    call_sid: str = Field(alias="CallSid", min_length=1)
    account_sid: str | None = Field(None, alias="AccountSid")
    from_: str | None = Field(None, alias="From")
    to: str | None = Field(None, alias="To")
    caller: str | None = Field(None, alias="Caller")
    called: str | None = Field(None, alias="Called")
    call_status: str | None = Field(None, alias="CallStatus")
    direction: str | None = Field(None, alias="Direction")
    api_version: str | None = Field(None, alias="ApiVersion")
    # <Gather>
    speech_result: str | None = Field(None, alias="SpeechResult")
    confidence: float | None = Field(None, alias="Confidence")
    digits: str | None = Field(None, alias="Digits")
    # <Enqueue> waitUrl and action
    queue_sid: str | None = Field(None, alias="QueueSid")
    queue_position: int | None = Field(None, alias="QueuePosition")
    queue_time: int | None = Field(None, alias="QueueTime")
    avg_queue_time: int | None = Field(None, alias="AvgQueueTime")
    current_queue_size: int | None = Field(None, alias="CurrentQueueSize")
    queue_result: str | None = Field(None, alias="QueueResult")
    # <Dial> action, status callback (of the agent's leg: ParentCallSid is the caller's call)
    dial_call_status: str | None = Field(None, alias="DialCallStatus")
    dial_call_sid: str | None = Field(None, alias="DialCallSid")
    parent_call_sid: str | None = Field(None, alias="ParentCallSid")
    call_duration: int | None = Field(None, alias="CallDuration")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("digits")
    @classmethod
    def _keypad(cls, v: str | None) -> str | None:
        if v is not None and not KEYPAD.match(v.strip()):
            raise ValueError("Digits must be keypad keys: 0-9, * and #")
        return v.strip() if v is not None else None

    @field_validator("confidence")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError("Confidence must be a number from 0 to 1")
        return v

    @property
    def number(self) -> str:
        """The caller's number as Twilio gives it (may be 'anonymous')."""
        return self.from_ or self.caller or ""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> VoiceWebhook:
        try:
            return cls.model_validate(dict(form))
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise InvalidWebhook(f"voice webhook has invalid or missing fields ({fields})") from None
