"""Pure TwiML builders (twilio.twiml.voice_response). No I/O and no decisions: the routes decide,
these functions render. Texts come from prompts_da.yml through `Prompts`; each builder returns a
complete `VoiceResponse`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from connectors.voice.calls import SURVEY_QUESTIONS
from connectors.voice.prompts import Lang, Prompts

# Paths of the webhooks (the router's prefix is /voice).
INCOMING = "/voice/incoming"
GATHER = "/voice/gather"
WAIT = "/voice/wait"
AFTER_BRIDGE = "/voice/after-bridge"
AGENT_STATUS = "/voice/agent-status"
AFTER_DIAL = "/voice/after-dial"
CALLBACK = "/voice/callback"
SURVEY = "/voice/survey"

MAX_HINTS_CHARS = 4000  # keep the hints attribute a reasonable size


@dataclass(frozen=True)
class Urls:
    """Absolute action URLs when the public base URL is known, else root-relative ones (Twilio
    resolves those against the URL it just requested)."""

    base: str | None = None

    def __call__(self, path: str, **query: object) -> str:
        q = {k: v for k, v in query.items() if v is not None}
        return (self.base or "") + path + (f"?{urlencode(q)}" if q else "")


@dataclass(frozen=True)
class Voice:
    prompts: Prompts
    urls: Urls = Urls()
    voice_da: str | None = "Polly.Naja"
    voice_en: str | None = "Polly.Amy"
    gather_timeout: int = 5

    # --- small pieces -----------------------------------------------------------------

    def _voice(self, lang: Lang) -> str | None:
        return self.voice_en if lang is Lang.EN else self.voice_da

    def say(self, parent: VoiceResponse | Gather, text: str, lang: Lang) -> None:
        kwargs = {"language": lang.bcp47}
        if self._voice(lang):
            kwargs["voice"] = self._voice(lang)
        parent.say(text, **kwargs)

    def says(self, parent: VoiceResponse | Gather, lang: Lang, *keys: str, **values: object) -> None:
        for key in keys:
            self.say(parent, self.prompts.text(key, lang, **values), lang)

    def _gather(
        self,
        parent: VoiceResponse,
        lang: Lang,
        action: str,
        *,
        speech: bool = True,
        num_digits: int | None = 1,
        hints: str | None = None,
        timeout: int | None = None,
        finish_on_key: str | None = None,
    ) -> Gather:
        return parent.gather(
            input="speech dtmf" if speech else "dtmf",
            language=lang.bcp47 if speech else None,
            speech_timeout="auto" if speech else None,
            hints=hints or None,
            num_digits=num_digits,
            action=action,
            method="POST",
            timeout=timeout or self.gather_timeout,
            finish_on_key=finish_on_key,
        )

    def _after_silence(self, resp: VoiceResponse, action: str) -> None:
        """Twilio runs the next verb when a <Gather> gets nothing: come back with no input."""
        resp.redirect(action, method="POST")

    # --- entry point --------------------------------------------------------------------

    def closed(
        self, lines: Sequence[str], lang: Lang = Lang.DA, offer_callback: bool = True
    ) -> VoiceResponse:
        """Closed or holiday message, the callback offer (key 1), then goodbye and hang up."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        if offer_callback:
            g = self._gather(resp, lang, self.urls(CALLBACK, step="offer"), speech=False)
            self.says(g, lang, "closed_callback_offer")
        self.says(resp, lang, "goodbye")
        resp.hangup()
        return resp

    def menu(
        self,
        welcome: str | None,
        hints: str,
        lang: Lang = Lang.DA,
        *,
        again: str | None = None,
        tenant_id: str | None = None,
    ) -> VoiceResponse:
        """The welcome and the level-1 menu (the called tenant's): speech or one key (1-6, * for
        an extension)."""
        resp = VoiceResponse()
        action = self.urls(GATHER, step="menu")
        g = self._gather(resp, lang, action, hints=hints)
        if welcome:
            self.say(g, welcome, lang)
        if again:
            self.say(g, again, lang)
            self.says(g, lang, "menu_again")
        else:
            self.says(g, lang, "menu_intro")
            for option in self.prompts.menu_for(tenant_id):
                if option.english:
                    self.say(g, option.en, Lang.EN)  # "For English, press 6" is said in English
                else:
                    label = option.en if lang is Lang.EN else option.da
                    self.says(g, lang, "menu_option", key=option.key, label=label)
            self.says(g, lang, "menu_extension")
        self._after_silence(resp, action)
        return resp

    def reprompt(self, lines: Sequence[str], hints: str, lang: Lang = Lang.DA) -> VoiceResponse:
        """After an unclear answer or an out-of-scope question: say why, ask again (no options)."""
        return self.menu(None, hints, lang, again=" ".join(lines))

    def extension_prompt(self, lang: Lang = Lang.DA) -> VoiceResponse:
        resp = VoiceResponse()
        action = self.urls(GATHER, step="extension")
        g = self._gather(resp, lang, action, speech=False, num_digits=None, finish_on_key="#")
        self.says(g, lang, "extension_prompt")
        self._after_silence(resp, action)
        return resp

    # --- the bot's answers ------------------------------------------------------------------

    def answer(self, spoken: str, lang: Lang = Lang.DA) -> VoiceResponse:
        """The article's `voice:` text, then 'did that answer your question? 1 yes, 2 a person'."""
        resp = VoiceResponse()
        self.say(resp, spoken, lang)
        action = self.urls(GATHER, step="resolved")
        g = self._gather(resp, lang, action, hints="ja, nej, medarbejder")
        self.says(g, lang, "answer_followup")
        self._after_silence(resp, action)
        return resp

    def clarify(self, titles: Sequence[str], lang: Lang = Lang.DA) -> VoiceResponse:
        """The 2-3 candidate topics as keys 1..n, 0 for a person."""
        resp = VoiceResponse()
        action = self.urls(GATHER, step="clarify")
        g = self._gather(resp, lang, action, hints=", ".join(titles))
        self.says(g, lang, "clarify")
        for i, title in enumerate(titles, 1):
            self.says(g, lang, "clarify_option", key=i, title=title)
        self.says(g, lang, "clarify_human")
        self._after_silence(resp, action)
        return resp

    def emergency(self, lang: Lang = Lang.DA) -> VoiceResponse:
        """Tell the caller to ring 112 (never dialled from here), then offer a person."""
        resp = VoiceResponse()
        self.says(resp, lang, "emergency")
        g = self._gather(resp, lang, self.urls(GATHER, step="emergency"), speech=False)
        self.says(g, lang, "emergency_offer_human")
        self.says(resp, lang, "emergency")
        resp.hangup()
        return resp

    def goodbye(self, lang: Lang = Lang.DA, key: str = "goodbye", lines: Sequence[str] = ()) -> VoiceResponse:
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        self.says(resp, lang, key)
        resp.hangup()
        return resp

    # --- to a human ----------------------------------------------------------------------------

    def to_queue(self, lines: Sequence[str], lang: Lang = Lang.DA) -> VoiceResponse:
        """Say why, then join the hold loop: the call waits in the engine's queue, where the
        router offers it to an agent and the bridge puts it through."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        resp.redirect(self.urls(WAIT), method="POST")
        return resp

    def bridge(
        self, lines: Sequence[str], target: str, lang: Lang = Lang.DA, timeout: int = 20
    ) -> VoiceResponse:
        """Put the caller through to the agent who accepted: <Dial> their phone (<Number>) or
        Twilio Client identity ("client:anne" → <Client>). The agent leg reports to
        /voice/agent-status; when it ends, /voice/after-bridge decides what the caller hears."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        dial = resp.dial(action=self.urls(AFTER_BRIDGE), method="POST", timeout=timeout)
        events = "initiated ringing answered completed"
        status = {"status_callback": self.urls(AGENT_STATUS), "status_callback_method": "POST",
                  "status_callback_event": events}  # fmt: skip
        if target.startswith("client:"):
            dial.client(identity=target.removeprefix("client:"), **status)
        else:
            dial.number(target, **status)
        return resp

    def start_again(self, lang: Lang, incoming_url: str) -> VoiceResponse:
        """A webhook for a call we do not know: say so and start the call afresh."""
        resp = VoiceResponse()
        self.says(resp, lang, "call_unknown")
        resp.redirect(incoming_url, method="POST")
        return resp

    def dial(
        self, lines: Sequence[str], target: str, lang: Lang = Lang.DA, timeout: int = 20
    ) -> VoiceResponse:
        """Transfer to a number or a SIP address; /voice/after-dial handles no answer."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        dial = resp.dial(action=self.urls(AFTER_DIAL), method="POST", timeout=timeout)
        if target.startswith("sip:"):
            dial.sip(target)
        else:
            dial.number(target)
        return resp

    # --- waiting in the queue (waitUrl) ----------------------------------------------------

    def hold(
        self,
        lines: Sequence[str],
        lang: Lang = Lang.DA,
        *,
        offer_callback: bool,
        music_url: str | None = None,
        pause_seconds: int = 15,
    ) -> VoiceResponse:
        """Position, expected wait, tip, callback offer (key 1), music or silence, then back to
        the hold loop (<Redirect>)."""
        resp = VoiceResponse()
        parent: VoiceResponse | Gather = resp
        if offer_callback:
            parent = self._gather(resp, lang, self.urls(CALLBACK, step="offer"), speech=False, timeout=1)
        for line in lines:
            self.say(parent, line, lang)
        if offer_callback:
            self.says(parent, lang, "callback_offer")
        if music_url:
            parent.play(music_url)
        else:
            parent.pause(length=pause_seconds)
        resp.redirect(self.urls(WAIT), method="POST")  # the next round of the hold loop
        return resp

    def callback_number_prompt(
        self, lang: Lang, digits: int, lines: Sequence[str] = (), *, retry: bool = False
    ) -> VoiceResponse:
        """Keypad (or spoken) entry of the callback number; `retry` marks the second attempt."""
        resp = VoiceResponse()
        action = self.urls(CALLBACK, step="number", retry=1 if retry else None)
        g = self._gather(resp, lang, action, num_digits=digits, timeout=10, hints="")
        for line in lines:
            self.say(g, line, lang)
        self.says(g, lang, "callback_number_prompt")
        self._after_silence(resp, action)
        return resp

    def callback_confirm(self, spoken_number: str, lang: Lang = Lang.DA) -> VoiceResponse:
        resp = VoiceResponse()
        action = self.urls(CALLBACK, step="confirm")
        g = self._gather(resp, lang, action, hints="ja, nej")
        self.says(g, lang, "callback_confirm", number=spoken_number)
        self._after_silence(resp, action)
        return resp

    def leave_queue(self, lines: Sequence[str], lang: Lang = Lang.DA) -> VoiceResponse:
        """Say the expectation and hang up: the caller left the queue with a callback task."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        resp.hangup()
        return resp

    def back_to_waiting(self, lines: Sequence[str], lang: Lang = Lang.DA) -> VoiceResponse:
        """Inside the waitUrl flow: say something and return to the hold loop."""
        resp = VoiceResponse()
        for line in lines:
            self.say(resp, line, lang)
        resp.redirect(self.urls(WAIT), method="POST")
        return resp

    # --- after the call: rapid phone feedback (seed 003 §3.3) --------------------------------

    def survey_question(
        self,
        question: int,
        lang: Lang = Lang.DA,
        *,
        intro: bool = False,
        invalid: bool = False,
        retry: bool = False,
        own: tuple[str, ...] = (),
    ) -> VoiceResponse:
        """One question on the 1-9 keypad scale; no answer ends the survey politely. `own` are
        the municipality's own questions in `lang` (knowledge/tenants.yaml `survey`), else the
        prompt file's four."""
        count = len(own) or SURVEY_QUESTIONS
        if not 1 <= question <= count:
            raise ValueError(f"survey question {question} does not exist")
        resp = VoiceResponse()
        action = self.urls(SURVEY, q=question, retry=1 if retry else None)
        g = self._gather(resp, lang, action, speech=False, timeout=8)
        if intro and own:
            counted = self.prompts.data.hours_en[count] if lang is Lang.EN else self.prompts.data.hours_da[count]
            self.says(g, lang, "survey_intro_own", count=counted)
        elif intro:
            self.says(g, lang, "survey_intro")
        if invalid:
            self.says(g, lang, "survey_invalid")
        if own:
            self.say(g, own[question - 1], lang)
        else:
            self.says(g, lang, f"survey_q{question}")
        self.says(resp, lang, "survey_thanks")  # no answer: end politely
        resp.hangup()
        return resp


def build_hints(words: Iterable[str], titles: Iterable[str], limit: int = MAX_HINTS_CHARS) -> str:
    """Comma-separated speech hints: common words first, then pieces of topic titles (split at
    commas and dashes, since Twilio splits hints at commas). Duplicates are dropped ignoring case."""
    seen: dict[str, str] = {}
    for w in words:
        w = w.strip()
        if w:
            seen.setdefault(w.lower(), w)
    for title in titles:
        for piece in title.replace("–", ",").replace("…", "").replace("?", "").split(","):
            piece = piece.strip()
            if 2 < len(piece) <= 100:
                seen.setdefault(piece.lower(), piece)
    out: list[str] = []
    size = 0
    for hint in seen.values():
        if size + len(hint) + 2 > limit:
            break
        out.append(hint)
        size += len(hint) + 2
    return ", ".join(out)


def render(resp: VoiceResponse) -> str:
    return str(resp)
