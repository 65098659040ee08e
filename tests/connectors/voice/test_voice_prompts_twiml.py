"""Prompts (prompts_da.yml), the pure TwiML builders and the small flow decisions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config import ROOT
from bot.errors import VoiceConfigError
from bot.routing.calendar import ClosingReason, ClosingStatus
from bot.tenants import load_tenants
from bot.types import Action, TriageDecision
from connectors.voice import flow
from connectors.voice.prompts import MAX_MENU_OPTIONS, Lang, parse_prompts
from connectors.voice.twiml import Urls, Voice, build_hints
from connectors.voice.wiring import tenant_prompts

pytestmark = pytest.mark.unit
CPH = ZoneInfo("Europe/Copenhagen")


@pytest.fixture(scope="module")
def prompts():
    # As the voice channel speaks them: with each municipality's menu from knowledge/tenants.yaml.
    return tenant_prompts(load_tenants(ROOT / "knowledge" / "tenants.yaml"))


def test_prompts_every_danish_text_has_an_english_variant(prompts):
    assert set(prompts.data.da) <= set(prompts.data.en)


def test_prompts_menu_has_at_most_six_options_and_english_is_6(prompts):
    assert len(prompts.menu) <= MAX_MENU_OPTIONS
    assert prompts.menu_option("6").english


@pytest.mark.slow
def test_prompts_menu_queues_exist_in_the_topic_contract(prompts, understanding):
    prompts.check_queues(understanding.contract, ["kobenhavn", "rodovre"])


@pytest.mark.slow
def test_prompts_tenant_menus_name_known_tenants_and_queues(understanding):
    raw = yaml.safe_load((resources.files("connectors.voice") / "prompts_da.yml").read_text("utf-8"))
    option = {"key": "1", "queue": "borgerservice_basis", "da": "x", "en": "x"}
    stranger = parse_prompts(yaml.safe_dump(dict(raw, tenant_menus={"gentofte": [option]}), allow_unicode=True))
    with pytest.raises(VoiceConfigError, match="gentofte"):
        stranger.check_queues(understanding.contract, ["kobenhavn", "rodovre"])
    typo = parse_prompts(yaml.safe_dump(dict(raw, tenant_menus={"rodovre": [dict(option, queue="borgerservise")]}),
                                        allow_unicode=True))  # fmt: skip
    with pytest.raises(VoiceConfigError, match="tenant_menus.rodovre option 1"):
        typo.check_queues(understanding.contract, ["kobenhavn", "rodovre"])


def test_prompts_menu_for_a_tenant(prompts):
    assert [o.key for o in prompts.menu_for("rodovre")] == ["1", "2", "3", "4", "6"]
    assert prompts.menu_for("kobenhavn") == prompts.menu_for(None) == prompts.menu
    assert flow.menu_choice("5", prompts, "rodovre").kind is flow.ChoiceKind.INVALID
    assert flow.menu_choice("5", prompts, "kobenhavn").queue == "erhverv"


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
    ("seconds", "text"),
    [(None, None), (30, "Du kommer snart igennem."), (60, "Du kommer snart igennem."),
     (61, "Den forventede ventetid er cirka 2 minutter."), (600, "Den forventede ventetid er cirka 10 minutter.")],
)  # fmt: skip
def test_flow_spoken_wait(prompts, seconds, text):
    expected = None if seconds is None else timedelta(seconds=seconds)
    assert flow.spoken_wait(expected, prompts) == text


def test_flow_handoff_summary_names_language_and_request(prompts):
    spoken = flow.handoff_summary(["hej", "hvornår bliver mit storskrald hentet"], "Borgerservice", Lang.EN, prompts)
    assert spoken == "Opkald på engelsk. Borgeren sagde: hvornår bliver mit storskrald hentet"
    keys = flow.handoff_summary([], "Pension og visitation", Lang.DA, prompts)
    assert keys == "Opkald på dansk. Borgeren valgte Pension og visitation i telefonmenuen."


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


@pytest.mark.parametrize(("target", "tag"), [("+4533661234", "Number"), ("client:anne", "Client")])
def test_twiml_bridge_dials_the_agent_with_callbacks(prompts, target, tag):
    voice = Voice(prompts, Urls("https://k.example.dk"))
    root = ET.fromstring(str(voice.bridge(["Et øjeblik."], target, Lang.DA, timeout=25)))
    dial = root.find("Dial")
    assert dial.get("action") == "https://k.example.dk/voice/after-bridge" and dial.get("timeout") == "25"
    leg = dial.find(tag)
    assert leg.get("statusCallback") == "https://k.example.dk/voice/agent-status"
    assert leg.get("statusCallbackEvent") == "initiated ringing answered completed"
    assert (leg.text or "").strip() == target.removeprefix("client:") or leg.find("Identity") is not None


def test_twiml_hold_loops_back(prompts):
    root = ET.fromstring(str(Voice(prompts).hold(["Du er nummer 1 i køen."], offer_callback=False)))
    assert root[-1].tag == "Redirect" and root[-1].text == "/voice/wait"


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
