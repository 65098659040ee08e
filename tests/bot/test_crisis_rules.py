"""The pure part of crisis mode (bot/crisis.py): messages, keywords, which questions are about the
crisis, where they go, and who joins the crisis queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.crisis import (
    CRISIS_TOPIC,
    Crisis,
    SkillGrant,
    clean_keywords,
    clean_message,
    crisis_decision,
    grants_for,
    keyword_hit,
    related,
    undo_grants,
)
from bot.errors import InvalidCrisisMessage
from bot.types import Action, HandoffReason, TriageDecision

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _crisis(queue: str | None = "krise", keywords: tuple[str, ...] = ("sandsæk", "vand i kælderen"),
            en: str | None = None) -> Crisis:  # fmt: skip
    return Crisis("kobenhavn", "Stormflod i aften.", en, queue, keywords, AT, "sara", AT, "sara")


def _decision(action: Action = Action.ANSWER, topic: str | None = "affald_toemning", *, sensitive: bool = False,
              candidates: tuple[str, ...] = ()) -> TriageDecision:  # fmt: skip
    return TriageDecision(action, topic, "borgerservice_basis", sensitive, 0.8, candidates=candidates)


def _never() -> float:
    raise AssertionError("the similarity must not be computed here")


# --- messages and keywords -------------------------------------------------------------------------


def test_clean_message_collapses_whitespace_into_one_paragraph() -> None:
    assert clean_message("  Stormflod\n\ni aften.\tHold\u00a0dig  inde. ") == "Stormflod i aften. Hold dig inde."


@pytest.mark.parametrize(
    "text",
    ["", "   \n ", "x" * 601, "<b>Stormflod</b>", "**Stormflod** i aften", "Se [kort](https://kk.dk)", "# Stormflod"],
)
def test_clean_message_refuses_empty_too_long_and_markup(text: str) -> None:
    with pytest.raises(InvalidCrisisMessage):
        clean_message(text)


def test_clean_message_keeps_danish_punctuation_and_numbers() -> None:
    text = "Ring 33 66 33 66 kl. 8-16, bl.a. om sandsække (gratis) – også i weekenden!"
    assert clean_message(text) == text


def test_clean_keywords_lowercases_and_deduplicates_in_order() -> None:
    assert clean_keywords(["Sandsæk", " OVERSVØM ", "sandsæk", "Vand  i kælderen"]) == (
        "sandsæk", "oversvøm", "vand i kælderen",
    )  # fmt: skip


@pytest.mark.parametrize("words", [["x"], ["a" * 41], ["--"], [f"ord{i}" for i in range(21)]])
def test_clean_keywords_refuses_bad_words(words: list[str]) -> None:
    with pytest.raises(InvalidCrisisMessage):
        clean_keywords(words)


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("Hvor kan jeg hente SANDSÆKKE?", True),  # prefix of a word, any case
        ("Der står vand i kælderen hos os", True),  # a phrase
        ("Vandet i kælderen stiger", False),  # the phrase needs its words in order
        ("Jeg har en sæk med sand", False),
        ("Hvornår kommer skraldebilen?", False),
    ],
)
def test_keyword_hit_danish(text: str, hit: bool) -> None:
    assert keyword_hit(text, ("sandsæk", "vand i kælderen")) is hit


def test_short_keyword_matches_only_the_whole_word() -> None:
    assert keyword_hit("Strøm på Amager?", ("amager", "el"))
    assert not keyword_hit("Hvor er elevatoren?", ("el",))
    assert keyword_hit("Er der el?", ("el",))


# --- which questions are about the crisis ----------------------------------------------------------


def test_related_by_keyword_or_crisis_topic_without_computing_similarity() -> None:
    crisis = _crisis()
    assert related("Hvor er sandsækkene?", crisis, _decision(), _never)
    assert related("Hvad gør jeg nu?", crisis, _decision(Action.ANSWER, CRISIS_TOPIC), _never)
    assert related("Hvad gør jeg nu?", crisis, _decision(Action.CLARIFY, None, candidates=("x", CRISIS_TOPIC)), _never)


def test_a_confident_everyday_answer_is_not_about_the_crisis() -> None:
    assert not related("Hvornår bliver mit affald hentet?", _crisis(), _decision(), _never)


@pytest.mark.parametrize(("similarity", "expected"), [(0.86, True), (0.84, True), (0.83, False)])
def test_an_unplaced_message_is_decided_by_similarity(similarity: float, expected: bool) -> None:
    decision = _decision(Action.OUT_OF_SCOPE, None)
    assert related("Vandet stiger, hvad nu?", _crisis(keywords=()), decision, lambda: similarity) is expected


# --- where it goes -----------------------------------------------------------------------------------


def test_crisis_decision_hands_off_to_the_crisis_queue() -> None:
    routed = crisis_decision(_decision(Action.ANSWER, CRISIS_TOPIC), _crisis())
    assert routed is not None
    assert (routed.action, routed.queue, routed.reason, routed.article) == (
        Action.HANDOFF, "krise", HandoffReason.TOPIC_POLICY, None,
    )  # fmt: skip
    assert routed.topic == CRISIS_TOPIC and "crisis" in routed.explanation


@pytest.mark.parametrize(
    "decision",
    [_decision(Action.EMERGENCY, "dialog_noedsituation"), _decision(Action.HANDOFF, "social_vold", sensitive=True)],
)
def test_danger_and_sensitive_situations_keep_their_own_way(decision: TriageDecision) -> None:
    assert crisis_decision(decision, _crisis()) is None


def test_without_a_crisis_queue_nothing_is_rerouted() -> None:
    assert crisis_decision(_decision(), _crisis(queue=None)) is None


# --- the wording ---------------------------------------------------------------------------------------


def test_wording_per_channel_and_language() -> None:
    crisis = _crisis(en="Storm surge tonight.")
    assert crisis.spoken() == "Vigtig besked: Stormflod i aften."
    assert crisis.spoken("en") == "Important message: Storm surge tonight."
    assert crisis.mail_paragraph("en") == "Important message: Storm surge tonight."
    assert crisis.chat_text() == "Vigtig besked: Stormflod i aften.\n\nImportant message: Storm surge tonight."
    danish_only = _crisis()
    assert danish_only.mail_paragraph("en") == "Vigtig besked: Stormflod i aften."  # no English version given
    assert danish_only.chat_text() == "Vigtig besked: Stormflod i aften."
    assert danish_only.handoff_text("en").startswith("Your question is about the current situation")


# --- the crisis queue ------------------------------------------------------------------------------------


def test_grants_for_agents_at_or_above_the_level_at_their_own_level() -> None:
    skills = {"anne": {"basis": 7}, "bo": {"basis": 3}, "cai": {"basis": 5, "krise": 2}, "dan": {"basis": 6, "krise": 9},
              "eva": {"esb": 9}}  # fmt: skip
    assert grants_for(skills, "basis", 5, "krise") == [
        SkillGrant("anne", "krise", 7, None), SkillGrant("cai", "krise", 5, 2),
    ]  # fmt: skip  (dan already has 9 for the crisis queue; bo is below; eva is not in the queue)


def test_undo_only_where_the_level_is_still_the_one_given() -> None:
    grants = [SkillGrant("anne", "krise", 7, None), SkillGrant("cai", "krise", 5, 2)]
    now = {"anne": {"krise": 7}, "cai": {"krise": 8}}  # a supervisor raised cai meanwhile
    assert undo_grants(grants, now) == [SkillGrant("anne", "krise", 7, None)]
