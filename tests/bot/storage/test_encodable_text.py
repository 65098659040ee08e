"""Text the database driver cannot encode never fails a transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import text

from bot.storage import Database


def test_a_lone_surrogate_is_stored_as_a_replacement_character(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (x TEXT)"))
        conn.execute(text("INSERT INTO probe VALUES (:x)"), {"x": "Emne \ude2a fra en ødelagt header"})
        conn.execute(text("INSERT INTO probe VALUES (:x)"), [{"x": "\ud800"}, {"x": "ren tekst"}])
        stored = sorted(conn.execute(text("SELECT x FROM probe")).scalars())
    assert stored == ["Emne \ufffd fra en ødelagt header", "ren tekst", "\ufffd"]
