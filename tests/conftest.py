"""Shared fixtures. The trained model is built once per machine (var/model, reused while the data
is unchanged) so the API and evaluation tests run against the real Danish model."""

from __future__ import annotations

import pytest

from bot.config import Settings


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
