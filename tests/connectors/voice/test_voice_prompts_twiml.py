"""Prompts (prompts_da.yml), the pure TwiML builders and the small flow decisions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.errors import VoiceConfigError
from bot.routing.calendar import ClosingReason, ClosingStatus
from bot.routing.skills import RoutingPolicy
from bot.types import Action, TriageDecision
from connectors.voice import flow
from connectors.voice.calls import HandoffContext, HandoffVia
from connectors.voice.prompts import MAX_MENU_OPTIONS, Lang, load_prompts, parse_prompts
from connectors.voice.twiml import Urls, Voice, build_hints, task_attributes

pytestmark = pytest.mark.unit
CPH = ZoneInfo("Europe/Copenhagen")


@pytest.fixture(scope="module")
def prompts():
    return load_prompts()


def test_prompts_every_danish_text_has_an_english_variant(prompts):
    assert set(prompts.data.da) <= set(prompts.data.en)


def test_prompts_menu_has_at_most_six_options_and_english_is_6(prompts):
    assert len(prompts.menu) <= MAX_MENU_OPTIONS
    assert prompts.menu_option("6").english


@pytest.mark.slow
def test_prompts_menu_queues_exist_in_the_topic_contract(prompts, understanding):
    prompts.check_queues(understanding.contract)


def test_prompts_survey_uses_the_municipal_wording(prompts):
    # seed 003 §3.3, the four questions of the rapid phone feedback
    assert prompts.text("survey_q1") == "Hvor tilfreds er du samlet set med opkaldet?"
    assert prompts.text("survey_q2") == "Hvor imødekommende var medarbejderen, du talte med?"
    assert prompts.text("survey_q3") == (
        "Hvor tilfreds er du med ventetiden, inden du kom igennem til medarbejderen på telefonen?"
    )
    assert prompts.text("survey_q4") == "I hvor høj grad fik du afklaret det, du henvendte dig om?"
    assert "1 til 9" in prompts.text("survey_intro")


def test_prompts_reject_a_seventh_option_and_missing_english(prompts):
    raw = yaml.safe_load((resources.files("connectors.voice") / "prompts_da.yml").read_text("utf-8"))
    seven = dict(raw, menu=[*raw["menu"], {"key": "7", "queue": "erhverv", "da": "x", "en": "x"}])
    with pytest.raises(VoiceConfigError, match="menu"):
        parse_prompts(yaml.safe_dump(seven, allow_unicode=True))
    no_en = dict(raw, en={k: v for k, v in raw["en"].items() if k != "goodbye"})
    with pytest.raises(VoiceConfigError, match="goodbye"):
        parse_prompts(yaml.safe_dump(no_en, allow_unicode=True))


def test_prompts_missing_placeholder_names_the_key(prompts):
    with pytest.raises(VoiceConfigError, match="opens_at"):
        prompts.text("opens_at")


@pytest.mark.parametrize(
    ("at", "now", "expected"),
    [
        (
            datetime(2027, 1, 4, 8, 0, tzinfo=CPH),
            datetime(2026, 12, 31, 19, 0, tzinfo=CPH),
            "mandag den 4. januar klokken otte",
        ),
        (
            datetime(2026, 11, 24, 8, 0, tzinfo=CPH),
            datetime(2026, 11, 24, 6, 0, tzinfo=CPH),
            "i dag klokken otte",
        ),
        (
            datetime(2026, 11, 25, 8, 30, tzinfo=CPH),
            datetime(2026, 11, 24, 19, 0, tzinfo=CPH),
            "i morgen klokken halv ni",
        ),
        (
            datetime(2026, 11, 25, 9, 15, tzinfo=CPH),
            datetime(2026, 11, 24, 19, 0, tzinfo=CPH),
            "i morgen klokken 9 15",
        ),
    ],
)
def test_prompts_spoken_when(prompts, at, now, expected):
    assert prompts.spoken_when(at, now) == expected


def test_flow_closed_lines(prompts):
    opens = datetime(2027, 1, 4, 8, 0, tzinfo=CPH)
    now = datetime(2027, 1, 1, 10, 0, tzinfo=CPH)
    lines = flow.closed_lines(ClosingStatus(ClosingReason.HOLIDAY, "Nytårsdag"), opens, now, prompts)
    assert lines == [
        "Det er Nytårsdag, og vi har lukket.",
        "Vi åbner igen mandag den 4. januar klokken otte.",
    ]
    en = flow.closed_lines(ClosingStatus(ClosingReason.WEEKEND), opens, now, prompts, Lang.EN)
    assert en == ["We are closed.", "We open again on Monday 4 January at eight o'clock."]


@pytest.mark.parametrize(
    ("digits", "kind", "queue"),
    [
        ("1", flow.ChoiceKind.QUEUE, "borgerservice_basis"),
        ("6", flow.ChoiceKind.ENGLISH, None),
        ("0", flow.ChoiceKind.HUMAN, None),
        ("*", flow.ChoiceKind.EXTENSION, None),
        ("9", flow.ChoiceKind.INVALID, None),
        ("#", flow.ChoiceKind.INVALID, None),
    ],
)
def test_flow_menu_choice(prompts, digits, kind, queue):
    choice = flow.menu_choice(digits, prompts)
    assert choice.kind is kind and choice.queue == queue


@pytest.mark.parametrize(
    ("size", "seconds", "offered"),
    [(6, 0, True), (5, 59, False), (None, 60, True), (None, None, False), (0, 61, True)],
)
def test_flow_callback_offered_default_policy(size, seconds, offered):
    assert flow.callback_offered(size, seconds, RoutingPolicy()) is offered


def test_flow_safety_sticks():
    emergency = TriageDecision(Action.EMERGENCY, "dialog_noedsituation", "alarm_112", True, 0.9)
    answer = TriageDecision(Action.ANSWER, "affald_toemning", "borgerservice_basis", False, 0.8)
    decided, flagged = flow.apply_safety(emergency, None)
    assert flagged is emergency
    decided, flagged = flow.apply_safety(answer, flagged)
    assert decided is emergency


def test_twiml_menu_attributes(prompts):
    voice = Voice(prompts)
    root = ET.fromstring(str(voice.menu("Velkommen.", "affald, pas")))
    gather = root.find("Gather")
    assert gather.get("hints") == "affald, pas"
    assert gather.get("input") == "speech dtmf" and gather.get("language") == "da-DK"
    assert root.find("Redirect") is not None


def test_twiml_urls_absolute_with_public_base():
    assert (
        Urls("https://k.example.dk")("/voice/gather", step="menu")
        == "https://k.example.dk/voice/gather?step=menu"
    )
    assert Urls()("/voice/wait") == "/voice/wait"


def test_twiml_default_voice_when_none_configured(prompts):
    root = ET.fromstring(str(Voice(prompts, voice_da=None).goodbye()))
    say = root.find("Say")
    assert say.get("voice") is None and say.get("language") == "da-DK"


def test_twiml_task_attributes_redact_cpr():
    context = HandoffContext(
        queue="borgerservice_basis", via=HandoffVia.SPEECH, transcript=("mit cpr nummer er 120380-1234",)
    )
    data = json.loads(task_attributes(context))
    assert "120380" not in data["transcript"][0]
    assert data["via"] == "speech" and data["english"] is False


def test_twiml_hints_dedupe_and_split_titles():
    hints = build_hints(
        ["pas", "Pas"], ["Pas og ID-kort", "Tømning af affald", "Storskrald, genbrugsstationer"]
    )
    assert hints.split(", ") == [
        "pas",
        "Pas og ID-kort",
        "Tømning af affald",
        "Storskrald",
        "genbrugsstationer",
    ]
    assert len(build_hints(["x" * 50] * 1, ["a" * 90 + str(i) for i in range(200)], limit=500)) <= 500
