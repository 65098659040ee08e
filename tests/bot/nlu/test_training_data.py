"""Tests for bot.nlu.training_data: the Rasa NLU YAML 3.1 reader/writer pair.

Every nlu_data file must survive load -> dumps -> loads unchanged, and every malformed input
raises TrainingDataError naming the file and the block (where Rasa warns and skips, we fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import TrainingDataError
from bot.nlu import training_data as td
from bot.nlu.training_data import EntitySpan, Example, TrainingData

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
NLU_DATA = ROOT / "nlu_data"
NLU_FILES = sorted(p for p in NLU_DATA.rglob("*") if p.suffix in (".yml", ".yaml"))


def _assert_same(a: TrainingData, b: TrainingData) -> None:
    assert a.examples == b.examples  # intent, text, entity spans with entity names and values, in order
    assert a.synonyms == b.synonyms
    assert a.regexes == b.regexes
    assert a.lookups == b.lookups


def test_training_data_files_found() -> None:
    assert len(NLU_FILES) > 90  # one file per topic plus nlu_data/entities/


@pytest.mark.parametrize("path", NLU_FILES, ids=lambda p: str(p.relative_to(NLU_DATA)))
def test_training_data_round_trip_every_file(path: Path) -> None:
    first = td.load(path)
    assert first.examples or first.synonyms or first.regexes or first.lookups
    again = td.loads(td.dumps(first), f"dumps({path.name})")
    _assert_same(first, again)
    # and writing the re-read data gives the same text: the writer is deterministic
    assert td.dumps(again) == td.dumps(first)


def test_training_data_round_trip_through_a_file(tmp_path: Path) -> None:
    data = td.load(NLU_DATA / "affald" / "affald_toemning.yml")
    out = tmp_path / "affald_toemning.yml"
    td.dump(data, out)
    _assert_same(data, td.load(out))


# --- hand-written annotations ----------------------------------------------------------------


def _one(raw: str, intent: str = "affald_toemning") -> Example:
    content = f'version: "3.1"\nnlu:\n- intent: {intent}\n  examples: |\n    - {raw}\n'
    data = td.loads(content, "handwritten.yml")
    assert len(data.examples) == 1
    return data.examples[0]


def test_training_data_rasa_golden_offsets() -> None:
    # Rasa's own documentation example: the entity spans characters 32-45 of the plain text
    ex = _one("Hvornår kommer skraldebilen til [Vestergade 12](adresse)?")
    assert ex.text == "Hvornår kommer skraldebilen til Vestergade 12?"
    assert ex.entities == (EntitySpan(32, 45, "adresse", None),)
    assert ex.text[32:45] == "Vestergade 12"


@pytest.mark.parametrize(
    ("raw", "text", "span", "value"),
    [
        ("kan jeg få hjælp til [husleje](ydelse:boligstøtte)", "kan jeg få hjælp til husleje", (21, 28), "boligstøtte"),
        (
            'kan jeg få hjælp til [husleje]{"entity": "ydelse", "value": "boligstøtte"}',
            "kan jeg få hjælp til husleje",
            (21, 28),
            "boligstøtte",
        ),
        ('hvornår hentes [pap]{"entity": "affaldstype"}', "hvornår hentes pap", (15, 18), None),
        ("hvornår henter i [pap](affaldstype:papir og pap) og papir", "hvornår henter i pap og papir", (17, 20), "papir og pap"),
        ("[Nørrebrogade 45](adresse) er ikke tømt", "Nørrebrogade 45 er ikke tømt", (0, 15), None),
    ],
    ids=["short-value", "json-value", "json-no-value", "value-with-spaces", "at-start"],
)
def test_training_data_annotation_forms(raw: str, text: str, span: tuple[int, int], value: str | None) -> None:
    ex = _one(raw)
    assert ex.text == text
    (ent,) = ex.entities
    assert (ent.start, ent.end) == span
    assert ent.value == value
    assert ex.text[ent.start : ent.end] == raw[raw.index("[") + 1 : raw.index("]")]
    # writing it back and reading again keeps spans and values
    assert _one(ex.annotated()) == ex


def test_training_data_two_entities_in_one_example() -> None:
    ex = _one("jeg flytter fra [Vestergade 12](adresse) den [1. maj](dato)")
    assert ex.text == "jeg flytter fra Vestergade 12 den 1. maj"
    assert [(e.entity, ex.text[e.start : e.end]) for e in ex.entities] == [
        ("adresse", "Vestergade 12"),
        ("dato", "1. maj"),
    ]


def test_training_data_synonym_regex_lookup_blocks() -> None:
    content = (
        'version: "3.1"\n'
        "nlu:\n"
        "- intent: boligstoette_boligstoette\n"
        "  examples: |\n"
        "    - kan jeg få [boligsikring](ydelse:boligstøtte)\n"
        "    - hvordan søger jeg boligstøtte\n"
        "- synonym: boligstøtte\n"
        "  examples: |\n"
        "    - boligsikring\n"
        "    - boligydelse\n"
        "- regex: cpr\n"
        "  examples: |\n"
        "    - \\b\\d{6}-?\\d{4}\\b\n"
        "- lookup: kommune\n"
        "  examples: |\n"
        "    - Aarhus\n"
        "    - Høje-Taastrup\n"
    )
    data = td.loads(content, "blocks.yml")
    assert data.synonyms == {"boligstøtte": ["boligsikring", "boligydelse"]}
    assert data.regexes == {"cpr": [r"\b\d{6}-?\d{4}\b"]}
    assert data.lookups == {"kommune": ["Aarhus", "Høje-Taastrup"]}
    assert data.synonym_map() == {"boligsikring": "boligstøtte", "boligydelse": "boligstøtte"}
    _assert_same(data, td.loads(td.dumps(data), "again.yml"))


def test_training_data_synonym_names_that_need_quoting_round_trip() -> None:
    data = TrainingData(synonyms={"ja: nej": ["jo"], "123": ["et to tre"]}, lookups={"by": ["Aarhus"]})
    _assert_same(data, td.loads(td.dumps(data), "quoted.yml"))


def test_training_data_load_dir_merges_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.yml").write_text('version: "3.1"\nnlu:\n- synonym: pas\n  examples: |\n    - rejsepas\n')
    (tmp_path / "b" / "c.yml").write_text(
        'version: "3.1"\nnlu:\n- synonym: pas\n  examples: |\n    - passet\n    - rejsepas\n'
        "- intent: borgerservice_pas\n  examples: |\n    - nyt pas\n"
    )
    data = td.load_dir(tmp_path)
    assert data.synonyms == {"pas": ["rejsepas", "passet"]}
    assert [e.text for e in data.examples] == ["nyt pas"]


def test_training_data_load_dir_without_files_fails(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no training data files"):
        td.load_dir(tmp_path)


# --- malformed input ---------------------------------------------------------------------------

_HEAD = 'version: "3.1"\nnlu:\n'
_INTENT = "- intent: affald_toemning\n  examples: |\n"

MALFORMED = [
    ("wrong-version", 'version: "3.0"\nnlu:\n' + _INTENT + "    - hej\n", "`version` must be"),
    ("no-version", "nlu:\n" + _INTENT + "    - hej\n", "`version` must be"),
    ("not-yaml", _HEAD + "- intent: [affald\n", "not valid YAML"),
    ("top-level-list", "- intent: affald_toemning\n", "top level must be a mapping"),
    ("unknown-top-key", _HEAD.replace("nlu:", "rules: []\nnlu:") + _INTENT + "    - hej\n", "unknown top-level keys"),
    ("empty-nlu", _HEAD.replace("nlu:", "nlu: []"), "`nlu:` must be a non-empty list"),
    ("missing-examples", _HEAD + "- intent: affald_toemning\n", "(intent 'affald_toemning')"),
    (
        "examples-as-list",
        _HEAD + "- intent: affald_toemning\n  examples:\n    - hej\n    - goddag\n",
        "(intent 'affald_toemning'): `examples:` must be a literal block",
    ),
    ("empty-examples", _HEAD + _INTENT + "\n", "(intent 'affald_toemning'): block has no examples"),
    (
        "line-without-dash",
        _HEAD + _INTENT + "    - hvornår kommer skraldebilen\n    skraldespanden er ikke tømt\n",
        "(intent 'affald_toemning'): example line 2 does not start with '- '",
    ),
    (
        "dash-without-space",
        _HEAD + _INTENT + "    -hvornår kommer skraldebilen\n",
        "(intent 'affald_toemning'): example line 1 does not start",
    ),
    (
        "duplicate-examples",
        _HEAD + _INTENT + "    - skraldespanden er ikke tømt\n    - hej\n    - skraldespanden er ikke tømt\n",
        "(intent 'affald_toemning'): duplicate examples: ['skraldespanden er ikke tømt']",
    ),
    (
        "unbalanced-missing-paren",
        _HEAD + _INTENT + "    - skraldet på [Vestergade 12](adresse er ikke hentet\n",
        "(intent 'affald_toemning'): unbalanced entity annotation",
    ),
    (
        "unbalanced-missing-bracket",
        _HEAD + _INTENT + "    - skraldet på Vestergade 12](adresse) er ikke hentet\n",
        "(intent 'affald_toemning'): unbalanced entity annotation",
    ),
    (
        "unbalanced-json",
        _HEAD + _INTENT + '    - skraldet på [Vestergade 12]{"entity": "adresse" er ikke hentet\n',
        "(intent 'affald_toemning'): unbalanced entity annotation",
    ),
    (
        "json-without-entity",
        _HEAD + _INTENT + '    - skraldet på [Vestergade 12]{"value": "x"}\n',
        "(intent 'affald_toemning'): bad entity annotation",
    ),
    (
        "bad-entity-name",
        _HEAD + _INTENT + "    - skraldet på [Vestergade 12](gade nummer)\n",
        "(intent 'affald_toemning'): bad entity name",
    ),
    (
        "bad-regex",
        _HEAD + "- regex: cpr\n  examples: |\n    - \\d{6}(-\\d{4}\n",
        "(regex 'cpr'): invalid regex",
    ),
    (
        "two-block-kinds",
        _HEAD + "- intent: affald_toemning\n  synonym: skrald\n  examples: |\n    - hej\n",
        "(nlu block 1): a block needs exactly one of",
    ),
    ("no-block-kind", _HEAD + "- examples: |\n    - hej\n", "(nlu block 1): a block needs exactly one of"),
    (
        "unknown-block-key",
        _HEAD + _INTENT + "    - hej\n- intent: dialog_tak\n  example: |\n    - tak\n",
        "(nlu block 2): unknown keys ['example']",
    ),
    ("nameless-intent", _HEAD + '- intent: ""\n  examples: |\n    - hej\n', "(nlu block 1): `intent:` needs a name"),
    ("block-not-mapping", _HEAD + "- hej\n", "(nlu block 1): each block must be a mapping"),
]


@pytest.mark.parametrize(("content", "fragment"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_training_data_malformed_raises_naming_file_and_block(content: str, fragment: str) -> None:
    with pytest.raises(TrainingDataError) as info:
        td.loads(content, "nlu_data/affald/broken.yml")
    message = str(info.value)
    assert message.startswith("nlu_data/affald/broken.yml")
    assert fragment in message
    assert info.value.path.startswith("nlu_data/affald/broken.yml")


def test_training_data_load_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "affald_toemning.yml"
    path.write_text(_HEAD + _INTENT + "    - hej\n    - hej\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="duplicate examples") as info:
        td.load(path)
    assert str(path) in str(info.value)


def test_training_data_error_in_a_later_block_is_not_skipped() -> None:
    content = _HEAD + _INTENT + "    - hej\n- intent: dialog_tak\n  examples: |\n    - tak\n    -tak skal du have\n"
    with pytest.raises(TrainingDataError, match=r"\(intent 'dialog_tak'\): example line 2"):
        td.loads(content, "two.yml")
