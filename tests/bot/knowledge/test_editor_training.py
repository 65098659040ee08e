"""Example questions editors publish reach the next training as topic examples: a read of the
training data against a real database, not a retrain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ROOT, Settings
from bot.nlu import training_data
from bot.retrieval.articles import load_articles
from bot.storage import Database
from bot.storage.knowledge import add_version
from bot.topics import load_contract
from bot.train import load_training_data

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NATIONAL = (ROOT / "knowledge" / "articles" / "affald" / "affald_toemning.md").read_text(encoding="utf-8")
OVERLAY = (ROOT / "knowledge" / "local" / "kobenhavn" / "affald_toemning.md").read_text(encoding="utf-8")
NEW_NATIONAL = "Hvorfor står min grønne spand stadig fuld ved vejen?"
NEW_LOCAL = "Hvornår henter København restaffald i min opgang?"


@pytest.fixture(scope="module")
def base() -> tuple[Settings, object, list]:
    settings = Settings()
    contract = load_contract(settings.topics_file)
    return settings, contract, load_articles(settings.articles_dir, contract)


def _texts(data: training_data.TrainingData, intent: str) -> list[str]:
    return [e.text for e in data.examples if e.intent == intent]


def test_without_a_database_training_reads_nlu_data_only(base, tmp_path: Path):
    settings, contract, articles = base
    missing = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'none.sqlite3'}"})
    data = load_training_data(missing, contract, articles)
    assert data.examples == training_data.load_dir(settings.nlu_data_dir).examples
    assert not (tmp_path / "none.sqlite3").exists()  # reading for training creates no database


def test_questions_editors_added_become_examples_of_the_article_topic(base, tmp_path: Path):
    settings, contract, articles = base
    url = f"sqlite:///{tmp_path / 'kontakt.sqlite3'}"
    db = Database(url)
    db.migrate()
    national = NATIONAL.replace("questions:\n", f"questions:\n  - {NEW_NATIONAL}\n", 1)
    local = OVERLAY.replace("review_interval_days: 180\n", f"review_interval_days: 180\nquestions:\n  - {NEW_LOCAL}\n")
    draft = NATIONAL.replace("questions:\n", "questions:\n  - Et udkast, der aldrig blev udgivet?\n", 1)
    with db.write() as s:
        add_version(s, scope="*", article_id="affald_toemning", text=national, author="adam", at=AT, summary="")
        add_version(s, scope="kobenhavn", article_id="affald_toemning", text=local, author="eva", at=AT, summary="")
        add_version(s, scope="*", article_id="affald_toemning", text=draft, author="adam", at=AT, summary="",
                    published=False)  # fmt: skip
    db.dispose()

    before = _texts(training_data.load_dir(settings.nlu_data_dir), "affald_toemning")
    data = load_training_data(settings.model_copy(update={"database_url": url}), contract, articles)
    after = _texts(data, "affald_toemning")
    added = [t for t in after if t not in before]
    assert sorted(added) == sorted([NEW_NATIONAL, NEW_LOCAL])  # the file's own questions are not added again
    assert len(data.examples) == len(training_data.load_dir(settings.nlu_data_dir).examples) + 2
