"""Tests for bot.safety: danger told by a relative or a care worker inside a message about an
errand (stroke signs new today, a person with dementia still missing), a relapse that goes to a
person, and errands whose words sound alarming but say nothing is wrong now."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety import SafetyPolicy, assess, default_lexicon
from bot.topics import EMERGENCY, load_contract

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(ROOT / "knowledge" / "topics.yaml")
SENSITIVE = tuple(t.id for t in CONTRACT.topics if t.sensitive and t.id != EMERGENCY)
POLICY = SafetyPolicy()


@pytest.mark.parametrize(
    "text",
    [
        # stroke signs: two together, or one told as sudden or new today
        "Hej. Vi søger om ny rollator til min far. Lige nu taler han helt sløret, og hans venstre arm er slap.",
        "Til hjemmeplejen. Borgeren snøvler her til formiddag og ansigtet hænger i højre side. Det gjorde han ikke i går.",
        "jeg ringer om min mors pension men hun kan pludselig ikke finde ordene",
        "min kone genkender pludselig ikke vores søn og taler volapyk",
        "my grandad suddenly can't recognise me and his right arm is limp",
        # understated: "lidt" does not make a sudden speech change harmless
        "vi skulle have talt om hans bolig men min far taler pludselig lidt utydeligt og virker forvirret",
        # a person with dementia not home since last night is still missing
        "Det er om min fars madservice. Han har demens og har ikke været hjemme siden i aftes.",
        "min mor er dement og blev set gå ned ad vejen i natkjole i går aftes, hun tager ikke telefonen",
        # "klager over" is how a symptom is told, not a complaint to the municipality
        "min far klager over trykken for brystet og smerter ud i venstre arm, han er grå og svedig",
        "min mand klager over at han ikke kan mærke sin højre side og taler sløret",
        # violence at home "again" with the rage or the hiding told beside it
        "min stedfar slår min mor igen han er helt rasende og vi sidder inde på badeværelset",
        # alone, unable to get up and without water: acute however calmly it is written
        "Kære kommune. Jeg kan ikke komme op af sengen og har ikke fået noget at drikke siden i forgårs. Hjemmeplejen kommer på torsdag.",
        "jeg har ikke mere vand og har ikke kunnet rejse mig fra gulvet siden i går",
        # a threat to kill told in the present, inside a request for a place at a shelter
        "jeg har brug for et krisecenter, han ringede og sagde at han slår mig ihjel når han kommer hjem",
    ],
)
def test_safety_danger_told_inside_an_errand_raises_the_alarm(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency >= POLICY.emergency_threshold


@pytest.mark.parametrize(
    "text",
    [
        "efter sin blodprop taler min far uklart og hans venstre arm er slap, kan han få genoptræning",
        "min mor har demens og gik hjemmefra i nattøj sidste vinter, kan vi få en gps",
        "hvad gør man hvis man en dag ser at ens mand taler sløret og ansigtet hænger",
        "min søn taler utydeligt, kan han få en talepædagog",
        "min datter taler lidt utydeligt når hun er træt, har skolen en talepædagog",
        "min far slår min mor igen og igen når han er fuld, hvem kan jeg tale med",
        "min mor kan ikke komme op ad trappen længere, kan hun få en trappelift",
        "sometimes I think it would be easier to not wake up anymore, I just want to talk to someone",
        # figures of speech about a boss, a relative or an app
        "min søster slår mig ihjel hvis jeg glemmer at forny hendes parkeringslicens",
        "den app dræber mig, den vil ikke godkende mit nye pas",
    ],
)
def test_safety_old_or_feared_signs_raise_no_lexicon_alarm(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "har været ædru i to år men drak igen i weekenden, hvem kan jeg tale med",
        "min bror var clean længe men har fået et tilbagefald med kokain",
        "I relapsed after a year sober and need someone to talk to",
    ],
)
def test_safety_relapse_goes_to_a_person(text: str) -> None:
    signal = assess(text, {}, SENSITIVE)
    assert signal.emergency == 0.0
    assert signal.topic == "social_misbrug"


@pytest.mark.parametrize(
    "text",
    [
        "jeg vil klage over at min sag har taget et halvt år",
        "hjulet på min kørestol er knækket, hvem reparerer den",
        "min hund halter, hvilken dyrlæge har åbent",
        "vores datter er født for tidligt, hvordan forlænger jeg barslen",
        "der ligger en død sæl på stranden og den lugter",
        # a fear for some day to come, and what could have happened but did not
        "vi er bange for at vores datter falder i åen en dag, har I et svømmehold for små",
        "vikaren lod døren stå åben, og min mor kunne være gået ud og faldet på trappen",
    ],
)
def test_safety_errands_with_alarming_words_are_not_now(text: str) -> None:
    assert default_lexicon().is_not_now(text)


def test_safety_a_fall_that_could_have_happened_is_not_one_that_did() -> None:
    lexicon = default_lexicon()
    assert not lexicon.is_not_now("min mor er faldet på trappen og ligger og klager sig")
    assert lexicon.is_not_now("min mor kunne være faldet på trappen")


def test_safety_a_change_new_today_overrides_yesterday() -> None:
    lexicon = default_lexicon()
    assert lexicon.is_now("hun taber ting ud af venstre hånd, det gjorde hun ikke i går")
    assert lexicon.is_now("han har ikke været hjemme siden i går aftes")
    assert not lexicon.is_now("han kunne pludselig ikke huske noget i sidste uge")


@pytest.mark.parametrize(
    "text",
    [
        "jeg er lige blevet voldtaget af en jeg mødte i byen, han er kørt igen",
        "min kusine blev voldtaget for en halv time siden bag ved hallen",
        "I was just raped at a party and he has left",
        "naboens to små har været alene i tre døgn og har ingen mad, ingen voksne svarer",
        "the kids upstairs have been alone since yesterday and are crying right now",
        "kan I opsige mit lejemål, jeg er her ikke efter i aften, jeg har taget alle mine sovepiller",
    ],
)
def test_safety_just_happened_or_still_going_on_is_acute(text: str) -> None:
    signal = assess(text, {}, SENSITIVE)
    assert signal.emergency >= SafetyPolicy().emergency_threshold
    assert any(r.startswith("lexicon:emergency:") for r in signal.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "jeg blev voldtaget for mange år siden og vil gerne tale med en psykolog",
        "naboens børn er tit alene i flere dage når moren er ude, hvem skal jeg sige det til",
        "min datter på tolv er alene hjemme to timer efter skole, er det i orden",
        "jeg har taget min medicin i morges, kan jeg få en ny dosisæske",
        "jeg fik næsten et hjerteanfald over den nye regning for dagpleje",
        "min far siger han er ved at dø af ensomhed, findes der besøgsvenner",
        "naboen brænder grene og blade af i haven, må han det",
    ],
)
def test_safety_past_habit_errand_or_figure_of_speech_raises_no_lexicon_alarm(text: str) -> None:
    assert assess(text, {}, SENSITIVE).emergency == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "genboen har ild i en tønde i haven hver lørdag",
        "min mor døde i går, lægen har skrevet dødsattesten, hvad gør vi med hendes lejlighed",
    ],
)
def test_safety_weekly_habit_and_certified_death_are_not_now(text: str) -> None:
    assert default_lexicon().is_not_now(text)


@pytest.mark.parametrize(
    "text",
    [
        "fik klemt hånden i en maskine i marts og kan stadig ikke arbejde en hel dag, hvad med mine sygedagpenge",
        "vores læge har fået en blodprop og klinikken lukker, hvordan skifter vi læge",
        "hvad nu hvis min mand får et hjerteanfald på ferien, gælder det blå sygesikringskort",
    ],
)
def test_safety_an_injury_or_illness_behind_an_errand_is_not_now(text: str) -> None:
    lexicon = default_lexicon()
    assert lexicon.matches(text).get("emergency")
    assert lexicon.is_not_now(text)


def test_safety_someone_who_does_not_wake_up_is_still_acute() -> None:
    assert default_lexicon().matches("my dad does not wake up and he is grey").get("emergency")
