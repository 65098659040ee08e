"""Article versions (bot/storage/knowledge.py) on SQLite and PostgreSQL: numbering per article and
scope, the newest published version, what a worker reads after the row it has applied, and two
writers racing for one version number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc as sa_exc

from bot.storage import Database
from bot.storage.knowledge import (
    ArticleVersionRow,
    add_version,
    head,
    latest_versions,
    published_after,
    version,
    versions,
)

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _add(db: Database, scope: str, article: str, text: str, *, published: bool = True, minutes: int = 0):
    with db.write() as s:
        return add_version(s, scope=scope, article_id=article, text=text, author="eva",
                           at=AT + timedelta(minutes=minutes), summary="", published=published)  # fmt: skip


def test_versions_count_per_scope_and_article(db: Database) -> None:
    assert _add(db, "kobenhavn", "affald_toemning", "a").version == 1
    assert _add(db, "kobenhavn", "affald_toemning", "b", minutes=1).version == 2
    assert _add(db, "rodovre", "affald_toemning", "c").version == 1  # another municipality counts apart
    assert _add(db, "*", "affald_toemning", "d").version == 1
    with db.read() as s:
        rows = versions(s, scope="kobenhavn", article_id="affald_toemning")
        assert [(v.version, v.text, v.created_at) for v in rows] == [(2, "b", AT + timedelta(minutes=1)), (1, "a", AT)]
        assert version(s, scope="kobenhavn", article_id="affald_toemning", number=1).text == "a"
        assert version(s, scope="kobenhavn", article_id="affald_toemning", number=3) is None
        assert versions(s, scope="rodovre", article_id="borgerservice_pas") == []


def test_newest_published_and_what_a_worker_reads_next(db: Database) -> None:
    with db.read() as s:
        assert head(s) == 0 and published_after(s, 0) == [] and latest_versions(s) == {}
    first = _add(db, "kobenhavn", "affald_toemning", "a")
    _add(db, "kobenhavn", "affald_toemning", "draft", published=False)
    other = _add(db, "*", "borgerservice_pas", "p")
    with db.read() as s:
        newest = head(s)
        assert newest == other.id > first.id
        assert [v.text for v in published_after(s, first.id)] == ["p"]  # the draft is never applied
        latest = latest_versions(s)
        assert {k: v.text for k, v in latest.items()} == {("kobenhavn", "affald_toemning"): "a",
                                                          ("*", "borgerservice_pas"): "p"}  # fmt: skip
        assert set(latest_versions(s, ["kobenhavn"])) == {("kobenhavn", "affald_toemning")}


def test_two_writers_never_store_the_same_version_number(db: Database) -> None:
    """Two writers that both read "the newest is 1" both try version 2: the database refuses the
    second (the API answers it 409, ArticleVersionConflict)."""
    _add(db, "kobenhavn", "affald_toemning", "a")
    _add(db, "kobenhavn", "affald_toemning", "b")
    with pytest.raises(sa_exc.IntegrityError), db.write() as s:
        s.add(ArticleVersionRow(scope="kobenhavn", article_id="affald_toemning", version=2, text="c", author="bo",
                                created_at=AT, summary="", published=True))  # fmt: skip
    with db.read() as s:
        assert [v.text for v in versions(s, scope="kobenhavn", article_id="affald_toemning")] == ["b", "a"]
