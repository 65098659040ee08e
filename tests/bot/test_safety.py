"""Tests for bot.safety: acute danger and sensitive situations from the Danish lexicon, from
classifier probabilities with low thresholds, and from the recent conversation window."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety import SafetyPolicy, assess, default_lexicon, safety_chunks
from bot.topics import EMERGENCY, load_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")
SENSITIVE = tuple(t.id for t in CONTRACT.topics if t.sensitive and t.id != EMERGENCY)
POLICY = SafetyPolicy()


def test_safety_lexicon_categories_are_emergency_or_sensitive_topics() -> None:
    categories = set(default_lexicon().patterns)
    assert "emergency" in categories
    assert categories - {"emergency"} <= set(SENSITIVE)


EMERGENCIES = [
    "hun vil ikke vågne",
    "han trækker ikke vejret",
    "der er en mand med en kniv",
    "jeg har taget alle mine piller",
    "det brænder i køkkenet",
    "HJÆLP! min far er faldet om og er bevidstløs",
    "der er røg i hele opgangen",
    "min datter er forsvundet fra legepladsen",
    "han prøver at kvæle mig",
    # ASCII spellings without æ/ø/å
    "hun vil ikke vaagne",
    "han traekker ikke vejret",
    "det braender i koekkenet",
    # the same danger in other words than the first patterns were written for
    "det lugter voldsomt af gas nede i kælderen",
    "min toårige har drukket af rengøringsmidlet",
    "jeg gemmer mig på badeværelset",
    "min kollega har fået et kraftigt stød fra en ledning",
    "stuen er fuld af røg",
    "han har trykken for brystet og sveder",
    "der ligger en mand på fortovet og han svarer ikke",
    "der var brand i opgangen i sidste uge og nu brænder det igen lige nu",
    # stroke signs told loosely in English, with a question about the way to a doctor after them
    "my husband started slurring at dinner and one side of his face looks droopy, do we need a referral first?",
    "her face is drooping and she can't get a word out",
    # a week's dose pack taken at once, told calmly by a home carer
    "jeg er hos en borger, hun har taget hele ugens dosispakke på én gang og er meget døsig",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_safety_emergency_phrases_from_lexicon_alone(text: str) -> None:
    signal = assess(text, {}, SENSITIVE)
    assert signal.emergency >= POLICY.emergency_threshold
    assert any(r.startswith("lexicon:emergency:") for r in signal.reasons)


DISTRESS = [
    ("min mand slår mig når han er fuld", "social_vold"),
    ("min kæreste slaar mig", "social_vold"),
    ("jeg er bange for min ekskæreste", "social_vold"),
    ("jeg tænker på selvmord", "social_selvmordstanker"),
    ("jeg orker ikke leve mere", "social_selvmordstanker"),
    ("jeg vil ikke leve laengere", "social_selvmordstanker"),
    ("jeg har ikke noget sted at sove i nat", "social_hjemloeshed"),
    ("jeg er blevet smidt ud og sover i bilen", "social_hjemloeshed"),
    ("jeg har ingen penge til mad til børnene", "social_akut_oekonomi"),
    ("vi har ikke raad til mad resten af måneden", "social_akut_oekonomi"),
    ("jeg er bekymret for naboens barn", "boern_bekymring"),
    ("jeg vil lave en underretning om en elev", "boern_bekymring"),
]


@pytest.mark.parametrize(("text", "topic"), DISTRESS)
def test_safety_distress_phrases_point_at_sensitive_topic(text: str, topic: str) -> None:
    signal = assess(text, {}, SENSITIVE)
    assert signal.topic == topic
    assert signal.distress >= POLICY.distress_threshold
    assert signal.emergency == 0.0


NEUTRAL = [
    "brandsyn af restaurant",
    "røg fra naboens brændeovn",
    "hvornår kommer skraldebilen",
    "jeg skal have et nyt pas",
    "hvordan søger jeg boligstøtte",
    "hvad koster en beboerlicens",
    "jeg vil søge om brandsyn til en koncert",
    "min søn skal starte i skole",
    # alarm words in errands, past events and worries about the future
    "jeg har fået en regning for en falsk brandalarm",
    "der var brand i vores opgang i sidste uge hvem betaler rengøringen",
    "min far fik en blodprop for et år siden og skal genoptræne",
    "min kone er lammet efter en blodprop og har brug for en ledsager",
    "skal jeg have en co-alarm i sommerhuset",
    "hvad gør man hvis man finder en bevidstløs person",
    "jeg har fået en p-afgift",
    "my mum had a stroke last year, she still slurs and her arm is weak, can we get home help",
    "he was slurring drunk at the street party, can we complain about the noise",
]


@pytest.mark.parametrize("text", NEUTRAL)
def test_safety_neutral_municipal_questions(text: str) -> None:
    signal = assess(text, {}, SENSITIVE)
    assert signal.emergency == 0.0
    assert signal.distress == 0.0
    assert signal.topic is None
    assert all(r.endswith(" not now") for r in signal.reasons)  # a discounted hit is only noted


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.0, 0.0), (0.24, 0.0), (0.25, 0.25), (0.31, 0.31), (0.8, 0.8)],
)
def test_safety_emergency_probability_threshold(p: float, expected: float) -> None:
    # a neutral text, so only the classifier's probability can raise the alarm
    signal = assess("hvornår kommer skraldebilen", {EMERGENCY: p, "affald_toemning": 1 - p}, SENSITIVE)
    assert signal.emergency == pytest.approx(expected)
    assert (signal.reasons != ()) is (expected > 0)


def test_safety_lexicon_and_higher_probability_take_the_maximum() -> None:
    signal = assess("hun vil ikke vågne", {EMERGENCY: 0.99}, SENSITIVE)
    assert signal.emergency == pytest.approx(0.99)
    low = assess("hun vil ikke vågne", {EMERGENCY: 0.3}, SENSITIVE)
    assert low.emergency == pytest.approx(0.95)


def test_safety_distress_probability_below_threshold() -> None:
    signal = assess("jeg har et spørgsmål", {"social_vold": 0.29, "affald_toemning": 0.71}, SENSITIVE)
    assert (signal.distress, signal.topic) == (0.0, None)


def test_safety_distress_probability_above_threshold() -> None:
    signal = assess("jeg har et spørgsmål", {"social_vold": 0.31, "affald_toemning": 0.69}, SENSITIVE)
    assert signal.topic == "social_vold"
    assert signal.distress == pytest.approx(0.31)


def test_safety_distress_sums_sensitive_classes_and_names_the_biggest() -> None:
    # neither class alone reaches 0.30, together they do
    probs = {"social_vold": 0.20, "social_misbrug": 0.15, "affald_toemning": 0.65}
    signal = assess("jeg har et spørgsmål", probs, SENSITIVE)
    assert signal.topic == "social_vold"
    assert signal.distress == pytest.approx(0.35)


def test_safety_non_sensitive_probabilities_do_not_count() -> None:
    signal = assess("jeg har et spørgsmål", {"affald_toemning": 0.9, "borgerservice_pas": 0.1}, SENSITIVE)
    assert (signal.emergency, signal.distress, signal.topic) == (0.0, 0.0, None)


def test_safety_lexicon_topic_wins_over_an_unsure_classifier_topic() -> None:
    signal = assess("min mand slår mig", {"social_misbrug": 0.05, "social_vold": 0.01}, SENSITIVE)
    assert signal.topic == "social_vold"
    assert signal.distress == pytest.approx(0.9)


def test_safety_classifier_topic_wins_when_it_reads_whose_situation_it_is() -> None:
    """A lexicon word names a theme; the classifier reads the whole message: a child hit by a
    parent goes to the children's specialists, not to partner violence."""
    probs = {"boern_bekymring": 0.45, "social_vold": 0.10}
    signal = assess("en pige i klassen siger at hendes far slår hende", probs, SENSITIVE)
    assert signal.topic == "boern_bekymring"
    assert signal.distress >= 0.9


