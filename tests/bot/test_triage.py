"""Tests for bot.triage with hand-built NLU results and article hits against the real topic
contract: emergency > sensitive > human > out of scope > topic handling > clarify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.topics import EMERGENCY, HUMAN, OUT_OF_SCOPE, Handling, load_contract
from bot.triage import TriagePolicy, triage
from bot.types import (
    Action,
    ArticleHit,
    ArticleRef,
    HandoffReason,
    IntentScore,
    NLUResult,
    SafetySignal,
    TriageDecision,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")


def _ref(article_id: str) -> ArticleRef:
    return ArticleRef(
        id=article_id,
        title=f"Artikel {article_id}",
        source="Kilde",
        source_url="https://www.borger.dk/",
        reviewed="2026-11-01",
        historical=False,
    )


ARTICLE_IDS = [
    "affald_toemning",
    "affald_storskrald",
    "borgerservice_pas",
    "borgerservice_pas--legitimationskort",
    "borgerservice_flytning",
    "boligstoette_boligstoette",
    "dialog_hilsen",
]
ARTICLES = {a: _ref(a) for a in ARTICLE_IDS}
BY_TOPIC: dict[str, list[str]] = {}
for _a in ARTICLE_IDS:
    BY_TOPIC.setdefault(_a.split("--")[0], []).append(_a)


def nlu(*ranking: tuple[str, float], safety: SafetySignal = SafetySignal(), out_of_scope: float = 0.0) -> NLUResult:
    return NLUResult(
        text="(hand-built)",
        ranking=tuple(IntentScore(n, c) for n, c in ranking),
        safety=safety,
        out_of_scope=out_of_scope,
    )


def decide(result: NLUResult, hits: tuple[ArticleHit, ...] = (), previous_topic: str | None = None,
           articles=ARTICLES, by_topic=BY_TOPIC) -> TriageDecision:
    return triage(result, CONTRACT, hits, articles, by_topic, TriagePolicy(), previous_topic=previous_topic)


def hit(article_id: str, score: float = 0.8) -> ArticleHit:
    return ArticleHit(article_id, article_id.split("--")[0], score)


def test_triage_contract_topics_used_here_have_expected_handling() -> None:
    # guards the assumptions below against a contract edit
    assert CONTRACT.topic("affald_toemning").handling == Handling.ANSWER
    assert CONTRACT.topic("borgerservice_flytning").handling == Handling.SELFSERVICE
    assert CONTRACT.topic("generelt_sagsstatus").level == 2
    assert CONTRACT.topic("byggeri_konkret_sag").level == 3
    assert CONTRACT.topic("social_vold").sensitive


# --- emergency ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        nlu(("affald_toemning", 0.95), safety=SafetySignal(emergency=0.95, reasons=("lexicon:emergency:'kniv'",))),
        nlu((EMERGENCY, 0.6), ("social_vold", 0.3)),
        nlu((HUMAN, 0.9), safety=SafetySignal(emergency=0.3)),
        nlu((OUT_OF_SCOPE, 0.9), out_of_scope=0.9, safety=SafetySignal(emergency=0.5)),
        nlu(
            ("social_vold", 0.9),
            safety=SafetySignal(emergency=0.9, distress=0.9, topic="social_vold"),
        ),
    ],
    ids=["over-faq", "classifier", "over-human", "over-out-of-scope", "over-sensitive"],
)
def test_triage_emergency_beats_everything(result: NLUResult) -> None:
    d = decide(result, hits=(hit("affald_toemning"),), previous_topic="borgerservice_pas")
    assert d.action == Action.EMERGENCY
    assert d.topic == EMERGENCY
    assert d.queue == CONTRACT.topic(EMERGENCY).queue
    assert d.reason == HandoffReason.EMERGENCY
    assert d.article is None


def test_triage_emergency_below_threshold_is_not_an_emergency() -> None:
    d = decide(nlu(("affald_toemning", 0.9), (EMERGENCY, 0.05), safety=SafetySignal(emergency=0.2)),
               hits=(hit("affald_toemning"),))
    assert d.action == Action.ANSWER


# --- sensitive ---------------------------------------------------------------------------------


def test_triage_weak_emergency_guess_refers_to_112_even_beside_a_sure_sensitive_signal() -> None:
    # Letting a sure "not acute" safety read overrule the weak guess let an emergency of a set
    # nobody here had read go without the 112 answer; the weak guess stays enough on its own.
    weak = nlu((EMERGENCY, 0.17), ("social_vold", 0.15), ("boern_bekymring", 0.1),
               safety=SafetySignal(distress=0.95, topic="social_vold"))
    assert decide(weak).action == Action.EMERGENCY


def test_triage_sensitive_signal_beats_faq_topic() -> None:
    signal = SafetySignal(distress=0.9, topic="social_vold", reasons=("lexicon:social_vold:'slår mig'",))
    d = decide(nlu(("boligstoette_boligstoette", 0.92), safety=signal), hits=(hit("boligstoette_boligstoette"),))
    assert d.action == Action.HANDOFF
    assert d.topic == "social_vold"
    assert d.queue == CONTRACT.topic("social_vold").queue
    assert d.reason == HandoffReason.SENSITIVE
    assert d.sensitive is True
    assert d.article is None


def test_triage_sensitive_top_intent() -> None:
    d = decide(nlu(("boern_bekymring", 0.5), ("boern_skole", 0.3)))
    assert (d.action, d.topic, d.reason) == (Action.HANDOFF, "boern_bekymring", HandoffReason.SENSITIVE)
    assert d.queue == CONTRACT.topic("boern_bekymring").queue


def test_triage_weak_distress_signal_does_not_hand_off() -> None:
    d = decide(nlu(("affald_toemning", 0.9), safety=SafetySignal(distress=0.1, topic="social_vold")),
               hits=(hit("affald_toemning"),))
    assert d.action == Action.ANSWER


# --- human -------------------------------------------------------------------------------------


def test_triage_human_request_goes_to_previous_topic_queue() -> None:
    d = decide(nlu((HUMAN, 0.8), ("affald_storskrald", 0.1)), previous_topic="boligstoette_boligstoette")
    assert d.action == Action.HANDOFF
    assert d.reason == HandoffReason.ASKED_FOR_HUMAN
    assert d.topic == "boligstoette_boligstoette"
    assert d.queue == CONTRACT.topic("boligstoette_boligstoette").queue == "boligstoette_orlov"


@pytest.mark.parametrize("previous", [None, "findes_ikke"])
def test_triage_human_request_without_known_previous_topic(previous: str | None) -> None:
    d = decide(nlu((HUMAN, 0.8)), previous_topic=previous)
    assert (d.action, d.topic, d.reason) == (Action.HANDOFF, HUMAN, HandoffReason.ASKED_FOR_HUMAN)
    assert d.queue == CONTRACT.topic(HUMAN).queue


@pytest.mark.parametrize("previous", [None, "boligstoette_boligstoette"])
def test_triage_unsure_with_a_person_second_hands_off_instead_of_asking(previous: str | None) -> None:
    result = nlu(("generelt_besked", 0.33), (HUMAN, 0.22), ("generelt_navngiven_medarbejder", 0.08))
    d = decide(result, previous_topic=previous)
    assert (d.action, d.reason) == (Action.HANDOFF, HandoffReason.ASKED_FOR_HUMAN)
    assert d.topic == (previous or "generelt_besked")
    # Without the person among the top two, the same uncertainty asks the citizen.
    assert decide(nlu(("generelt_besked", 0.33), ("generelt_klage", 0.22), (HUMAN, 0.2))).action == Action.CLARIFY


# --- out of scope ------------------------------------------------------------------------------


def test_triage_out_of_scope_top_intent() -> None:
    d = decide(nlu((OUT_OF_SCOPE, 0.7), ("kultur_bibliotek", 0.2)))
    assert d.action == Action.OUT_OF_SCOPE
    assert d.queue is None
    assert d.article is None


def test_triage_out_of_scope_score() -> None:
    d = decide(nlu(("kultur_bibliotek", 0.6), out_of_scope=0.8), hits=(hit("affald_toemning"),))
    assert d.action == Action.OUT_OF_SCOPE
    assert d.confidence == pytest.approx(0.8)


# --- topic handling ----------------------------------------------------------------------------


def test_triage_confident_answer_topic_cites_the_hit_article() -> None:
    hits = (hit("borgerservice_pas--legitimationskort", 0.9), hit("borgerservice_pas", 0.7))
    d = decide(nlu(("borgerservice_pas", 0.8), ("borgerservice_koerekort", 0.1)), hits=hits)
    assert d.action == Action.ANSWER
    assert d.topic == "borgerservice_pas"
    assert d.article == ARTICLES["borgerservice_pas--legitimationskort"]
    assert d.reason is None


def test_triage_answer_skips_hits_of_other_topics() -> None:
    hits = (hit("affald_storskrald", 0.9), hit("affald_toemning", 0.5))
    d = decide(nlu(("affald_toemning", 0.8), ("affald_storskrald", 0.15)), hits=hits)
    assert (d.action, d.article) == (Action.ANSWER, ARTICLES["affald_toemning"])


def test_triage_answer_falls_back_to_the_topics_first_article() -> None:
    d = decide(nlu(("borgerservice_pas", 0.8)), hits=())
    assert (d.action, d.article) == (Action.ANSWER, ARTICLES["borgerservice_pas"])


def test_triage_selfservice_topic() -> None:
    d = decide(nlu(("borgerservice_flytning", 0.85), ("borgerservice_pas", 0.05)), hits=(hit("borgerservice_flytning"),))
    assert d.action == Action.SELFSERVICE
    assert d.article == ARTICLES["borgerservice_flytning"]
    assert d.queue == "sygesikring_folkeregister"


@pytest.mark.parametrize("topic", ["generelt_sagsstatus", "generelt_aktindsigt", "byggeri_konkret_sag", "miljoe_virksomhed"])
def test_triage_level_2_and_3_topics_hand_off_as_casework(topic: str) -> None:
    assert CONTRACT.topic(topic).level > 1 and not CONTRACT.topic(topic).sensitive
    # even with a matching article hit and an article id under that topic, never cite one
    articles = {**ARTICLES, topic: _ref(topic)}
    by_topic = {**BY_TOPIC, topic: [topic]}
    d = decide(nlu((topic, 0.9)), hits=(ArticleHit(topic, topic, 0.9),), articles=articles, by_topic=by_topic)
    assert d.action == Action.HANDOFF
    assert d.reason == HandoffReason.CASEWORK
    assert d.article is None
    assert d.queue == CONTRACT.topic(topic).queue


def test_triage_level_1_handoff_topic_is_topic_policy() -> None:
    d = decide(nlu(("generelt_book_moede", 0.9)))
    assert (d.action, d.reason, d.article) == (Action.HANDOFF, HandoffReason.TOPIC_POLICY, None)
    assert d.queue == "omstilling"


def test_triage_answer_topic_without_article_hands_off() -> None:
    d = decide(nlu(("kultur_legater", 0.9)), hits=(hit("affald_toemning"),))
    assert d.action == Action.HANDOFF
    assert d.topic == "kultur_legater"
    assert d.reason == HandoffReason.TOPIC_POLICY
    assert d.article is None
    assert d.queue == CONTRACT.topic("kultur_legater").queue


# --- clarify -----------------------------------------------------------------------------------


def test_triage_low_confidence_clarifies_with_non_dialog_candidates() -> None:
    result = nlu(
        ("affald_storskrald", 0.35),
        ("dialog_hilsen", 0.3),
        ("affald_toemning", 0.2),
        ("miljoe_gener", 0.1),
        ("vej_byliv_fejl_vej", 0.05),
    )
    d = decide(result)
    assert d.action == Action.CLARIFY
    assert d.candidates == ("affald_storskrald", "affald_toemning", "miljoe_gener")
    assert d.topic == "affald_storskrald"
    assert d.article is None


def test_triage_clarify_offers_at_least_two_when_available() -> None:
    d = decide(nlu(("borgerservice_pas", 0.4), ("borgerservice_koerekort", 0.35), ("dialog_tak", 0.2), ("kultur_bibliotek", 0.05)))
    assert d.action == Action.CLARIFY
    assert d.candidates == ("borgerservice_pas", "borgerservice_koerekort")
    assert all(not c.startswith("dialog_") for c in d.candidates)


def test_triage_narrow_margin_clarifies_even_above_threshold() -> None:
    d = decide(nlu(("borgerservice_pas", 0.5), ("borgerservice_koerekort", 0.45)), hits=(hit("borgerservice_pas"),))
    assert d.action == Action.CLARIFY
    assert 2 <= len(d.candidates) <= 3


def test_triage_high_top_score_answers_despite_narrow_margin() -> None:
    # probabilities need not sum to one in a hand-built ranking; top >= 0.7 is confident alone
    d = decide(nlu(("borgerservice_pas", 0.72), ("borgerservice_koerekort", 0.66)), hits=(hit("borgerservice_pas"),))
    assert d.action == Action.ANSWER


def test_triage_only_dialog_candidates_is_out_of_scope() -> None:
    d = decide(nlu(("dialog_hilsen", 0.3), ("dialog_tak", 0.25), ("dialog_farvel", 0.2)))
    assert d.action == Action.OUT_OF_SCOPE
    assert d.candidates == ()


# --- retrieval agreement -----------------------------------------------------------------------


def test_triage_retrieval_agreement_lowers_the_bar() -> None:
    result = nlu(("affald_toemning", 0.35), ("affald_storskrald", 0.2), ("miljoe_gener", 0.1))
    without = decide(result, hits=())
    assert without.action == Action.CLARIFY
    agreeing = decide(result, hits=(hit("affald_toemning"),))
    assert agreeing.action == Action.ANSWER
    assert agreeing.article == ARTICLES["affald_toemning"]
    disagreeing = decide(result, hits=(hit("affald_storskrald"), hit("affald_toemning", 0.5)))
    assert disagreeing.action == Action.CLARIFY


def test_triage_retrieval_agreement_has_a_floor() -> None:
    result = nlu(("affald_toemning", 0.2), ("affald_storskrald", 0.05), ("miljoe_gener", 0.04))
    d = decide(result, hits=(hit("affald_toemning"),))
    assert d.action == Action.CLARIFY


# --- acute beats sensitive ---------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["social_selvmordstanker", "social_vold", "boern_bekymring", "social_psykisk_sygdom"])
def test_triage_acute_is_never_downgraded_to_a_sensitive_handoff(topic: str) -> None:
    # distress and the topic classifier both point at a sensitive queue, far more strongly than
    # the emergency evidence: the citizen is still told to call 112
    signal = SafetySignal(emergency=0.25, distress=0.97, topic=topic, reasons=("safety_model:message:acute=0.31",))
    d = decide(nlu((topic, 0.95), (EMERGENCY, 0.03), safety=signal))
    assert (d.action, d.topic, d.reason) == (Action.EMERGENCY, EMERGENCY, HandoffReason.EMERGENCY)
    assert "safety_model" in d.explanation


def test_triage_emergency_as_unsure_best_topic_is_still_an_emergency() -> None:
    d = decide(nlu((EMERGENCY, 0.2), ("social_vold", 0.19), ("miljoe_gener", 0.18)))
    assert d.action == Action.EMERGENCY


def test_triage_emergency_as_second_topic_below_threshold_is_sensitive() -> None:
    d = decide(nlu(("social_vold", 0.7), (EMERGENCY, 0.2)))
    assert (d.action, d.topic, d.reason) == (Action.HANDOFF, "social_vold", HandoffReason.SENSITIVE)


# -- the codec: TriageDecision.to_data / from_data ------------------------------------------------

_CODEC_ARTICLE = ArticleRef(id="affald-tomning", title="Tømning af affald", source="kk.dk", source_url="https://kk.dk",
                            reviewed="2026-11-01", historical=True)  # fmt: skip


@pytest.mark.unit
@pytest.mark.parametrize("decision", [
    TriageDecision(Action.ANSWER, "affald", "borgerservice_basis", False, 0.91, article=_CODEC_ARTICLE,
                   explanation="confident answer"),
    TriageDecision(Action.HANDOFF, "psykisk_sygdom", "social", True, 0.4, reason=HandoffReason.SENSITIVE),
    TriageDecision(Action.CLARIFY, None, None, False, 0.3, candidates=("affald", "parkering")),
    TriageDecision(Action.EMERGENCY, None, None, True, 1.0, reason=HandoffReason.EMERGENCY),
])  # fmt: skip
def test_triage_decision_round_trips_every_field(decision: TriageDecision) -> None:
    data = decision.to_data()
    assert json.loads(json.dumps(data)) == data  # JSON-ready, as the engine stores it
    assert TriageDecision.from_data(data) == decision


@pytest.mark.unit
def test_triage_decision_from_data_written_before_sensitive_was_kept() -> None:
    old = {"action": "handoff", "topic": "affald", "queue": "q", "confidence": 0.5, "reason": "sensitive",
           "candidates": [], "article": None}  # fmt: skip
    decision = TriageDecision.from_data(old)
    assert (decision.sensitive, decision.explanation, decision.reason) == (False, "", HandoffReason.SENSITIVE)
    from bot.conversation import decision_from_event

    assert decision_from_event(old).sensitive  # the event reader infers it from the reason
