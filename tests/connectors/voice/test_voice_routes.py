"""The voice webhooks end to end: signed Twilio requests in, TwiML out, against the real model."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select
from voice_helpers import CPH, TOKEN, fixture, said, twiml

from bot.errors import ModelNotBuilt, VoiceConfigError
from bot.storage.voice import VoiceCall, set_agent_line
from bot.types import Action, HandoffReason, TriageDecision
from bot.understanding import Parsed
from connectors.voice.calls import CallState, HandoffVia
from connectors.voice.config import VoiceSettings
from connectors.voice.prompts import MAX_MENU_OPTIONS
from connectors.voice.security import get_voice_settings

pytestmark = pytest.mark.slow

SID = fixture("incoming")["CallSid"]


def _speech(twilio, text: str, confidence: str = "0.92", step: str = "menu"):
    return twiml(
        twilio.post(
            f"/voice/gather?step={step}", fixture("gather_speech", SpeechResult=text, Confidence=confidence)
        )
    )


def _keys(twilio, digits: str, step: str = "menu", path: str = "/voice/gather"):
    query = f"?step={step}" if step else ""
    return twiml(twilio.post(f"{path}{query}", fixture("gather_digits", Digits=digits)))


def queued_in(root, store) -> str | None:
    """The queue a handoff answer put the call in: the answer joins the hold loop (the engine's
    queue) and the call's record, read from the database, names the queue."""
    if not len(root) or root[-1].tag != "Redirect" or not (root[-1].text or "").endswith("/voice/wait"):
        return None
    return store.get(SID).handoff.queue


def _settings(app, **kw) -> VoiceSettings:
    s = VoiceSettings(twilio_auth_token=TOKEN, **kw)
    app.dependency_overrides[get_voice_settings] = lambda: s
    return s


# --- time control ----------------------------------------------------------------------------


def test_routes_closed_hours_say_when_we_open_and_offer_a_callback(twilio, clock, store):
    clock.now = datetime(2026, 12, 30, 19, 0, tzinfo=CPH)  # Wednesday evening; 31 December closed, 1 January a holiday
    root = twiml(twilio.post("/voice/incoming", fixture("incoming")))
    texts = said(root)
    assert texts[0] == "Vi har lukket."
    assert texts[1] == "Vi åbner igen mandag den 4. januar klokken otte."
    gather = root.find("Gather")
    assert gather.get("action").endswith("/voice/callback?step=offer")
    assert gather.get("numDigits") == "1"
    assert root[-1].tag == "Hangup"
    assert queued_in(root, store) is None
    assert store.get(SID).state is CallState.CLOSED


def test_routes_holiday_is_named(twilio, clock):
    clock.now = datetime(2027, 1, 1, 10, 0, tzinfo=CPH)  # Nytårsdag, a Friday
    texts = said(twiml(twilio.post("/voice/incoming", fixture("incoming"))))
    assert texts[0] == "Det er Nytårsdag, og vi har lukket."
    assert texts[1] == "Vi åbner igen mandag den 4. januar klokken otte."


def test_routes_closed_early_morning_opens_today(twilio, clock):
    clock.now = datetime(2026, 11, 24, 7, 15, tzinfo=CPH)
    texts = said(twiml(twilio.post("/voice/incoming", fixture("incoming"))))
    assert texts[1] == "Vi åbner igen i dag klokken otte."


def test_routes_called_tenants_hours_and_name(app, twilio, clock, store):
    """+4536373637 is Rødovre's number: Rødovre's hours (Tuesday 09-15) and name, not København's."""
    rodovre = fixture("incoming", To="+4536373637", Called="+4536373637")
    clock.now = datetime(2026, 11, 24, 16, 0, tzinfo=CPH)  # Tuesday after 15:00: København is still open
    texts = said(twiml(twilio.post("/voice/incoming", rodovre)))
    assert texts[1] == "Vi åbner igen i morgen klokken ni."
    assert store.get(SID).tenant_id == "rodovre"
    other = fixture("incoming", CallSid="CA" + "3" * 32)
    assert said(twiml(twilio.post("/voice/incoming", other)))[0] == "Velkommen til Københavns Kommune."


