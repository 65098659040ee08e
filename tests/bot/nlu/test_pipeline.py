"""bot.nlu.pipeline: the compact Danish lemma table answers as the dict it was built from, after
a round trip through its cache file too."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.pipeline import CompactLemmas

pytestmark = pytest.mark.unit

TABLE = {"kommer": "komme", "skraldebilen": "skraldebil", "passet": "pas", "boligstøtten": "boligstøtte",
         "gårde": "gård", "ægget": "æg", "pas": "pas"}


def test_pipeline_lemmas_answer_as_their_table_after_a_round_trip(tmp_path: Path) -> None:
    built = CompactLemmas.build(TABLE)
    built.save(tmp_path / "lemmas.npz")
    for table in (built, CompactLemmas.load(tmp_path / "lemmas.npz")):
        assert len(table) == len(TABLE)
        assert {form: table.get(form) for form in TABLE} == TABLE
        assert table.get("skraldebil") is None and table.get("") is None
        assert table.lemmas == sorted(set(TABLE.values()))