def test_safety_window_catches_distress_spread_over_three_messages() -> None:
    history = ["min kæreste er sød det meste af tiden", "men når han drikker"]
    text = "så bliver han vred og jeg ved ikke hvad jeg skal gøre"
    assert assess(text, {}, SENSITIVE).topic is None  # the last message alone says nothing
    signal = assess(text, {}, SENSITIVE, history=history)
    assert signal.topic == "social_vold"
    assert signal.distress >= POLICY.distress_threshold


def test_safety_window_remembers_two_messages_back() -> None:
    history = ["min mand slår mig", "det sker næsten hver weekend"]
    signal = assess("hvad kan jeg gøre", {}, SENSITIVE, history=history)
    assert signal.topic == "social_vold"


def test_safety_window_is_limited_to_the_policy_size() -> None:
    history = ["min mand slår mig", "det sker næsten hver weekend", "ja"]
    assert assess("hvad kan jeg gøre", {}, SENSITIVE, history=history).topic is None
    wider = SafetyPolicy(window=4)
    assert assess("hvad kan jeg gøre", {}, SENSITIVE, history=history, policy=wider).topic == "social_vold"


def test_safety_window_emergency_over_messages() -> None:
    history = ["min datter på fire år", "vi var på legepladsen"]
    signal = assess("nu er hun forsvundet", {}, SENSITIVE, history=history)
    assert signal.emergency >= POLICY.emergency_threshold


