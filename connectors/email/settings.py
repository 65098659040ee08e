"""Settings of the e-mail channel (environment variables prefixed KONTAKT_EMAIL_, or .env).

Kept beside the channel until they move into `bot.config.Settings`. Secrets are `SecretStr`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_INBOUND_BYTES = 25 * 1024 * 1024


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONTAKT_EMAIL_", env_file=".env", extra="ignore")

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
    poll_seconds: float = 30.0
    outbox_seconds: float = 5.0
    deadline_check_seconds: float = 60.0
    # An inbound mail or outgoing message that failed or stopped the process this many times is
    # quarantined for a supervisor (GET /agent/api/supervisor/quarantine) instead of retried.
    poison_attempts: int = Field(default=3, ge=1, le=100)