def test_routes_called_tenants_menu(twilio, store):
    rodovre = fixture("incoming", To="+4536373637", Called="+4536373637")
    root = twiml(twilio.post("/voice/incoming", rodovre))
    texts = said(root)
    assert texts[0] == "Velkommen til Rødovre Kommune."
    assert "Tast 4 for børn, skole og byggeri." in texts and not any(t.startswith("Tast 5") for t in texts)
    five = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_digits", Digits="5", To="+4536373637")))
    assert queued_in(five, store) is None  # not a choice in Rødovre
    four = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_digits", Digits="4", To="+4536373637")))
    assert queued_in(four, store) == "borgerservice_basis"
    assert store.get(SID).tenant_id == "rodovre"


def test_routes_closed_callback_request_is_recorded(twilio, clock, store):
    clock.now = datetime(2026, 12, 30, 19, 0, tzinfo=CPH)
    twilio.post("/voice/incoming", fixture("incoming"))
    prompt = _keys(twilio, "1", path="/voice/callback", step="offer")
    assert prompt.find("Gather").get("numDigits") == "8"
    confirm = _keys(twilio, "33661234", path="/voice/callback", step="number")
    assert "33 66 12 34" in " ".join(said(confirm))
    done = _keys(twilio, "1", path="/voice/callback", step="confirm")
    assert "mandag den 4. januar klokken otte" in " ".join(said(done))
    assert done[-1].tag == "Hangup"
    record = store.get(SID)
    assert record.callback.number == "33661234"
    assert record.callback.while_closed
    assert record.state is CallState.CALLBACK


# --- welcome and menu ------------------------------------------------------------------------


def test_routes_open_menu_twiml(twilio, store):
    root = twiml(twilio.post("/voice/incoming", fixture("incoming")))
    gather = root.find("Gather")
    assert gather.get("input") == "speech dtmf"
    assert gather.get("language") == "da-DK"
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("numDigits") == "1"
    assert gather.get("timeout") == "5"
    assert gather.get("action").endswith("/voice/gather?step=menu")
    hints = [h.strip().lower() for h in gather.get("hints").split(",")]
    assert {"affald", "pas", "kørekort", "medarbejder", "tømning af affald"} <= set(hints)
    says = gather.findall("Say")
    options = [s.text for s in says if s.text.startswith(("Tast ", "For English"))]
    assert 1 < len(options) <= MAX_MENU_OPTIONS
    assert any(s.text == "For English, press 6." and s.get("language") == "en-GB" for s in says)
    assert all(s.get("voice") == "Polly.Naja" for s in says if s.get("language") == "da-DK")
    assert any("stjerne" in s.text for s in says)
    assert says[0].text == "Velkommen til Københavns Kommune."  # the called number's tenant
    # silence falls through to the gather action as "no input"
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/gather?step=menu")
    assert store.get(SID).state is CallState.IVR


def test_routes_menu_key_queues_in_the_options_queue(twilio, store, app):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _keys(twilio, "3")
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/wait")
    record = store.get(SID)
    assert record.state is CallState.QUEUED and record.handoff.queue == "pension_visitation"
    assert record.handoff.via is HandoffVia.MENU
    contact = app.state.engine.contact("kobenhavn", record.contact_id)
    assert contact.state.value == "queued" and contact.queue_id == "pension_visitation"


def test_routes_direct_extension_dialling(app, twilio, store):
    _settings(app, extensions={"4711": "+45 33 66 47 11"})
    twilio.post("/voice/incoming", fixture("incoming"))
    prompt = _keys(twilio, "*")
    gather = prompt.find("Gather")
    assert gather.get("finishOnKey") == "#"
    assert gather.get("action").endswith("step=extension")
    dial = _keys(twilio, "4711#", step="extension")
    assert dial.find("Dial/Number").text == "+4533664711"
    assert dial.find("Dial").get("action").endswith("/voice/after-dial")
    unknown = _keys(twilio, "9999", step="extension")
    assert queued_in(unknown, store) == "omstilling"


