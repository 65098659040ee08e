"""Settings of the e-mail channel: `bot.config.EmailSettings` (`settings.email`, environment
variables KONTAKT_EMAIL_*). Secrets are `SecretStr`."""

from __future__ import annotations

from bot.config import MAX_INBOUND_BYTES, EmailSettings

__all__ = ["MAX_INBOUND_BYTES", "EmailSettings"]
