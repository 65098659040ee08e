"""Tests for bot.nlu.entities: rule-based Danish entities (CPR, phone, e-mail, CVR, case numbers,
dates, addresses) and synonym/lookup matches mapped to canonical values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu import training_data as td
from bot.nlu.entities import EntityExtractor
from bot.types import Entity

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    data = td.load_dir(ROOT / "nlu_data")
    return EntityExtractor(data.synonym_map(), data.lookups)


def _only(found: tuple[Entity, ...], entity: str) -> Entity:
    matching = [e for e in found if e.entity == entity]
    assert len(matching) == 1, found
    return matching[0]


CASES = [
    # (text, entity, surface, value)
    ("mit cpr-nummer er 010190-1234", "cpr", "010190-1234", "010190-1234"),
    ("mit cpr-nummer er 0101901234", "cpr", "0101901234", "010190-1234"),
    ("cpr 311299 4321 tak", "cpr", "311299 4321", "311299-4321"),
    ("ring til mig på 22 33 44 55", "telefon", "22 33 44 55", "22334455"),
    ("mit nummer er +45 22334455", "telefon", "+45 22334455", "+4522334455"),
    ("tlf. 22-33-44-55", "telefon", "22-33-44-55", "22334455"),
    ("skriv til Jens.Hansen@Example.dk", "email", "Jens.Hansen@Example.dk", "jens.hansen@example.dk"),
    ("vores CVR 12345678 er nyt", "cvr", "12345678", "12345678"),
    ("CVR-nr. 12 34 56 78", "cvr", "12 34 56 78", "12345678"),
    ("det drejer sig om sagsnr. 2024-12345", "sagsnummer", "2024-12345", "2024-12345"),
    ("jeg har fået et brev med journalnummer 22/4711", "sagsnummer", "22/4711", "22/4711"),
    ("min tid er den 12. december 2026", "dato", "12. december 2026", "2026-12-12"),
    ("kan jeg flytte ind 1. maj", "dato", "1. maj", "--05-01"),
    ("kan jeg komme 3/1", "dato", "3/1", "--01-03"),
    ("fristen er 15-08-2027", "dato", "15-08-2027", "2027-08-15"),
    ("kan jeg komme i morgen", "dato", "i morgen", "i morgen"),
    ("Hvornår kommer skraldebilen til Vestergade 12?", "adresse", "Vestergade 12", "Vestergade 12"),
    ("jeg bor på Gammel Kongevej 10, 2. th", "adresse", "Gammel Kongevej 10, 2. th", "Gammel Kongevej 10, 2. th"),
    ("storskrald fra Nørrebrogade 45 2200 København", "adresse", "Nørrebrogade 45 2200 København", "Nørrebrogade 45 2200 København"),
]


@pytest.mark.parametrize(("text", "entity", "surface", "value"), CASES, ids=[c[2] for c in CASES])
def test_entities_danish_rule_cases(
    extractor: EntityExtractor, text: str, entity: str, surface: str, value: str
) -> None:
    found = _only(extractor.extract(text), entity)
    assert text[found.start : found.end] == surface
    assert found.text == surface
    assert found.value == value
    assert found.extractor == "RegexEntityExtractor"


def test_entities_rasa_golden_offsets(extractor: EntityExtractor) -> None:
    found = _only(extractor.extract("Hvornår kommer skraldebilen til Vestergade 12?"), "adresse")
    assert (found.start, found.end) == (32, 45)


@pytest.mark.parametrize(
    "text",
    ["cpr 451390-1234", "cpr 320190-1234", "nummeret 011390-1234"],
    ids=["month-13-day-45", "day-32", "month-13"],
)
def test_entities_invalid_date_is_not_a_cpr(extractor: EntityExtractor, text: str) -> None:
    assert [e for e in extractor.extract(text) if e.entity == "cpr"] == []


def test_entities_cpr_is_never_also_a_phone(extractor: EntityExtractor) -> None:
    found = extractor.extract("cpr 010190-1234 og tlf 22 33 44 55")
    assert [(e.entity, e.text) for e in found] == [("cpr", "010190-1234"), ("telefon", "22 33 44 55")]


@pytest.mark.parametrize(
    ("text", "surface", "value", "processors"),
    [
        ("jeg har fået boligsikringen", "boligsikringen", "boligstøtte", ("EntitySynonymMapper",)),
        ("hvad med boligsikring", "boligsikring", "boligstøtte", ("EntitySynonymMapper",)),
        ("kan jeg få BOLIGSTØTTE", "BOLIGSTØTTE", "boligstøtte", ()),
        ("hvornår kommer min folke pension", "folke pension", "folkepension", ("EntitySynonymMapper",)),
        ("er der noget med alderspension", "alderspension", "folkepension", ("EntitySynonymMapper",)),
    ],
)
def test_entities_synonyms_map_to_canonical_value(
    extractor: EntityExtractor, text: str, surface: str, value: str, processors: tuple[str, ...]
) -> None:
    found = _only(extractor.extract(text), "ydelse")
    assert text[found.start : found.end] == surface
    assert found.value == value
    assert found.processors == processors
    assert found.extractor == "LookupEntityExtractor"


def test_entities_lookup_match(extractor: EntityExtractor) -> None:
    found = _only(extractor.extract("jeg er flyttet fra Aarhus"), "kommune")
    assert (found.text, found.value, found.processors) == ("Aarhus", "Aarhus", ())


def test_entities_nothing_in_a_plain_question(extractor: EntityExtractor) -> None:
    assert extractor.extract("hvornår har biblioteket åbent") == ()


MIXED = [
    "Hej, jeg hedder Åse og bor på Gammel Kongevej 10, 2. th. Mit cpr er 010190-1234 og tlf +45 22334455.",
    "Skriv til jens@example.dk om sagsnr. 2024-12345 inden 12. december 2026, tak!",
    "boligsikringen og alderspension, CVR 12345678, i morgen på Vestergade 12",
    "   mange   mellemrum   før 3/1  og   22 33 44 55   ",
    "Æblevej 4 – Ørstedsgade 7 – Åboulevard 1",
]


@pytest.mark.parametrize("text", MIXED)
def test_entities_spans_index_the_original_text(extractor: EntityExtractor, text: str) -> None:
    found = extractor.extract(text)
    assert found, text
    for e in found:
        assert text[e.start : e.end] == e.text
    starts = [e.start for e in found]
    assert starts == sorted(starts)
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start  # no overlapping entities


def test_entities_tokens_are_character_offsets(extractor: EntityExtractor) -> None:
    text = "Hvornår kommer skraldebilen?"
    assert [text[s:e] for s, e in extractor.tokens(text)] == ["Hvornår", "kommer", "skraldebilen", "?"]
