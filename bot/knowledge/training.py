"""Example questions editors add to articles, as training examples for the topic classifier.

An article's `questions` (national article or local overlay) are how citizens ask; the files'
questions are indexed with the article. When an editor publishes a version with questions that
the repository's file does not have, those new questions also become examples of the article's
topic at the next `python -m bot train`, read from the published versions in the configured
database (KONTAKT_DATABASE_URL). A database that does not exist yet or has no versions table
adds nothing, so training without a database is the same as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, make_url

from bot.errors import DatabaseUnavailable, KontaktError
from bot.knowledge.overlay import LocalContent, parse_overlay
from bot.nlu.training_data import Example
from bot.retrieval.articles import Article, parse_article
from bot.storage.db import Database
from bot.storage.knowledge import NATIONAL, ArticleVersion, latest_versions

__all__ = ["editor_examples", "published_versions"]

log = logging.getLogger("kontakt.train")


def published_versions(database_url: str) -> list[ArticleVersion]:
    """The newest published version of every article, or none when the database has no versions."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).is_file()):
        return []
    db = Database(database_url)
    try:
        if not inspect(db.engine).has_table("article_versions"):
            return []
        with db.read() as s:
            return list(latest_versions(s).values())
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise DatabaseUnavailable(
            f"cannot read the published article versions from {db!r} for training ({type(exc).__name__}); "
            "start the database or point KONTAKT_DATABASE_URL at it"
        ) from None
    finally:
        db.dispose()


def editor_examples(
    versions: list[ArticleVersion], national: Mapping[str, Article], local: LocalContent
) -> list[Example]:
    """(topic, question) examples for every question a published version has and the
    repository's file of the same article does not. A version that no longer parses is left out
    (and logged): the workers refuse it too."""
    out: list[Example] = []
    for v in versions:
        try:
            if v.scope == NATIONAL:
                article = parse_article(v.text, f"article {v.article_id} version {v.version}")
                topic, questions = article.topic, article.questions
                seed = national[v.article_id].questions if v.article_id in national else ()
            else:
                overlay = parse_overlay(v.text, tenant=v.scope, where=f"local {v.article_id} version {v.version}")
                base = national.get(overlay.overrides)
                if base is None:
                    continue
                topic, questions = base.topic, overlay.questions
                mine = local.tenants.get(v.scope)
                file_overlay = mine.overlay_for(v.article_id) if mine else None
                seed = file_overlay.questions if file_overlay else ()
        except KontaktError as exc:
            log.warning("published version left out of training: %s", exc)
            continue
        out.extend(Example(topic, q.strip()) for q in questions if q not in seed and q.strip())
    return out
