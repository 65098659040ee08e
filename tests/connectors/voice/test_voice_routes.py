"""The voice webhooks end to end: signed Twilio requests in, TwiML out, against the real model."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from voice_helpers import CPH, TOKEN, fixture, said, twiml

from bot.errors import ModelNotBuilt, VoiceConfigError
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


def _settings(app, **kw) -> VoiceSettings:
    s = VoiceSettings(twilio_auth_token=TOKEN, **kw)
    app.dependency_overrides[get_voice_settings] = lambda: s
    return s


# --- time control ----------------------------------------------------------------------------


def test_routes_closed_hours_say_when_we_open_and_offer_a_callback(twilio, clock, store):
    clock.now = datetime(2026, 12, 31, 19, 0, tzinfo=CPH)  # Thursday evening; 1 January is a holiday
    root = twiml(twilio.post("/voice/incoming", fixture("incoming")))
    texts = said(root)
    assert texts[0] == "Vi har lukket."
    assert texts[1] == "Vi åbner igen mandag den 4. januar klokken otte."
    gather = root.find("Gather")
    assert gather.get("action").endswith("/voice/callback?step=offer")
    assert gather.get("numDigits") == "1"
    assert root[-1].tag == "Hangup"
    assert root.find("Enqueue") is None
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


def test_routes_tenant_schedule_from_settings(app, twilio, clock):
    _settings(app, opening_hours={"mon": ["08:30-15:00"], "tue": ["08:30-15:00"]})
    clock.now = datetime(2026, 11, 24, 16, 0, tzinfo=CPH)  # Tuesday after 15:00
    texts = said(twiml(twilio.post("/voice/incoming", fixture("incoming"))))
    assert texts[1] == "Vi åbner igen mandag den 30. november klokken halv ni."


def test_routes_closed_callback_request_is_recorded(twilio, clock, store):
    clock.now = datetime(2026, 12, 31, 19, 0, tzinfo=CPH)
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
    assert says[0].text == "Velkommen til kommunens borgerservice."
    # silence falls through to the gather action as "no input"
    assert root[-1].tag == "Redirect" and root[-1].text.endswith("/voice/gather?step=menu")
    assert store.get(SID).state is CallState.IVR


def test_routes_menu_key_enqueues_in_the_options_queue(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _keys(twilio, "3")
    enqueue = root.find("Enqueue")
    assert enqueue.text == "pension_visitation"
    assert enqueue.get("waitUrl").endswith("/voice/wait")
    assert enqueue.get("action").endswith("/voice/after-queue")
    record = store.get(SID)
    assert record.state is CallState.QUEUED
    assert record.handoff.via is HandoffVia.MENU


def test_routes_direct_extension_dialling(app, twilio):
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
    assert unknown.find("Enqueue").text == "omstilling"


def test_routes_extension_not_answering_goes_to_the_switchboard(twilio):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = twiml(twilio.post("/voice/after-dial", fixture("after_dial")))
    assert root.find("Enqueue").text == "omstilling"


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
    assert human.find("Enqueue").text == "borgerservice_basis"  # affald_toemning's queue
    assert store.get(SID).handoff.topic == "affald_toemning"


def test_routes_speech_handoff_enqueues_with_context(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "hvad er status på min sag")
    enqueue = root.find("Enqueue")
    assert enqueue.text == "borgerservice_basis"
    assert enqueue.get("waitUrl").endswith("/voice/wait")
    handoff = store.get(SID).handoff
    assert handoff.topic == "generelt_sagsstatus"
    assert handoff.reason is HandoffReason.CASEWORK
    assert handoff.transcript == ("hvad er status på min sag",)
    assert store.get(SID).state is CallState.QUEUED


def test_routes_sensitive_speech_goes_to_the_specialist_queue_with_help_lines(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "min mand slår mig")
    assert root.find("Enqueue").text == "social_saerlige_behov"
    assert any("1888" in t for t in said(root))
    assert store.get(SID).handoff.sensitive


def test_routes_emergency_says_112_and_offers_a_person_never_dials(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "der er brand i huset")
    assert root.find("Dial") is None and root.find("Enqueue") is None
    assert "1 1 2" in said(root)[0]
    assert root.find("Gather").get("action").endswith("step=emergency")
    human = _keys(twilio, "1", step="emergency")
    assert human.find("Enqueue").text == "borgerservice_basis"
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


def test_routes_clarify_zero_is_a_person(app, twilio, understanding):
    twilio.post("/voice/incoming", fixture("incoming"))
    app.state.understanding = _Clarifying(understanding)
    _speech(twilio, "parkering")
    assert _keys(twilio, "0", step="clarify").find("Enqueue") is not None


def test_routes_no_input_twice_goes_to_a_human(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    first = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_empty")))
    assert first.find("Gather") is not None and first.find("Enqueue") is None
    assert "Jeg hørte ikke noget." in said(first)
    second = twiml(twilio.post("/voice/gather?step=menu", fixture("gather_empty")))
    assert second.find("Enqueue").text == "borgerservice_basis"
    assert store.get(SID).handoff.via is HandoffVia.NO_INPUT


@pytest.mark.parametrize(("text", "confidence"), [("hvornår kommer skraldebilen", "0.12"), ("øh øhm", "0.9")])
def test_routes_unclear_speech_twice_goes_to_a_human(twilio, text, confidence):
    twilio.post("/voice/incoming", fixture("incoming"))
    first = _speech(twilio, text, confidence)
    assert first.find("Enqueue") is None
    second = _speech(twilio, text, confidence)
    assert second.find("Enqueue").text == "borgerservice_basis"


def test_routes_external_target_is_dialled_when_a_number_is_configured(app, twilio, store):
    _settings(app, transfer_numbers={"udbetaling_danmark": "+4570121212"})
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "jeg har en sag hos udbetaling danmark")
    assert root.find("Dial/Number").text == "+4570121212"
    assert "Udbetaling Danmark" in said(root)[0]
    assert store.get(SID).state is CallState.TRANSFERRED


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
    assert root.find("Enqueue").text == "omstilling"
    assert "udbetaling_danmark" in store.get(SID).handoff.explanation


class _BrokenUnderstanding:
    """The real contract and articles, but parsing fails (a fake, not a mock)."""

    def __init__(self, real) -> None:
        self.contract, self.articles, self.by_topic = real.contract, real.articles, real.by_topic

    def parse(self, *args, **kwargs):
        raise ModelNotBuilt("no trained model in var/model: run `python -m bot train`")


def test_routes_understanding_failure_puts_the_caller_through(app, twilio, understanding):
    twilio.post("/voice/incoming", fixture("incoming"))
    app.state.understanding = _BrokenUnderstanding(understanding)
    root = _speech(twilio, "hvornår kommer skraldebilen")
    assert root.find("Enqueue").text == "borgerservice_basis"
    assert "Der opstod en fejl hos os." in said(root)[0]


def test_routes_unknown_queue_in_settings_fails_loudly(app, client, understanding):
    from connectors.voice.prompts import load_prompts
    from connectors.voice.routes import check_voice_setup

    bad = VoiceSettings(twilio_auth_token=TOKEN, fallback_queue="borgerservise")
    with pytest.raises(VoiceConfigError, match="KONTAKT_VOICE_FALLBACK_QUEUE"):
        check_voice_setup(bad, load_prompts(), understanding.contract)


# --- English ---------------------------------------------------------------------------------


def test_routes_english_key_six(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _keys(twilio, "6")
    says = root.findall("Say")
    assert says and all(s.get("language") == "en-GB" for s in says)
    assert root.find("Enqueue").text == "borgerservice_basis"
    record = store.get(SID)
    assert record.language == "en"
    assert record.handoff.english and record.handoff.via is HandoffVia.ENGLISH


def test_routes_english_speech(twilio, store):
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "Hello, I need help with my passport please")
    assert root.find("Say").get("language") == "en-GB"
    assert root.find("Enqueue").text == "borgerservice_basis"
    assert store.get(SID).handoff.english
    hold = twiml(twilio.post("/voice/wait", fixture("wait")))
    assert hold.find("Say").get("language") == "en-GB"
    assert said(hold)[0].startswith("You are number 3 in the queue")


def test_routes_taskrouter_task_carries_the_context(app, twilio):
    _settings(app, taskrouter_workflow_sid="WW0123456789abcdef0123456789abcdef")
    twilio.post("/voice/incoming", fixture("incoming"))
    root = _speech(twilio, "hvad er status på min sag")
    enqueue = root.find("Enqueue")
    assert enqueue.get("workflowSid").startswith("WW")
    task = json.loads(enqueue.find("Task").text)
    assert task["topic"] == "generelt_sagsstatus" and task["queue"] == "borgerservice_basis"
    assert task["english"] is False and task["channel"] == "voice"


# --- waiting and callback --------------------------------------------------------------------


def _queued(twilio):
    twilio.post("/voice/incoming", fixture("incoming"))
    _keys(twilio, "1")


def test_routes_hold_message_has_position_tip_and_pause(twilio):
    _queued(twilio)
    root = twiml(twilio.post("/voice/wait", fixture("wait")))
    texts = said(root)
    assert texts[0] == "Du er nummer 3 i køen. Vent venligst, tak for din tålmodighed."
    assert any(t.startswith("Vidste du") or t.startswith("Mens du venter") for t in texts)
    assert root.find(".//Pause") is not None
    assert root.find("Gather") is None  # 3 waiting, 12 s: no callback offer yet


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


@pytest.mark.parametrize(
    ("size", "seconds", "offered"),
    [("6", "10", True), ("5", "10", False), ("2", "60", True), ("2", "59", False)],
)
def test_routes_callback_offer_thresholds(twilio, size, seconds, offered):
    _queued(twilio)
    root = twiml(twilio.post("/voice/wait", fixture("wait", CurrentQueueSize=size, QueueTime=seconds)))
    gather = root.find("Gather")
    assert (gather is not None) is offered
    if offered:
        assert gather.get("action").endswith("/voice/callback?step=offer")
        assert "Tryk 1, hvis du vil ringes op i stedet for at vente. Du beholder din plads i køen." in said(
            root
        )


def test_routes_callback_thresholds_are_configurable(app, twilio):
    _settings(app, callback_queue_length=2, callback_wait_seconds=30)
    _queued(twilio)
    assert (
        twiml(twilio.post("/voice/wait", fixture("wait", CurrentQueueSize="3", QueueTime="0"))).find("Gather")
        is not None
    )
    assert (
        twiml(twilio.post("/voice/wait", fixture("wait", CurrentQueueSize="1", QueueTime="30"))).find(
            "Gather"
        )
        is not None
    )


def test_routes_callback_number_entry_confirmation_and_leave(twilio, store):
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
    assert done[-1].tag == "Leave"
    record = store.get(SID)
    assert record.callback.number == "33661234"
    assert record.callback.queue == "borgerservice_basis"
    after = twiml(twilio.post("/voice/after-queue", fixture("after_queue", QueueResult="leave")))
    assert after[-1].tag == "Hangup"
    assert store.get(SID).state is CallState.CALLBACK
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


def test_routes_retry_with_the_same_callsid_creates_one_contact(twilio, store):
    first = twilio.post("/voice/incoming", fixture("incoming"))
    contact = store.get(SID).contact_id
    second = twilio.post("/voice/incoming", fixture("incoming"))
    assert len(store) == 1
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
    assert twiml(c).find("Enqueue") is not None


def test_routes_callback_confirm_retry_records_one_request(twilio, store):
    _queued(twilio)
    _keys(twilio, "33661234", path="/voice/callback", step="number")
    first = _keys(twilio, "1", path="/voice/callback", step="confirm")
    requested = store.get(SID).callback
    _keys(twilio, "1", path="/voice/callback", step="confirm")
    assert store.get(SID).callback == requested
    assert first[-1].tag == "Leave"


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


QUESTIONS = (
    "Hvor tilfreds er du samlet set med opkaldet?",
    "Hvor imødekommende var medarbejderen, du talte med?",
    "Hvor tilfreds er du med ventetiden, inden du kom igennem til medarbejderen på telefonen?",
    "I hvor høj grad fik du afklaret det, du henvendte dig om?",
)


def test_routes_survey_after_the_agent_records_four_answers(twilio, store):
    _queued(twilio)
    root = twiml(twilio.post("/voice/after-queue", fixture("after_queue")))
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


def test_routes_no_survey_after_a_sensitive_call(twilio):
    twilio.post("/voice/incoming", fixture("incoming"))
    _speech(twilio, "min mand slår mig")
    root = twiml(twilio.post("/voice/after-queue", fixture("after_queue")))
    assert root.find("Gather") is None
    assert root[-1].tag == "Hangup"


def test_routes_survey_can_be_switched_off(app, twilio):
    _settings(app, survey_enabled=False)
    _queued(twilio)
    root = twiml(twilio.post("/voice/after-queue", fixture("after_queue")))
    assert root.find("Gather") is None


def test_routes_caller_hung_up_in_the_queue(twilio, store):
    _queued(twilio)
    twiml(twilio.post("/voice/after-queue", fixture("after_queue", QueueResult="hangup")))
    assert store.get(SID).state is CallState.ABANDONED
