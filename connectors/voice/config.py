"""Settings of the voice connector: `bot.config.VoiceSettings` (`settings.voice`, environment
variables KONTAKT_VOICE_*, the Twilio auth token KONTAKT_TWILIO_AUTH_TOKEN). The token never lives in
the repository; without it every voice webhook is refused (see `security.py`)."""

from __future__ import annotations

from bot.config import VoiceSettings

__all__ = ["VoiceSettings"]