def test_safety_window_probabilities() -> None:
    signal = assess(
        "hvad gør jeg",
        {"social_vold": 0.1},
        SENSITIVE,
        history=["han er så jaloux", "jeg må ikke se nogen"],
        window_probabilities={"social_vold": 0.6, EMERGENCY: 0.1},
    )
    assert signal.topic == "social_vold"
    assert signal.distress == pytest.approx(0.6)
    assert signal.emergency == 0.0
    assert any(r.startswith("classifier:conversation:") for r in signal.reasons)


def test_safety_window_probability_emergency() -> None:
    signal = assess("hjælp", {EMERGENCY: 0.1}, SENSITIVE, window_probabilities={EMERGENCY: 0.4})
    assert signal.emergency == pytest.approx(0.4)


# --- the safety classifier -------------------------------------------------------------------


def _model(acute: float, sensitive: float = 0.0) -> dict[str, float]:
    return {"acute": acute, "sensitive": sensitive, "none": 1 - acute - sensitive}


MODEL_POLICY = SafetyPolicy(model_acute_threshold=0.2, model_sensitive_threshold=0.4, not_now_factor=1.0)


def test_safety_model_acute_alone_raises_the_alarm() -> None:
    signal = assess("hvornår kommer skraldebilen", {}, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.21))
    # reported at least at the emergency threshold, so triage acts on it
    assert signal.emergency == pytest.approx(MODEL_POLICY.emergency_threshold)
    assert signal.reasons == ("safety_model:message:acute=0.21",)
    high = assess("hvornår kommer skraldebilen", {}, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.8))
    assert high.emergency == pytest.approx(0.8)


def test_safety_model_acute_below_its_threshold_is_quiet() -> None:
    signal = assess("hvornår kommer skraldebilen", {}, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.19))
    assert (signal.emergency, signal.reasons) == (0.0, ())


def test_safety_two_weak_signals_that_agree_raise_the_alarm() -> None:
    probs = {EMERGENCY: 0.15, "affald_toemning": 0.85}  # below 0.25 alone
    alone = assess("hvornår kommer skraldebilen", probs, SENSITIVE, policy=MODEL_POLICY)
    assert alone.emergency == 0.0
    both = assess("hvornår kommer skraldebilen", probs, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.12))
    assert both.emergency >= MODEL_POLICY.emergency_threshold
    assert both.reasons[0].startswith("agreement:message:")


def test_safety_model_window_counts() -> None:
    signal = assess("hvad gør jeg", {}, SENSITIVE, history=["min mor", "hun siger ingenting"], policy=MODEL_POLICY,
                    model_scores=_model(0.05), window_model_scores=_model(0.6))
    assert signal.emergency == pytest.approx(0.6)
    assert signal.reasons == ("safety_model:conversation:acute=0.60",)


