"""`python -m bot export nlu`: the training data as Rasa NLU YAML, read back the same."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest
import yaml

from bot.config import ROOT, Settings
from bot.errors import TrainingDataError
from bot.knowledge import rasa_export
from bot.knowledge.cli import run_knowledge_command
from bot.knowledge.rasa_export import differences, export_nlu
from bot.nlu.training_data import Example, TrainingData, load, load_dir, loads

pytestmark = pytest.mark.unit

NLU_DATA = ROOT / "nlu_data"


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return load_dir(NLU_DATA)


def test_export_reads_back_with_the_same_intents_examples_synonyms_and_lookups(data):
    back = loads(export_nlu(data), "<export>")
    assert back.intents == data.intents
    assert Counter(back.examples) == Counter(data.examples)  # text and entity spans
    assert {k: sorted(v) for k, v in back.synonyms.items()} == {k: sorted(v) for k, v in data.synonyms.items()}
    assert {k: sorted(v) for k, v in back.lookups.items()} == {k: sorted(v) for k, v in data.lookups.items()}
    assert back.regexes == data.regexes
    assert differences(data, back) == []


def test_export_is_rasa_nlu_yaml_3_1(data):
    doc = yaml.safe_load(export_nlu(data))
    assert doc["version"] == "3.1" and set(doc) == {"version", "nlu"}
    kinds = Counter(next(k for k in ("intent", "synonym", "regex", "lookup") if k in b) for b in doc["nlu"])
    assert kinds["intent"] == len(data.intents)
    assert kinds["synonym"] == len(data.synonyms) and kinds["lookup"] == len(data.lookups)
    for block in doc["nlu"]:
        assert set(block) - {"intent", "synonym", "regex", "lookup"} == {"examples"}
        assert isinstance(block["examples"], str)  # `examples: |`, as Rasa writes them
        assert all(line.startswith("- ") for line in block["examples"].splitlines())


def test_entities_annotated_inline_survive(data):
    with_entities = [e for e in data.examples if e.entities]
    assert with_entities, "the training data annotates some entities"
    back = set(loads(export_nlu(data)).examples)
    assert all(e in back for e in with_entities)


def test_differences_name_what_was_lost():
    a = TrainingData([Example("x", "hej"), Example("x", "goddag")], synonyms={"a": ["b"]})
    b = TrainingData([Example("x", "hej")], synonyms={"a": ["c"]})
    problems = differences(a, b)
    assert any("1 lost" in p and "goddag" in p for p in problems)
    assert any("synonyms differ for ['a']" in p for p in problems)


def test_an_export_that_would_not_read_back_the_same_is_refused(monkeypatch, data):
    monkeypatch.setattr(rasa_export, "dumps", lambda d: 'version: "3.1"\nnlu:\n- intent: x\n  examples: |\n    - hej\n')
    with pytest.raises(TrainingDataError, match="does not read back the same"):
        export_nlu(data)


def test_cli_writes_the_file(tmp_path, data, capsys):
    out = tmp_path / "rasa" / "nlu.yml"
    args = argparse.Namespace(command="export", export_what="nlu", out=out)
    assert run_knowledge_command(args, Settings(nlu_data_dir=NLU_DATA)) == 0
    assert differences(data, load(out)) == []
    assert f"{len(data.intents)} intents" in capsys.readouterr().err


def test_export_is_registered_in_python_m_bot(tmp_path, data):
    from bot.__main__ import main

    out = tmp_path / "nlu.yml"
    assert main(["export", "nlu", "--out", str(out)]) == 0
    assert differences(data, load(out)) == []