def test_routes_extension_not_answering_goes_to_the_switchboard(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = twiml(twilio.post("/voice/after-dial", fixture("after_dial")))
    assert queued_in(root, store) == "omstilling"


# --- speech ----------------------------------------------------------------------------------


def test_routes_speech_answer_reads_the_articles_voice_text(twilio, understanding, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "øh hvornår kommer skraldebilen")
    texts = said(root)
    assert texts[0] == understanding.articles["affald_toemning"].voice
    assert root.find("Say").get("language") == "da-DK"
    gather = root.find("Gather")
    assert gather.get("action").endswith("step=resolved")
    assert "Fik du svar på dit spørgsmål? Tryk 1 for ja, 2 for at tale med en medarbejder." in texts
    assert store.get(SID).transcript == ("hvornår kommer skraldebilen",)
    assert store.get(SID).topic == "affald_toemning"


def test_routes_answer_followup_yes_says_goodbye_and_no_puts_through(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    _speech(twilio, "hvornår kommer skraldebilen")
    bye = _keys(twilio, "1", step="resolved")
    assert bye[-1].tag == "Hangup"
    human = _keys(twilio, "2", step="resolved")
    assert queued_in(human, store) == "borgerservice_basis"  # affald_toemning's queue
    assert store.get(SID).handoff.topic == "affald_toemning"


def test_routes_speech_handoff_queues_with_context(twilio, store, app):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "hvad er status på min sag")
    assert queued_in(root, store) == "borgerservice_basis"
    handoff = store.get(SID).handoff
    assert handoff.topic == "generelt_sagsstatus"
    assert handoff.reason is HandoffReason.CASEWORK
    assert handoff.transcript == ("hvad er status på min sag",)
    assert store.get(SID).state is CallState.QUEUED
    (packet,) = app.state.engine.handoff_packets("kobenhavn", store.get(SID).contact_id)
    assert packet.summary == "Opkald på dansk. Borgeren sagde: hvad er status på min sag"
    assert [t.author.value for t in packet.transcript] == ["citizen", "bot"]  # and what the bot said


def test_routes_sensitive_speech_goes_to_the_specialist_queue_with_help_lines(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "min mand slår mig")
    assert queued_in(root, store) == "social_saerlige_behov"
    assert any("1888" in t for t in said(root))
    assert store.get(SID).handoff.sensitive


def test_routes_emergency_says_112_and_offers_a_person_never_dials(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "der er brand i huset")
    assert root.find("Dial") is None and queued_in(root, store) is None
    assert "1 1 2" in said(root)[0]
    assert root.find("Gather").get("action").endswith("step=emergency")
    human = _keys(twilio, "1", step="emergency")
    assert queued_in(human, store) == "borgerservice_basis"
    # after danger was heard, no FAQ answers any more
    assert store.get(SID).flagged is not None


class _Clarifying:
    """The real model, but every utterance is ambiguous between two parking topics. Whether a
    given phrase is ambiguous changes as the model is retrained, so the clarify flow is tested
    with a fixed decision (a fake over the real contract and articles, not a mock)."""

    CANDIDATES = ("vej_byliv_parkeringslicens", "vej_byliv_parkeringsafgift")

    def __init__(self, real) -> None:
        self.real = real
        self.contract, self.articles, self.by_topic = real.contract, real.articles, real.by_topic
        self.article_refs = real.article_refs
        self.articles_for, self.refs_for = real.articles_for, real.refs_for

    def parse(self, text, *args, **kwargs):
        parsed = self.real.parse(text, *args, **kwargs)
        decision = TriageDecision(
            Action.CLARIFY, self.CANDIDATES[0], "borgerservice_basis", False, 0.3, candidates=self.CANDIDATES
        )
        return Parsed(parsed.nlu, parsed.hits, decision)


def test_routes_clarify_reads_candidates_as_keys(app, twilio, understanding, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    app.state.understanding = _Clarifying(understanding)
    root = _speech(twilio, "parkering")
    gather = root.find("Gather")
    assert gather.get("action").endswith("step=clarify")
    assert store.get(SID).candidates == _Clarifying.CANDIDATES
    texts = said(root)
    for i, topic in enumerate(_Clarifying.CANDIDATES, 1):
        assert f"Tast {i} for {understanding.contract.by_id[topic].title}." in texts
    assert "Tast nul for at tale med en medarbejder." in texts
    chosen = _keys(twilio, "2", step="clarify")
    assert said(chosen)[0] == understanding.articles["vej_byliv_parkeringsafgift"].voice
    assert chosen.find("Gather").get("action").endswith("step=resolved")
    assert store.get(SID).topic == "vej_byliv_parkeringsafgift"


def test_routes_clarify_zero_is_a_person(app, twilio, understanding, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    app.state.understanding = _Clarifying(understanding)
    _speech(twilio, "parkering")
    assert queued_in(_keys(twilio, "0", step="clarify"), store) is not None


def test_routes_no_input_twice_goes_to_a_human(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    first = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_empty")))
    assert first.find("Gather") is not None and queued_in(first, store) is None
    assert "Jeg hørte ikke noget." in said(first)
    second = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_empty")))
    assert queued_in(second, store) == "borgerservice_basis"
    assert store.get(SID).handoff.via is HandoffVia.NO_INPUT


@pytest.mark.parametrize(("text", "confidence"), [("hvornår kommer skraldebilen", "0.12"), ("øh øhm", "0.9")])
def test_routes_unclear_speech_twice_goes_to_a_human(twilio, text, confidence, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    first = _speech(twilio, text, confidence)
    assert queued_in(first, store) is None
    second = _speech(twilio, text, confidence)
    assert queued_in(second, store) == "borgerservice_basis"


def test_routes_external_target_is_dialled_when_a_number_is_configured(app, twilio, store):
    _settings(app, transfer_numbers={"udbetaling_danmark": "+4570121212"})
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "jeg har en sag hos udbetaling danmark")
    assert root.find("Dial/Number").text == "+4570121212"
    assert "Udbetaling Danmark" in said(root)[0]
    assert store.get(SID).state is CallState.TRANSFERRED


def test_routes_a_call_put_through_to_an_extension_is_not_abandoned(app, twilio, store):
    _settings(app, extensions={"4711": "+4533664711"})
    twilio.post("/voice/incoming", fixture("incoming"))
    _keys(twilio, "4711", step="extension")
    twiml(twilio.post("/voice/after-dial", fixture("after_dial", DialCallStatus="completed")))
    twilio.post("/voice/status", fixture("status_completed"))
    events = app.state.engine.events("kobenhavn", store.get(SID).contact_id)
    assert "abandoned" not in [e.kind.value for e in events]
    assert store.get(SID).state is CallState.COMPLETED


def test_routes_after_an_extension_call_comes_the_survey_but_not_after_an_external_one(app, twilio):
    _settings(app, extensions={"4711": "+4533664711"}, transfer_numbers={"udbetaling_danmark": "+4570121212"})
    twilio.post("/voice/incoming", fixture("incoming"))
    _keys(twilio, "4711", step="extension")
    colleague = twiml(twilio.post("/voice/after-dial", fixture("after_dial", DialCallStatus="completed")))
    assert colleague.find("Gather").get("action").endswith("/voice/survey?q=1")
    _speech(twilio, "jeg har en sag hos udbetaling danmark")
    external = twiml(twilio.post("/voice/after-dial", fixture("after_dial", DialCallStatus="completed")))
    assert external.find("Gather") is None and external[-1].tag == "Hangup"


def test_routes_external_target_without_number_goes_via_the_switchboard(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "jeg har en sag hos udbetaling danmark")
    assert queued_in(root, store) == "omstilling"
    assert "udbetaling_danmark" in store.get(SID).handoff.explanation


class _BrokenUnderstanding:
    """The real contract and articles, but parsing fails (a fake, not a mock)."""

    def __init__(self, real) -> None:
        self.contract, self.articles, self.by_topic = real.contract, real.articles, real.by_topic

    def parse(self, *args, **kwargs):
        raise ModelNotBuilt("no trained model in var/model: run `python -m bot train`")


def test_routes_understanding_failure_puts_the_caller_through(app, twilio, understanding, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    app.state.understanding = _BrokenUnderstanding(understanding)
    root = _speech(twilio, "hvornår kommer skraldebilen")
    assert queued_in(root, store) == "borgerservice_basis"
    assert "Der opstod en fejl hos os." in said(root)[0]


def test_routes_unknown_queue_in_settings_fails_loudly(app, client, understanding):
    from connectors.voice.edge import check_voice_setup
    from connectors.voice.prompts import load_prompts

    bad = VoiceSettings(twilio_auth_token=TOKEN, fallback_queue="borgerservise")
    with pytest.raises(VoiceConfigError, match="KONTAKT_VOICE_FALLBACK_QUEUE"):
        check_voice_setup(bad, load_prompts(), understanding.contract)


# --- English ---------------------------------------------------------------------------------


def test_routes_english_key_six(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _keys(twilio, "6")
    says = root.findall("Say")
    assert says and all(s.get("language") == "en-GB" for s in says)
    assert queued_in(root, store) == "borgerservice_basis"
    record = store.get(SID)
    assert record.language == "en"
    assert record.handoff.english and record.handoff.via is HandoffVia.ENGLISH


def test_routes_english_speech(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "Hello, I need help with my passport please")
    assert root.find("Say").get("language") == "en-GB"
    assert queued_in(root, store) == "borgerservice_basis"
    assert store.get(SID).handoff.english
    hold = twiml(twilio.post("/voice/wait", fixture("wait")))
    assert hold.find(".//Say").get("language") == "en-GB"
    assert said(hold)[0].startswith("You are number 1 in the queue")


# --- waiting and callback --------------------------------------------------------------------


def _queued(twilio):
    twilio.post("/voice/incoming", fixture("incoming"))
    _keys(twilio, "1")


def test_routes_hold_loop_without_staff_offers_a_callback(twilio):
    _queued(twilio)
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    texts = said(root)
    assert texts[0] == "Du er nummer 1 i køen. Vent venligst, tak for din tålmodighed."
    assert any(t.startswith("Vidste du") or t.startswith("Mens du venter") for t in texts)
    assert root.find(".//Pause") is not None
    # nobody staffed can take the queue: the engine's rule offers a callback
    assert root.find("Gather").get("action").endswith("/voice/callback?step=offer")
    assert "Tryk 1, hvis du vil ringes op i stedet for at vente. Du beholder din plads i køen." in texts
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/wait")  # the next round


def test_routes_hold_loop_with_a_free_agent_says_the_wait_and_offers_no_callback(app, twilio):
    engine = app.state.engine
    engine.add_agent("kobenhavn", "anne", "Anne", skills={"borgerservice_basis": 5})
    engine.set_agent_state("kobenhavn", "anne", "available")
    _queued(twilio)
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    texts = said(root)
    assert texts[0] == "Du er nummer 1 i køen. Vent venligst, tak for din tålmodighed."
    assert re.fullmatch(r"Den forventede ventetid er cirka \d+ minutter\.|Du kommer snart igennem\.", texts[1])
    assert root.find("Gather") is None


def test_routes_hold_music_is_configurable(app, twilio):
    _settings(app, hold_music_url="https://cdn.example.dk/vent.mp3")
    _queued(twilio)
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    assert root.find(".//Play").text == "https://cdn.example.dk/vent.mp3"


def test_routes_tip_is_about_the_topic(twilio, understanding):
    twilio.post("/voice/incoming", fixture("incoming"))
    _speech(twilio, "jeg vil flytte")  # selfservice answer
    _keys(twilio, "2", step="resolved")  # ... but wants a person
    texts = said(twiml(twilio.post("/voice/wait", fixture("wait"))))
    assert any(understanding.articles["borgerservice_flytning"].voice in t for t in texts)


def test_routes_callback_number_entry_confirmation_and_leave(twilio, store, app):
    _queued(twilio)
    prompt = _keys(twilio, "1", path="/voice/callback", step="offer")
    gather = prompt.find("Gather")
    assert gather.get("numDigits") == "8"
    assert gather.get("action").endswith("step=number")
    confirm = _keys(twilio, "33661234", path="/voice/callback", step="number")
    assert "Du har tastet 33 66 12 34. Tryk 1 for at bekræfte, eller 2 for at taste igen." in said(confirm)
    assert store.get(SID).callback is None  # not before it is confirmed
    done = _keys(twilio, "1", path="/voice/callback", step="confirm")
    assert "Vi ringer dig op på 33 66 12 34" in said(done)[0]
    assert done[-1].tag == "Hangup"
    record = store.get(SID)
    assert record.callback.number == "33661234"
    assert record.callback.queue == "borgerservice_basis"
    assert store.get(SID).state is CallState.CALLBACK
    (task,) = app.state.engine.tasks("kobenhavn")  # the callback is an engine task
    assert task.phone == "33661234" and task.contact_id == record.contact_id
    twilio.post("/voice/status", fixture("status_completed"))
    assert store.get(SID).state is CallState.CALLBACK  # owed a callback, not abandoned


def test_routes_callback_spoken_number(twilio):
    _queued(twilio)
    params = fixture("gather_speech", SpeechResult="tre og tredive seksogtres tolv fireogtredive")
    confirm = twiml(twilio.post("/voice/callback?step=number", params))
    assert any("33 66 12 34" in t for t in said(confirm))


def test_routes_callback_invalid_number_asks_again_then_returns_to_the_queue(twilio, store):
    _queued(twilio)
    again = _keys(twilio, "1234", path="/voice/callback", step="number")
    assert "Det var ikke et telefonnummer med 8 cifre." in said(again)
    assert again.find("Gather").get("action").endswith("retry=1")
    back = _keys(twilio, "12", path="/voice/callback", step="number&retry=1")
    assert back[-1].tag == "Redirect" and back[-1].text.endswith("/voice/wait")
    assert store.get(SID).callback is None


def test_routes_callback_reenter_with_2(twilio):
    _queued(twilio)
    _keys(twilio, "33661234", path="/voice/callback", step="number")
    again = _keys(twilio, "2", path="/voice/callback", step="confirm")
    assert again.find("Gather").get("numDigits") == "8"


# --- idempotency -----------------------------------------------------------------------------


def test_routes_retry_with_the_same_callsid_creates_one_contact(app, twilio, store):
    first = twilio.post("/voice/incoming", fixture("incoming"))
    contact = store.get(SID).contact_id
    second = twilio.post("/voice/incoming", fixture("incoming"))
    with app.state.db.read() as s:
        assert s.scalar(select(func.count()).select_from(VoiceCall)) == 1
    assert store.get(SID).contact_id == contact
    assert first.text == second.text


def test_routes_idempotency_token_replays_the_same_twiml(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    headers = {"I-Twilio-Idempotency-Token": "a1b2c3-retry"}
    a = twilio.post("/voice/gather?step=menu", fixture("gather_empty"), headers=headers)
    b = twilio.post("/voice/gather?step=menu", fixture("gather_empty"), headers=headers)
    assert a.text == b.text
    assert store.get(SID).unclear == 1  # the retry did not count as a second silence
    c = twilio.post(
        "/voice/gather?step=menu", fixture("gather_empty"), headers={"I-Twilio-Idempotency-Token": "x"}
    )
    assert queued_in(twiml(c), store) is not None


def test_routes_callback_confirm_retry_records_one_request(twilio, store, app):
    _queued(twilio)
    _keys(twilio, "33661234", path="/voice/callback", step="number")
    first = _keys(twilio, "1", path="/voice/callback", step="confirm")
    requested = store.get(SID).callback
    again = _keys(twilio, "1", path="/voice/callback", step="confirm")
    assert store.get(SID).callback == requested
    assert first[-1].tag == again[-1].tag == "Hangup"
    assert said(again) == said(first)  # the caller hears the same, and only one task exists
    assert len(app.state.engine.tasks("kobenhavn")) == 1


# --- status callback -------------------------------------------------------------------------


def test_routes_status_marks_a_queued_call_abandoned(twilio, store):
    _queued(twilio)
    root = twiml(twilio.post("/voice/status", fixture("status_completed")))
    assert len(root) == 0
    record = store.get(SID)
    assert record.state is CallState.ABANDONED
    assert record.end_status == "completed"
    assert record.ended_at is not None


def test_routes_status_completes_a_call_the_bot_answered(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    _speech(twilio, "hvornår kommer skraldebilen")
    twilio.post("/voice/status", fixture("status_completed"))
    assert store.get(SID).state is CallState.COMPLETED


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_routes_status_failed_calls(twilio, store, status):
    twilio.post("/voice/incoming", fixture("incoming"))
    twilio.post("/voice/status", fixture("status_completed", CallStatus=status))
    assert store.get(SID).state is CallState.FAILED


def test_routes_status_in_progress_changes_nothing(twilio, store):
    _queued(twilio)
    twilio.post("/voice/status", fixture("status_completed", CallStatus="in-progress"))
    assert store.get(SID).state is CallState.QUEUED


# --- survey ----------------------------------------------------------------------------------


AGENT_LEG = "CA" + "4" * 32


def _accepted(app, phone: str | None = "+4533661234") -> str:
    """Anne (with a phone line) takes the waiting call through the engine, and the voice
    bridge runs as after an accept in the agent API. Without a Twilio account the bridge cannot
    redirect the call: the hold loop's next round puts the caller through."""
    engine = app.state.engine
    engine.add_agent("kobenhavn", "anne", "Anne", skills={"borgerservice_basis": 5, "social_saerlige_behov": 5})
    if phone:
        with app.state.db.write() as s:
            set_agent_line(s, tenant_id="kobenhavn", agent_id="anne", phone=phone, client_identity=None,
                           at=engine.clock())  # fmt: skip
    engine.set_agent_state("kobenhavn", "anne", "available")
    (offer,) = engine.route("kobenhavn")
    engine.accept_offer("kobenhavn", offer.id, "anne")
    app.state.channels.assigned("voice", "kobenhavn", offer.contact_id, "anne")
    return offer.contact_id


def _after_bridge(twilio, status: str = "completed"):
    return twiml(twilio.post("/voice/after-bridge",
                             fixture("after_dial", DialCallStatus=status, DialCallSid=AGENT_LEG)))  # fmt: skip


def test_routes_accepted_call_is_put_through_by_the_hold_loop(app, twilio, store):
    _queued(twilio)
    contact_id = _accepted(app)
    assert store.get(SID).state is CallState.BRIDGING
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    dial = root.find("Dial")
    assert dial.find("Number").text == "+4533661234"
    assert dial.get("action").endswith("/voice/after-bridge")
    assert dial.find("Number").get("statusCallback").endswith("/voice/agent-status")
    answered = fixture("status_completed", CallSid=AGENT_LEG, ParentCallSid=SID, CallStatus="in-progress")
    assert len(twiml(twilio.post("/voice/agent-status", answered))) == 0
    assert store.get(SID).state is CallState.CONNECTED
    assert app.state.engine.contact("kobenhavn", contact_id).state.value == "assigned"


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed"])
def test_routes_agent_not_answering_returns_the_call_to_the_front_of_the_queue(app, twilio, store, status):
    _queued(twilio)
    contact_id = _accepted(app)
    twiml(twilio.post("/voice/wait", fixture("wait")))
    leg = fixture("status_completed", CallSid=AGENT_LEG, ParentCallSid=SID, CallStatus=status)
    twilio.post("/voice/agent-status", leg)
    twilio.post("/voice/agent-status", leg)  # Twilio repeated it
    root = _after_bridge(twilio, status)
    assert said(root)[0] == "Medarbejderen kunne ikke tage telefonen. Du er forrest i køen igen."
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/wait")
    engine = app.state.engine
    contact = engine.contact("kobenhavn", contact_id)
    assert contact.state.value == "queued" and contact.assigned_agent_id is None
    declined = [e for e in engine.events("kobenhavn", contact_id) if e.data.get("reason") == "not_connected"]
    assert len(declined) == 1  # once, however many callbacks said so
    assert engine.agent_state("kobenhavn", "anne").state.value == "paused"
    assert said(twiml(twilio.post("/voice/wait", fixture("wait"))))[0].startswith("Du er nummer 1 i køen")


def test_routes_accepted_call_without_a_bridge_is_put_through_by_the_hold_loop(app, twilio, store):
    _queued(twilio)
    bridge = app.state.channels.bridges.pop("voice")  # as if the bridge failed before storing a word
    try:
        _accepted(app)
    finally:
        app.state.channels.bridges["voice"] = bridge
    assert store.get(SID).agent is None
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    assert root.find("Dial/Number").text == "+4533661234"
    assert store.get(SID).state is CallState.BRIDGING


def test_routes_caller_hangs_up_while_the_agents_phone_rings(app, twilio, store):
    _queued(twilio)
    contact_id = _accepted(app)
    twiml(twilio.post("/voice/wait", fixture("wait")))  # dialling Anne
    twilio.post("/voice/status", fixture("status_completed"))  # the caller hung up
    canceled = fixture("status_completed", CallSid=AGENT_LEG, ParentCallSid=SID, CallStatus="canceled")
    twilio.post("/voice/agent-status", canceled)
    engine = app.state.engine
    assert engine.contact("kobenhavn", contact_id).state.value == "abandoned"
    assert engine.waiting("kobenhavn") == 0  # no ghost call in the queue
    assert engine.agent_state("kobenhavn", "anne").state.value == "available"  # Anne missed nothing
    kinds = [e.kind.value for e in engine.events("kobenhavn", contact_id)]
    assert kinds.count("abandoned") == 1


def test_routes_agent_without_a_line_returns_the_call(app, twilio, store):
    _queued(twilio)
    contact_id = _accepted(app, phone=None)
    assert app.state.engine.contact("kobenhavn", contact_id).state.value == "queued"
    assert store.get(SID).state is CallState.QUEUED


def test_routes_agent_status_for_an_unknown_call_creates_nothing(app, twilio, store):
    leg = fixture("status_completed", CallSid=AGENT_LEG, ParentCallSid="CA" + "9" * 32, CallStatus="completed")
    assert len(twiml(twilio.post("/voice/agent-status", leg))) == 0
    assert len(twiml(twilio.post("/voice/status", fixture("status_completed")))) == 0
    assert store.get(SID) is None and app.state.engine.waiting("kobenhavn") == 0


def test_routes_webhook_for_an_unknown_call_starts_it_again(twilio, store):
    root = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_digits", Digits="1")))
    assert said(root) == ["Vi kunne ikke finde dit opkald. Vi begynder forfra."]
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/incoming")
    assert store.get(SID) is None


def test_routes_caller_hangs_up_while_being_offered_is_abandoned(app, twilio, store):
    _queued(twilio)
    engine = app.state.engine
    engine.add_agent("kobenhavn", "anne", "Anne", skills={"borgerservice_basis": 5})
    engine.set_agent_state("kobenhavn", "anne", "available")
    (offer,) = engine.route("kobenhavn")
    twilio.post("/voice/status", fixture("status_completed"))
    contact = engine.contact("kobenhavn", offer.contact_id)
    assert contact.state.value == "abandoned" and engine.offers("kobenhavn") == []
    assert engine.agent_state("kobenhavn", "anne").state.value == "available"  # freed, not stuck


QUESTIONS = (
    "Hvor tilfreds er du samlet set med opkaldet?",
    "Hvor imødekommende var medarbejderen, du talte med?",
    "Hvor tilfreds er du med ventetiden, inden du kom igennem til medarbejderen på telefonen?",
    "I hvor høj grad fik du afklaret det, du henvendte dig om?",
)


def test_routes_survey_after_the_agent_records_four_answers(app, twilio, store):
    _queued(twilio)
    _accepted(app)
    root = _after_bridge(twilio)
    assert store.get(SID).state is CallState.CONNECTED
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("input") == "dtmf"
    assert gather.get("action").endswith("/voice/survey?q=1")
    texts = said(root)
    assert texts[0].startswith("Vi vil gerne stille dig fire spørgsmål om den service, du modtog.")
    assert QUESTIONS[0] in texts
    for q, (score, next_question) in enumerate(zip("7958", [*QUESTIONS[1:], None], strict=True), 1):
        nxt = twiml(twilio.post(f"/voice/survey?q={q}", fixture("gather_digits", Digits=score)))
        if next_question:
            assert next_question in said(nxt)
            assert nxt.find("Gather").get("action").endswith(f"q={q + 1}")
        else:
            assert said(nxt) == ["Tak for dine svar. Farvel."]
            assert nxt[-1].tag == "Hangup"
    assert store.get(SID).survey_answers() == {1: 7, 2: 9, 3: 5, 4: 8}


@pytest.mark.parametrize("key", ["0", "*", "#", "10"])
def test_routes_survey_rejects_keys_outside_1_to_9(twilio, store, key):
    _queued(twilio)
    root = twiml(twilio.post("/voice/survey?q=2", fixture("gather_digits", Digits=key)))
    assert "Tast et tal fra 1 til 9." in said(root)
    assert root.find("Gather").get("action").endswith("q=2&retry=1")
    assert store.get(SID).survey_answers() == {}
    skip = twiml(twilio.post("/voice/survey?q=2&retry=1", fixture("gather_digits", Digits=key)))
    assert QUESTIONS[2] in said(skip)  # a second wrong key moves on without an answer


def test_routes_survey_question_out_of_range_is_422(twilio):
    _queued(twilio)
    assert twilio.post("/voice/survey?q=5", fixture("gather_digits", Digits="5")).status_code == 422


def test_routes_no_survey_after_a_sensitive_call(app, twilio):
    twilio.post("/voice/incoming", fixture("incoming"))
    _speech(twilio, "min mand slår mig")
    _accepted(app)
    root = _after_bridge(twilio)
    assert root.find("Gather") is None
    assert root[-1].tag == "Hangup"


def test_routes_survey_can_be_switched_off(app, twilio):
    _settings(app, survey_enabled=False)
    _queued(twilio)
    _accepted(app)
    root = _after_bridge(twilio)
    assert root.find("Gather") is None


def test_routes_caller_hung_up_in_the_queue(app, twilio, store):
    _queued(twilio)
    twilio.post("/voice/status", fixture("status_completed"))
    assert store.get(SID).state is CallState.ABANDONED
    assert app.state.engine.contact("kobenhavn", store.get(SID).contact_id).state.value == "abandoned"


def test_routes_database_down_is_a_spoken_apology_not_an_http_error(app, twilio, store):
    from bot.engine import ConversationEngine
    from bot.storage import Database
    from connectors.voice.engine_store import EngineCallStore
    from tests.pg import free_port

    down = Database(f"postgresql+psycopg://kontakt@127.0.0.1:{free_port()}/kontakt")  # nobody listens
    try:
        engine = ConversationEngine(down, app.state.engine.contract, app.state.engine.clock)
        app.state.voice_calls = EngineCallStore(engine, store.tenant_for)
        root = twiml(twilio.post("/voice/incoming", fixture("incoming")))
    finally:
        app.state.voice_calls = store
        down.dispose()
    assert said(root) == ["Der opstod en fejl hos os. Prøv at ringe igen om lidt. Farvel."]
    assert root[-1].tag == "Hangup"