def test_safety_model_sensitive_needs_the_topic_classifier_to_say_which_topic() -> None:
    probs = {"social_vold": 0.14, "social_misbrug": 0.02, "affald_toemning": 0.84}
    signal = assess("jeg har et spørgsmål", probs, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.0, 0.7))
    assert signal.topic == "social_vold"
    assert signal.distress == pytest.approx(0.7)
    assert signal.emergency == 0.0
    # without any sensitive reading from the topic classifier the model alone does not hand off
    quiet = assess("jeg har et spørgsmål", {"affald_toemning": 1.0}, SENSITIVE, policy=MODEL_POLICY,
                   model_scores=_model(0.0, 0.7))
    assert (quiet.distress, quiet.topic) == (0.0, None)


def test_safety_acute_and_sensitive_are_both_reported() -> None:
    # triage decides precedence (acute first); the safety layer reports all it sees
    signal = assess("min mand slår mig", {}, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.5, 0.4))
    assert signal.emergency == pytest.approx(0.5)
    assert signal.topic == "social_vold"


# --- past events, errands and worries -----------------------------------------------------------


def test_safety_lexicon_hit_about_the_past_is_discounted_but_noted() -> None:
    signal = assess("der var brand i opgangen i sidste uge", {}, SENSITIVE)
    assert signal.emergency == 0.0
    assert signal.reasons == ("lexicon:emergency:'brand i' not now",)


def test_safety_discounted_lexicon_hit_still_agrees_with_a_weak_model() -> None:
    signal = assess("der var brand i opgangen i sidste uge", {}, SENSITIVE, policy=MODEL_POLICY,
                    model_scores=_model(0.15))
    assert signal.emergency >= MODEL_POLICY.emergency_threshold


def test_safety_now_overrides_the_past() -> None:
    signal = assess("der var brand i sidste uge og nu brænder det stadig", {}, SENSITIVE)
    assert signal.emergency >= POLICY.emergency_threshold


def test_safety_past_context_in_the_window_discounts_its_own_hits() -> None:
    history = ["der var brand i opgangen i sidste uge", "det var forfærdeligt"]
    signal = assess("hvem betaler for rengøringen", {}, SENSITIVE, history=history)
    assert signal.emergency == 0.0


def test_safety_past_violence_is_still_sensitive() -> None:
    signal = assess("min kæreste slog mig for to uger siden", {}, SENSITIVE)
    assert signal.topic == "social_vold"
    assert signal.emergency == 0.0


