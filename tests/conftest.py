"""Shared fixtures. The trained model is built once per machine (var/model, reused while the data
is unchanged) so the API and evaluation tests run against the real Danish model."""

from __future__ import annotations

import os

import pytest

from bot.config import Settings

# Hermetic: no test sees the developer's KONTAKT_* environment or .env (scripts/run.sh writes one).
# A test that needs a setting passes it, or sets it with monkeypatch.
for _key in [k for k in os.environ if k.startswith("KONTAKT_")]:
    del os.environ[_key]
os.environ["KONTAKT_ENV_FILE"] = os.devnull


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """The real model and data; a throwaway SQLite database so tests never touch var/."""
    db = tmp_path_factory.mktemp("db") / "kontakt.sqlite3"
    return Settings(database_url=f"sqlite:///{db}")


@pytest.fixture(scope="session")
def understanding(settings: Settings):
    from bot.train import is_fresh, train
    from bot.understanding import Understanding

    if not is_fresh(settings):
        train(settings, log=lambda m: None)
    return Understanding.load(settings)
