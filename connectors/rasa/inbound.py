"""What a Rasa client sends (the REST and callback channels share Rasa's request shape) and how
a sender becomes an engine contact.

A conversation is one engine contact of channel `chat` whose `external_ref` says which Rasa
channel it came by and whose sender it is: `rasa-rest:<sender>/<n>` or
`rasa-callback:<sender>/<n>`. `n` counts the sender's conversations: once one is closed or
abandoned, the sender's next message opens conversation n + 1. Web chat session ids never
contain ':', so the two channels cannot meet.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.api import Text, no_surrogates

__all__ = ["RasaKind", "RasaRef", "WebhookRequest", "parse_ref", "ref_stem"]


class RasaKind(enum.StrEnum):
    """How the conversation's answers reach the client."""

    REST = "rasa-rest"  # in the HTTP answer (agent replies: in the answer to the next message)
    CALLBACK = "rasa-callback"  # POSTed to KONTAKT_CALLBACK_URL


class WebhookRequest(BaseModel):
    """Rasa's `{"sender", "message", "metadata"}`; kontakt reads the tenant from metadata.tenant
    (the default tenant without one)."""

    model_config = ConfigDict(extra="ignore")
    sender: Text = Field(min_length=1, max_length=200, description="The client's conversation id.")
    message: Text = Field(max_length=100_000, description="The citizen's message.")
    metadata: dict[str, Any] | None = None

    @field_validator("sender")
    @classmethod
    def _sender_is_an_id(cls, v: str) -> str:
        # It becomes part of a database key: control characters (NUL above all) cannot be stored.
        if any(unicodedata.category(ch) == "Cc" for ch in v):
            raise ValueError("sender must not contain control characters")
        return v

    @field_validator("message")
    @classmethod
    def _storable(cls, v: str) -> str:
        if "\x00" in v:  # PostgreSQL text cannot hold NUL; the message is stored before anything else
            raise ValueError("message must not contain NUL characters")
        return v

    @field_validator("metadata")
    @classmethod
    def _tenant_is_text(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        tenant = (v or {}).get("tenant")
        if tenant is not None and not (isinstance(tenant, str) and len(tenant) <= 200):
            raise ValueError("metadata.tenant must be a tenant id (a string of at most 200 characters)")
        if isinstance(tenant, str):
            no_surrogates(tenant)
        return v

    @property
    def tenant(self) -> str | None:
        tenant = (self.metadata or {}).get("tenant")
        return tenant if isinstance(tenant, str) and tenant else None


def ref_stem(kind: RasaKind, sender: str) -> str:
    """The external_ref of the sender's conversations without the generation number."""
    return f"{kind.value}:{sender}/"


@dataclass(frozen=True, slots=True)
class RasaRef:
    kind: RasaKind
    sender: str
    generation: int


def parse_ref(external_ref: str) -> RasaRef | None:
    """The Rasa conversation an external_ref names, or None for another channel's contact."""
    head, colon, rest = external_ref.partition(":")
    if not colon or head not in {k.value for k in RasaKind}:
        return None
    sender, slash, number = rest.rpartition("/")
    if not slash or not sender or not (number.isdigit() and number.isascii()):
        return None
    return RasaRef(RasaKind(head), sender, int(number))
