"""Tests for bot.topics: the topic contract in knowledge/topics.yaml and its cross-field rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from bot.errors import TopicContractError
from bot.topics import EMERGENCY, HUMAN, OUT_OF_SCOPE, Handling, TopicContract, load_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "knowledge" / "topics.yaml"
SHARED_SPEC = ROOT.parent / "shared" / "spec" / "topics.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(TOPICS.read_text(encoding="utf-8"))


def _topic(raw: dict, topic_id: str) -> dict:
    return next(t for t in raw["topics"] if t["id"] == topic_id)


def test_topics_contract_loads_and_passes_check() -> None:
    contract = load_contract(TOPICS)
    contract.check()  # load_contract already ran it; a second run must not find anything either
    assert {OUT_OF_SCOPE, EMERGENCY, HUMAN} <= set(contract.by_id)
    assert len(contract.by_id) == len(contract.topics)
    assert all(t.queue in contract.queue_by_id for t in contract.topics)


def test_topics_contract_equals_shared_spec() -> None:
    if not SHARED_SPEC.exists():
        pytest.skip(f"{SHARED_SPEC} is not present on this machine")
    ours = yaml.safe_load(TOPICS.read_text(encoding="utf-8"))
    spec = yaml.safe_load(SHARED_SPEC.read_text(encoding="utf-8"))
    assert ours == spec


def test_topics_lookup_of_unknown_id_names_it() -> None:
    contract = load_contract(TOPICS)
    with pytest.raises(TopicContractError, match="'affald_findes_ikke'"):
        contract.topic("affald_findes_ikke")
    assert contract.topic("affald_toemning").handling == Handling.ANSWER


def _break_unknown_queue(raw: dict) -> str:
    _topic(raw, "affald_toemning")["queue"] = "koe_findes_ikke"
    return "affald_toemning"


def _break_duplicate_topic(raw: dict) -> str:
    raw["topics"].append(copy.deepcopy(_topic(raw, "borgerservice_pas")))
    return "borgerservice_pas"


def _break_duplicate_queue(raw: dict) -> str:
    raw["queues"].append(copy.deepcopy(raw["queues"][0]))
    return raw["queues"][0]["id"]


def _break_sensitive_answer(raw: dict) -> str:
    _topic(raw, "social_vold")["handling"] = "answer"
    return "social_vold"


def _break_sensitive_selfservice(raw: dict) -> str:
    _topic(raw, "boern_bekymring")["handling"] = "selfservice"
    return "boern_bekymring"


def _break_level2_answer(raw: dict) -> str:
    topic = _topic(raw, "generelt_sagsstatus")
    assert topic["level"] == 2
    topic["handling"] = "answer"
    return "generelt_sagsstatus"


def _break_level3_selfservice(raw: dict) -> str:
    topic = _topic(raw, "byggeri_konkret_sag")
    assert topic["level"] == 3
    topic["handling"] = "selfservice"
    return "byggeri_konkret_sag"


def _break_domain_prefix(raw: dict) -> str:
    _topic(raw, "kultur_bibliotek")["domain"] = "borgerservice"
    return "kultur_bibliotek"


def _break_missing_human(raw: dict) -> str:
    raw["topics"] = [t for t in raw["topics"] if t["id"] != HUMAN]
    return HUMAN


@pytest.mark.parametrize(
    "breaker",
    [
        _break_unknown_queue,
        _break_duplicate_topic,
        _break_duplicate_queue,
        _break_sensitive_answer,
        _break_sensitive_selfservice,
        _break_level2_answer,
        _break_level3_selfservice,
        _break_domain_prefix,
        _break_missing_human,
    ],
    ids=lambda f: f.__name__.removeprefix("_break_"),
)
def test_topics_broken_contract_names_offending_id(raw: dict, breaker, tmp_path: Path) -> None:
    broken = copy.deepcopy(raw)
    offender = breaker(broken)
    contract = TopicContract.model_validate(broken)
    with pytest.raises(TopicContractError, match=offender):
        contract.check()
    # load_contract runs the same check, so a broken file never loads
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TopicContractError, match=offender):
        load_contract(path)


def test_topics_sensitive_topic_with_handoff_is_valid(raw: dict) -> None:
    # the counterpart of the sensitive/answer rule: the real sensitive topics hand off and pass
    contract = TopicContract.model_validate(copy.deepcopy(raw))
    sensitive = [t for t in contract.topics if t.sensitive]
    assert sensitive and all(t.handling in (Handling.HANDOFF, Handling.EMERGENCY) for t in sensitive)
    contract.check()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda r: _topic(r, "affald_toemning").update(farve="grøn"), "farve"),
        (lambda r: _topic(r, "affald_toemning").update(level=4), "level"),
        (lambda r: _topic(r, "affald_toemning").update(handling="svar"), "svar"),
        (lambda r: _topic(r, "affald_toemning").update(id="Affald-Toemning"), "Affald-Toemning"),
    ],
    ids=["unknown-key", "level-4", "unknown-handling", "bad-id"],
)
def test_topics_schema_errors_become_contract_errors(raw: dict, tmp_path: Path, mutate, fragment: str) -> None:
    broken = copy.deepcopy(raw)
    mutate(broken)
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TopicContractError, match=fragment) as info:
        load_contract(path)
    assert str(path) in str(info.value)


def test_topics_missing_file_is_a_contract_error(tmp_path: Path) -> None:
    missing = tmp_path / "findes_ikke.yaml"
    with pytest.raises(TopicContractError, match="findes_ikke.yaml"):
        load_contract(missing)
