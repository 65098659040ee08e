"""Regressions found by the unit-test review of issue 3 (each failed before its fix)."""

from __future__ import annotations

import io
import logging

import pytest

from bot.config import ROOT
from bot.nlu.text import fold


def normalise(text: str) -> str:
    import unicodedata

    t = fold(text)
    stripped = " ".join("".join(ch for ch in t if not unicodedata.category(ch).startswith("P")).split())
    return stripped or t

from bot.errors import TrainingDataError
from bot.nlu import training_data as td
from bot.nlu.entities import EntityExtractor
from bot.privacy import RedactingFilter, redact
from bot.retrieval.articles import load_articles
from bot.retrieval.embedder import LexicalEmbedder
from bot.retrieval.index import ArticleIndex
from bot.topics import load_contract
from eval.dataset import load_dev_set


def test_contract_dev_set_shares_no_text_with_training_data() -> None:
    train = {normalise(e.text) for e in td.load_dir(ROOT / "nlu_data").examples}
    dev = load_dev_set()
    shared = sorted({c.text for c in dev.cases if normalise(c.text) in train})
    # Conversation openers ("hej") may repeat training text: the label rests on the later turns.
    last_turns = sorted({c.turns[-1] for c in dev.conversations if normalise(c.turns[-1]) in train})
    assert shared == []
    assert last_turns == []


@pytest.mark.parametrize(
    ("text", "surface"),
    [("İbrahim har fået boligsikringen", "boligsikringen"), ("Jeg hedder İlker og bor i Aarhus", "Aarhus")],
)
def test_entities_offsets_survive_length_changing_lowercase(text: str, surface: str) -> None:
    data = td.load_dir(ROOT / "nlu_data")
    (found,) = EntityExtractor(data.synonym_map(), data.lookups).extract(text)
    assert found.text == surface


@pytest.mark.parametrize(
    "line",
    ["[Vestergade 12(adresse)", "[[Vestergade 12](adresse)", "[Vestergade 12](adresse))", '[Vestergade 12]{"entity": "adresse"}}'],
)
def test_training_data_unbalanced_annotation(line: str) -> None:
    content = f'version: "3.1"\nnlu:\n- intent: affald_toemning\n  examples: |\n    - skraldet på {line} er ikke hentet\n'
    with pytest.raises(TrainingDataError, match=r"\(intent 'affald_toemning'\): unbalanced"):
        td.loads(content, "broken.yml")


def test_training_data_round_trip_value_with_parentheses() -> None:
    content = 'version: "3.1"\nnlu:\n- intent: affald_toemning\n  examples: |\n    - hvornår hentes [pap]{"entity": "affaldstype", "value": "papir (pap)"}\n'
    first = td.loads(content, "paren.yml")
    assert td.loads(td.dumps(first), "again.yml").examples == first.examples


def test_index_topic_filter_finds_articles_of_the_topic() -> None:
    contract = load_contract(ROOT / "knowledge" / "topics.yaml")
    arts = load_articles(ROOT / "knowledge" / "articles", contract)
    emb = LexicalEmbedder()
    index = ArticleIndex.build(arts, emb)
    hits = index.search(emb.queries(["hvornår kommer skraldebilen"])[0], k=5, topics=["borgerservice_pas", "kultur_bibliotek"])
    assert {h.topic for h in hits} == {"borgerservice_pas", "kultur_bibliotek"}


@pytest.mark.parametrize(
    "text",
    [
        "mit cpr er nul et nul et ni nul bindestreg et to tre fire",
        "mit cpr er nul et nul et ni nul streg et to tre fire",
    ],
)
def test_privacy_spoken_cpr_with_dash_word(text: str) -> None:
    assert "fire" not in redact(text) and "nul et" not in redact(text)


def test_privacy_filter_masks_cpr_in_exception_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("report.privacy")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise ValueError("ukendt borger 010190-1234")
    except ValueError:
        logger.exception("opslag fejlede")
    finally:
        logger.removeHandler(handler)
    assert "010190-1234" not in stream.getvalue()