# --- figures of speech, recurring nuisances, maintenance ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "jeg er ved at drukne i blanketter fra jobcentret, hvem kan hjælpe",
        "vi bliver kvalt i gebyrer, kan vi lave en afdragsordning",
        "vandregningen var så høj at jeg næsten fik et hjertestop",
        "jeg brænder for at starte en ny forening",
        "jeres telefonkø slår mig ihjel, hvor kan jeg klage over ventetiden",
        "fristen på fredag slår mig ihjel, kan vi få udsættelse på byggesagen",
    ],
)
def test_safety_figures_of_speech_raise_no_alarm(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency == 0.0


def test_safety_figure_of_speech_does_not_hide_a_real_danger_in_the_same_message() -> None:
    signal = assess("jeg drukner i papirer, og nu trækker min mand ikke vejret", {}, SENSITIVE)
    assert signal.emergency >= POLICY.emergency_threshold


@pytest.mark.parametrize(
    "text",
    [
        "der var et gasudslip på vejen i går, kan vi lufte ud nu",
        "min far fik en blodprop i januar og er stadig sygemeldt, hvornår er næste samtale",
        "hjertestarteren på skolen blinker, hvem skifter batteriet",
        "der kommer røg fra grillbaren ind i stuen hver aften",
        "jeg kan ikke finde ud af at åbne brevet i min digitale post, siger min datter",
        "min nevø svarer ikke når jeg skriver til ham",
        "må min datter have sin lommekniv med på lejrskolen, hun er spejder",
        "vi skal på snitteholdet i weekenden, skal børnene selv have en kniv med",
        "skorstenen på værket ved siden af lukker sort røg ud hver nat, hvem fører tilsyn",
        "det var lige ved at ske en ulykke ved overgangen i morges, kan vi få et vejbump",
        "min mor har demens, hun er ikke blevet væk endnu, men kan hun få en gps",
        "min kone fik en blodprop sidste forår og har stadig svært ved at gå på trapper",
        "holder I førstehjælpskurser om hjertestop for ældre borgere",
    ],
)
def test_safety_past_maintenance_nuisance_and_errands_raise_no_lexicon_alarm(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "der var brand i sidste uge og lige nu brænder det igen",
        "han fik hjertestop på vej hjem fra kurset og trækker ikke vejret",
        "min far fik en blodprop i januar og nu er han bevidstløs igen",
        "vi har klaget over røgen hver aften, men lige nu står der flammer ud af vinduet",
        "han står i døren med en kniv og siger han vil stikke mig",
        "der er lige sket en ulykke ved overgangen, en dreng ligger på vejen og bløder",
        "min far med demens er gået hjemmefra i nat, og vi kan ikke finde ham",
    ],
)
def test_safety_present_danger_beats_past_and_nuisance_words(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency >= POLICY.emergency_threshold


@pytest.mark.parametrize(
    "text",
    [
        "min søn på 4 har slugt nogle af farfars piller og er blevet helt søvnig",
        "blodsukkeret er helt nede og hun svarer ikke når jeg taler til hende",
        "han kaster hende ind i væggen igen og igen",
    ],
)
def test_safety_lexicon_acute_poisoning_low_blood_sugar_and_violence_now(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency >= POLICY.emergency_threshold


# --- long messages, read sentence by sentence ---------------------------------------------------

LONG_ERRAND = (
    "Kære kommune. Jeg skriver angående min ansøgning om tilskud til en trappelift, som jeg sendte i "
    "sidste måned. Jeg har vedlagt lægeerklæringen. Min datter har hjulpet mig med at udfylde skemaet. "
    "Hvornår kan jeg forvente et svar, og skal jeg sende mere? Venlig hilsen Inger"
)


def test_safety_chunks_short_message_is_not_split() -> None:
    assert safety_chunks("det brænder i køkkenet") == ()


def test_safety_chunks_are_bounded_and_cover_the_text() -> None:
    text = " ".join([LONG_ERRAND] * 12)
    chunks = safety_chunks(text, max_chunks=8)
    assert 1 < len(chunks) <= 8
    assert " ".join(chunks).split() == text.split()


def test_safety_chunks_cut_a_run_on_transcript_at_words() -> None:
    text = "ja hej jeg ringer om " + "noget med vores container og " * 20 + "tak"
    chunks = safety_chunks(text, size=120)
    assert len(chunks) > 1 and all(len(c) <= max(120, -(-len(text) // 8)) for c in chunks)


def test_safety_acute_sentence_in_a_long_message_raises_the_alarm() -> None:
    chunks = safety_chunks(LONG_ERRAND)
    scores = [(c, _model(0.9 if i == 1 else 0.01)) for i, c in enumerate(chunks)]
    signal = assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, model_scores=_model(0.05),
                    chunk_scores=scores)
    assert signal.emergency == pytest.approx(0.9)
    assert any(r.startswith("safety_model:sentence 2:acute=0.90") for r in signal.reasons)


def test_safety_sentence_window_needs_a_higher_score_than_a_whole_message() -> None:
    chunks = safety_chunks(LONG_ERRAND)
    bar = MODEL_POLICY.model_acute_threshold
    assert MODEL_POLICY.chunk_factor > 1

    def with_window(score: float) -> float:
        scores = [(c, _model(score if i == 1 else 0.01)) for i, c in enumerate(chunks)]
        return assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=scores).emergency

    assert with_window(bar * 1.1) == 0.0  # enough for a message, not for a window read alone
    assert with_window(bar * MODEL_POLICY.chunk_factor + 0.01) > 0.0


def test_safety_sentence_about_the_past_needs_a_stronger_score() -> None:
    past = "Vi havde en ulykke i sidste måned."
    weak = [(past, _model(MODEL_POLICY.model_acute_threshold * 1.5))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=weak).emergency == 0.0
    strong = [(past, _model(0.95))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=strong).emergency >= 0.9


def test_safety_lexicon_hit_in_a_sentence_of_an_errand_needs_the_present_or_the_model() -> None:
    alone = [("Angående ansøgningen.", _model(0.0)), ("Min mand faldt om og var bevidstløs.", _model(0.0))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=alone).emergency == 0.0
    # Danger told in the present tense is "now" (bot/resources/safety_da.yml, context_now).
    present = [("Min mand er faldet om og er bevidstløs.", _model(0.0))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=present).emergency >= 0.9
    agreed = [("Min mand er faldet om og er bevidstløs.", _model(0.12))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=agreed).emergency >= 0.9
    now = [("Lige nu er min mand bevidstløs.", _model(0.0))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=now).emergency >= 0.9
    past = [("Min mand var bevidstløs efter ulykken i sidste uge.", _model(0.12))]
    assert assess(LONG_ERRAND, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=past).emergency == 0.0


SAFE_NOW_LETTER = (
    "Hej. Min nabo er en gammel dame på 85. Hendes barnebarn bor hos hende, tager hendes penge og har "
    "skubbet hende, siger hun. Hun er ikke i fare lige nu, han er på efterskole i hverdagene, men "
    "hvem kan vi tale med om det? Venlig hilsen Jytte"
)


def test_safety_sentences_of_a_message_that_says_nobody_is_in_danger_now_need_a_stronger_score() -> None:
    chunks = safety_chunks(SAFE_NOW_LETTER)
    assert len(chunks) > 1
    weak = [(c, _model(MODEL_POLICY.model_acute_threshold * 2 if i == 0 else 0.01)) for i, c in enumerate(chunks)]
    assert assess(SAFE_NOW_LETTER, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=weak).emergency == 0.0
    # without the reassurance the same window score raises the alarm
    plain = SAFE_NOW_LETTER.replace("Hun er ikke i fare lige nu", "Hun er bange")
    weak_plain = [(c, _model(MODEL_POLICY.model_acute_threshold * 2 if i == 0 else 0.01))
                  for i, c in enumerate(safety_chunks(plain))]
    assert assess(plain, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=weak_plain).emergency > 0.0
    # a window that says it happens now keeps the ordinary bar, and lexicon hits still count
    now = [(chunks[0], _model(0.01)), ("Nu ligger hun på gulvet og trækker ikke vejret.", _model(0.3))]
    assert assess(SAFE_NOW_LETTER, {}, SENSITIVE, policy=MODEL_POLICY, chunk_scores=now).emergency >= 0.3


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("han er ikke i fare lige nu", True),
        ("lige nu er der helt stille derovre", True),
        ("der er stille nu", True),
        ("det er stille nu men han har en kniv", False),
        ("hun er ikke i fare nu, men hendes mand ligger bevidstløs", False),
        ("hun skriger lige nu", False),
    ],
)
def test_safety_lexicon_reads_an_explicit_reassurance(text: str, safe: bool) -> None:
    assert default_lexicon().is_safe(text) is safe


@pytest.mark.parametrize(
    "text",
    [
        "hvorfor har 6. klasse ingen svømning, de skal jo lære ikke at drukne",
        "landmandens gaskanon skyder hele dagen mod duerne, er det tilladt",
        "I går hørte vi skænderi ovenpå. Lige nu er der stille. Hvem kan vi tale med?",
    ],
)
def test_safety_lexicon_harmless_swimming_lessons_gas_cannon_and_quiet_now(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "min søn er ved at drukne i søen",
        "naboen skyder med gaskanonen efter folk på vejen",
        "hun skriger lige nu og han slår hende",
        "der er en mand der skyder på pladsen",
    ],
)
def test_safety_lexicon_keeps_drowning_shots_and_violence_now(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency >= POLICY.emergency_threshold


def test_safety_model_bar_is_raised_for_a_message_about_the_past_not_for_one_about_now() -> None:
    policy = SafetyPolicy(model_acute_threshold=0.2, not_now_factor=3.0)
    past = assess("der var brand i kælderen i sidste uge, hvem betaler", {}, SENSITIVE, policy=policy,
                  model_scores=_model(0.25))
    assert past.emergency == 0.0
    now = assess("min far er faldet og jeg er bange for at han har brækket hoften", {}, SENSITIVE, policy=policy,
                 model_scores=_model(0.25))
    assert now.emergency >= policy.emergency_threshold


def test_safety_sure_safety_model_needs_less_agreement_from_the_topic_classifier() -> None:
    """Indirect or English wording spreads the topic classifier thin: a sure safety model hands
    the message to a person with a weaker topic signal, an unsure one does not."""
    text = "I think something is really wrong with me lately"
    probs = {"social_psykisk_sygdom": 0.06, "social_selvmordstanker": 0.03}
    sure = assess(text, probs, SENSITIVE, model_scores={"acute": 0.0, "sensitive": 0.85, "none": 0.15})
    assert sure.topic == "social_psykisk_sygdom"
    assert sure.distress == pytest.approx(0.85)
    unsure = assess(text, probs, SENSITIVE, model_scores={"acute": 0.0, "sensitive": 0.5, "none": 0.5})
    assert unsure.topic is None


@pytest.mark.parametrize(
    "text",
    [
        "jeg ringer egentlig om min mors pension men hun er lige faldet om i køkkenet",
        "hvor kan jeg få fat i en læge, min søn har drukket opvaskemiddel og kaster op",
        "jeg skriver om vores ansøgning om tilskud, men der er en mand der er faldet ned fra stilladset og ligger helt stille",
    ],
)
def test_safety_danger_in_the_present_tense_counts_inside_an_errand(text: str) -> None:
    """An errand word ("pension", "hvor kan jeg", "ansøgning") does not discount danger that the
    message tells in the present tense."""
    assert assess(text, {}, SENSITIVE).emergency >= POLICY.emergency_threshold


@pytest.mark.parametrize(
    "text",
    ["min far fik en blodprop sidste år, kan han få kørsel til lægen", "min mor blev kørt i ambulance i går"],
)
def test_safety_past_danger_in_an_errand_stays_discounted(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency < POLICY.emergency_threshold


def test_the_model_window_keeps_the_newest_message_of_a_long_conversation():
    from bot.understanding import WINDOW_MODEL_CHARS, model_window

    assert model_window([], "hjælp") is None
    assert model_window(["min mor er faldet"], "hun svarer ikke") == "min mor er faldet \n hun svarer ikke"
    history = ["Jeg har et langt spørgsmål om min boligstøtte og min husleje. " * 8] * 2
    window = model_window(history, "Nu ligger min mor på gulvet og trækker ikke vejret")
    assert window is not None and len(window) <= WINDOW_MODEL_CHARS
    assert window.endswith("Nu ligger min mor på gulvet og trækker ikke vejret")
    assert not window.startswith(" ") and window.split()[0] in history[0].split()  # a whole word


def test_lexicon_joined_patterns_find_what_each_pattern_finds() -> None:
    """The joined patterns tried first only skip work: on every dev-set message, hits, past-or-now
    and figures of speech are what the patterns read one by one give."""
    from bot.nlu.text import fold
    from bot.safety import default_lexicon
    from eval.dataset import load_dev_set

    lex = default_lexicon()

    def one_by_one(text: str) -> tuple[dict[str, list[str]], bool, bool]:
        t = fold(text)
        plain = t
        for p in lex.figurative:
            plain = p.sub(" ", plain)
        hits: dict[str, list[str]] = {}
        for category, pats in lex.patterns.items():
            for p in pats:
                m = p.search(plain if category == "emergency" else t)
                if m:
                    hits.setdefault(category, []).append(m.group(0))
        now = any(p.search(t) for p in lex.now)
        return hits, now, any(p.search(t) for p in lex.not_now) and not now

    texts = [c.text for c in load_dev_set().cases]
    texts += ["Min mor er faldet og kan ikke rejse sig", "jeg drukner i papirer", "han slog mig i går"]
    for text in texts:
        assert (lex.matches(text), lex.is_now(text), lex.is_not_now(text)) == one_by_one(text), text
    assert any(lex.matches(t).get("emergency") for t in texts)  # the comparison saw alarms too
