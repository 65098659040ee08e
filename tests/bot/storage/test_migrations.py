"""Alembic migrations (bot/storage/migrations) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from bot.storage import Database, alembic_config, migrate
from bot.storage.db import head_revision
from bot.storage.models import Base

pytestmark = pytest.mark.integration

TABLES = {
    "tenants", "queues", "contacts", "messages", "handoffs", "agents", "agent_skills", "agent_states",
    "offers", "tasks", "events", "outbox", "inbound_mail", "crises", "crisis_skill_grants",
    "voice_calls", "voice_responses", "agent_lines", "article_versions",
}  # fmt: skip


def test_upgrade_head_on_empty_database_creates_every_table(empty_url: str) -> None:
    migrate(empty_url)
    db = Database(empty_url)
    try:
        names = set(inspect(db.engine).get_table_names())
        assert names == TABLES | {"alembic_version"}
        assert set(Base.metadata.tables) == TABLES
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0007_lookup_indexes"
    finally:
        db.dispose()


def test_models_and_migrations_agree(empty_url: str) -> None:
    migrate(empty_url)
    db = Database(empty_url)
    try:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent_and_downgrade_removes_everything(empty_url: str) -> None:
    migrate(empty_url)
    migrate(empty_url)  # nothing to do the second time
    db = Database(empty_url)
    try:
        with db.engine.begin() as conn:
            cfg = alembic_config(empty_url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    finally:
        db.dispose()


def test_skill_level_check_constraint_exists(empty_url: str) -> None:
    migrate(empty_url)
    db = Database(empty_url)
    try:
        checks = inspect(db.engine).get_check_constraints("agent_skills")
        assert any("level" in c["sqltext"] for c in checks)
        indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("offers")}
        assert indexes["uq_offers_pending_contact"]["unique"]
    finally:
        db.dispose()


def test_head_revision_read_from_the_files_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_head_revision_refuses_two_heads(tmp_path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n', encoding="utf-8")
    (tmp_path / "b.py").write_text("revision: str = 'b'\ndown_revision: str | None = 'a'\n", encoding="utf-8")
    assert head_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n', encoding="utf-8")
    assert head_revision(tmp_path) is None  # a branch: Alembic decides


def test_at_head_only_for_the_newest_revision_and_an_older_one_is_upgraded(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        assert not db.at_head()  # no alembic_version table yet
        db.migrate("0005_voice")
        assert not db.at_head()
        db.migrate()  # from an older revision: Alembic runs the rest
        assert db.at_head()
        assert "article_versions" in inspect(db.engine).get_table_names()
        db.migrate()  # at head: nothing to do, nothing changes
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    finally:
        db.dispose()
