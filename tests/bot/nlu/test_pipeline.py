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


def test_the_danish_pipeline_tokenizes_as_spacy_blank_danish() -> None:
    """Its tokenizer is spaCy's own for Danish, only with the affix expressions read compiled
    from the cache: the same rules and expressions, and the same tokens."""
    import spacy

    from bot.nlu.pipeline import danish_nlp

    ours, theirs = danish_nlp().tokenizer, spacy.blank("da").tokenizer
    # Rules, affix and match expressions, flags (not the vocabulary: ours has read texts already).
    assert ours.to_bytes(exclude=["vocab"]) == theirs.to_bytes(exclude=["vocab"])
    for name in ("prefix_search", "suffix_search", "infix_finditer"):
        assert getattr(ours, name).__self__ == getattr(theirs, name).__self__  # the same engine code
    text = "Hej! Bl.a. kl. 14.30 d. 3/5-2024 på Nørrebrogade 12, 2. tv. (se www.kk.dk/pas) - \"ok\"?"
    assert [t.text for t in ours(text)] == [t.text for t in theirs(text)]
