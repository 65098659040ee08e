"""`python -m eval fuzz`: bad input against the in-process app and the e-mail parser.

Generates `--cases` (default 10,000) deterministic cases (`--seed`) over POST /model/parse,
/webhooks/rest/webhook, /chat/api/messages, the Twilio webhooks /voice/incoming and /voice/gather
(signed with a test token exactly as Twilio signs) and `connectors.email.inbound.parse_mail`:
adversarial Danish text, control characters, invalid UTF-8, HTML/script, huge bodies, deeply nested
JSON, wrong types and content types, header injection and path tricks in attachment names.

A case fails when the app answers 5xx, raises, or answers something other than JSON (TwiML for a
successful voice webhook), or when a script tag comes back unescaped in a non-JSON body. Prints
count, 5xx count, exceptions, cases/s and the machine. tests/test_fuzz_api.py runs the same
checks on a smaller hypothesis-driven sample.
"""

from __future__ import annotations

import json
import random
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

FUZZ_TOKEN = "fuzz-auth-token-0123456789abcdef"
BASE = "http://testserver"

# Strings that have broken parsers somewhere; mixed into generated text.
NASTY = [
    "", " ", "\x00", "\u0000\u0001\u001f", "\r\n\r\n", "\t", "\u2028\u2029", "\ufeff", "\ud7ff", "\uffff",
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "</Say><Hangup/>", "<![CDATA[x]]>",
    "]]>", "&amp;&lt;&#0;&#x110000;", "{{7*7}}", "${jndi:ldap://x}", "'; DROP TABLE contacts; --",
    "%s%s%n", "../../../etc/passwd", "..\\..\\boot.ini", "C:\\CON\\AUX", "\u202etxt.exe",
    "æøå ÆØÅ é ü ß", "🙂" * 50, "\U0010ffff", "ｍｉｔ ＣＰＲ", "010190-1234", "0101901234", "nul et nul et ni nul",
    "Hvornår kommer skraldebilen?", "jeg vil tale med et menneske", "jeg vil slå mig selv ihjel",
    "a" * 5000, "ø" * 4001, "\x1b[31mred", "null", "true", "[]", "{}", "NaN", "-0", "1e309",
]
TEXTS = "Hej jeg har et spørgsmål om boligstøtte pas kørekort affald storskrald sygedagpenge flytning".split()


def rand_text(rng: random.Random, max_len: int = 300) -> str:
    parts = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.35:
            parts.append(rng.choice(NASTY))
        elif kind < 0.6:
            parts.append(" ".join(rng.choices(TEXTS, k=rng.randint(1, 8))))
        elif kind < 0.85:
            parts.append("".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(1, 40))))
        else:
            parts.append("".join(chr(rng.choice((rng.randint(0xD800, 0xDFFF), rng.randint(0x10000, 0x10FFFF))))
                                 for _ in range(rng.randint(1, 5))))
    text = "".join(parts)
    return text[: rng.randint(0, max_len)] if rng.random() < 0.5 else text


def deep_json(depth: int, kind: str = "[") -> bytes:
    return (kind * depth + ("]" if kind == "[" else "}") * depth).encode() if kind == "[" else (
        '{"a":' * depth + "1" + "}" * depth).encode()


def rand_json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice([None, True, False, 0, -1, 2**70, 1.5, float("1e300"), rand_text(rng, 60), "", []])
    if r < 0.7:
        return [rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rand_text(rng, 10): rand_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _surrogate_safe_json(obj: Any) -> bytes:
    # json.dumps escapes lone surrogates as \udXXX (ensure_ascii): valid JSON that decodes to a
    # string Python cannot encode as UTF-8, a classic crash.
    return json.dumps(obj, ensure_ascii=True).encode()


@dataclass(frozen=True)
class Case:
    target: str  # parse | webhook | chat | voice_incoming | voice_gather | mail
    body: bytes = b""
    content_type: str = "application/json"
    form: dict[str, str] | None = None
    query: str = ""
    signature: str | None = None  # None = sign correctly
    label: str = ""


JSON_TARGETS = {"parse": "/model/parse", "webhook": "/webhooks/rest/webhook", "chat": "/chat/api/messages"}
FIELDS = {"parse": ("text", "message_id", "tenant"), "webhook": ("sender", "message", "metadata"),
          "chat": ("session", "tenant", "text", "client_message_id")}


def json_case(rng: random.Random, target: str) -> Case:
    r = rng.random()
    keys = FIELDS[target]
    if r < 0.45:  # the right shape with nasty strings
        obj: Any = {k: rand_text(rng) for k in keys if rng.random() < 0.9}
        if target == "webhook" and "metadata" in obj:
            obj["metadata"] = rand_json_value(rng)
        return Case(target, _surrogate_safe_json(obj), label="shape")
    if r < 0.6:  # wrong types
        return Case(target, _surrogate_safe_json({k: rand_json_value(rng) for k in keys}), label="types")
    if r < 0.7:  # not an object / not JSON
        return Case(target, rng.choice([b"", b"null", b"[]", b"\"x\"", b"{", b"{\"text\":", b"\xff\xfe\xfd",
                                        rand_text(rng).encode("utf-8", "surrogatepass")]), label="garbage")
    if r < 0.77:  # deep nesting
        return Case(target, deep_json(rng.choice([50, 1000, 20_000]), rng.choice("[{")), label="deep")
    if r < 0.84:  # huge
        size = rng.choice([70_000, 300_000])
        return Case(target, _surrogate_safe_json({k: "ø" * size for k in keys[:2]}), label="huge")
    if r < 0.92:  # invalid UTF-8 inside a JSON string
        return Case(target, b'{"' + keys[0].encode() + b'": "\xc3\x28\xa0\xa1 \xed\xa0\x80"}', label="utf8")
    ctype = rng.choice(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "", "application/json; charset=latin-1"])
    return Case(target, _surrogate_safe_json({k: rand_text(rng, 50) for k in keys}), content_type=ctype, label="ctype")


def _utf8(text: str) -> str:
    """What can travel in a form: lone surrogates cannot be encoded, so they become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


def voice_case(rng: random.Random) -> Case:
    target = rng.choice(["voice_incoming", "voice_gather"])
    form = {"CallSid": "CA" + "".join(rng.choices("0123456789abcdef", k=32)), "From": "+4520123456",
            "To": "+4533663366", "AccountSid": "AC" + "0" * 32, "CallStatus": "in-progress", "Direction": "inbound"}
    for key in rng.sample(["SpeechResult", "Digits", "Confidence", "From", "CallSid", "Caller", "Language"], k=rng.randint(0, 4)):
        form[key] = _utf8(rand_text(rng, 120))
    if rng.random() < 0.1:
        form.pop("CallSid", None)
    step = rng.choice(["menu", "clarify", "resolved", "emergency", "extension", _utf8(rand_text(rng, 20))])
    query = f"step={step}" if target == "voice_gather" else ""
    sig = None if rng.random() < 0.85 else rng.choice(["", "bogus", "AAAA" * 10])
    return Case(target, form=form, query=query, signature=sig, content_type="form")


def mail_case(rng: random.Random) -> Case:
    r = rng.random()
    name = rng.choice(["../../etc/passwd", "..\\..\\win.ini", "/abs/path.pdf", "a\r\nBcc: x@evil.dk", "\x00.exe",
                       "=?utf-8?b?Li4vLi4vZXRjL3Bhc3N3ZA==?=", "CON", "\u202efdp.exe", "ø" * 400, "", "."])
    subject = rand_text(rng, 200).replace("\r", "\r\n").encode("utf-8", "surrogatepass")
    if r < 0.5:
        raw = (b"From: Borger <borger@example.dk>\r\nTo: kontakt@kk.dk\r\nSubject: " + subject +
               b"\r\nBcc: injected@evil.dk\r\nMessage-ID: <" + rand_text(rng, 30).encode("utf-8", "surrogatepass") + b">\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
               b"Content-Type: text/html; charset=" + rng.choice([b"utf-8", b"x-unknown", b"utf-7", b""]) + b"\r\n\r\n" +
               rand_text(rng).encode("utf-8", "surrogatepass") + b"<script>alert(1)</script>\r\n--XX\r\n"
               b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" +
               name.encode("utf-8", "surrogatepass") + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               + rng.choice([b"aGVq", b"!!!notbase64", b""]) + b"\r\n--XX--\r\n")
    elif r < 0.8:
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
    else:
        raw = b"Subject: " + b"=?utf-8?q?" + b"=C3=A6" * rng.randint(1, 5000) + b"?=\r\n" + b"X: y\r\n" * rng.randint(0, 2000) + b"\r\nbody"
    return Case("mail", raw, content_type="message/rfc822")


def generate(n: int, seed: int = 0) -> Iterator[Case]:
    rng = random.Random(seed)
    for _ in range(n):
        r = rng.random()
        if r < 0.22:
            yield json_case(rng, "parse")
        elif r < 0.44:
            yield json_case(rng, "webhook")
        elif r < 0.66:
            yield json_case(rng, "chat")
        elif r < 0.86:
            yield voice_case(rng)
        else:
            yield mail_case(rng)


# --- running and checking ------------------------------------------------------------------------


class BadResponse(AssertionError):
    """The app answered a case in a way a citizen or a browser must never see."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def check_response(case: Case, status: int, content_type: str, body: bytes) -> None:
    """Raise BadResponse unless the answer is a non-5xx JSON (or TwiML for a voice 200)."""
    if status >= 500:
        raise BadResponse(f"{case.target}: {status} {body[:200]!r}", status)
    ctype = content_type.split(";")[0].strip()
    if case.target.startswith("voice") and status == 200:
        if ctype != "application/xml":
            raise BadResponse(f"{case.target}: TwiML expected, got {content_type!r}")
        root = ET.fromstring(body)  # escaped: a <script> in speech cannot become markup
        if root.tag != "Response" or any(el.tag.lower() == "script" for el in root.iter()):
            raise BadResponse(f"{case.target}: not a clean TwiML <Response>: {body[:200]!r}")
        return
    if ctype != "application/json":
        raise BadResponse(f"{case.target}: {status} with {content_type!r}, not JSON: {body[:200]!r}")
    json.loads(body)


def make_app(settings: Any, understanding: Any) -> Any:
    """The real app (core API, web chat, voice) with a test Twilio token and no rate limit."""
    from bot.api import create_app
    from connectors.voice.config import VoiceSettings
    from connectors.voice.routes import router as voice_router
    from connectors.voice.security import get_voice_settings
    from connectors.webchat import router as webchat_router

    app = create_app(settings, routers=[webchat_router, voice_router], understanding=understanding)
    without_rate_limit(app)
    voice = VoiceSettings(twilio_auth_token=FUZZ_TOKEN)
    app.dependency_overrides[get_voice_settings] = lambda: voice
    return app


def without_rate_limit(app: Any) -> None:
    """Turn the app's rate limiter off (before the first request builds the middleware stack):
    fuzzing sends thousands of requests from one client on purpose."""
    from bot.api.ratelimit import RateLimit, RateLimitSettings

    for m in app.user_middleware:
        if m.cls is RateLimit:
            m.kwargs["settings"] = RateLimitSettings(enabled=False)


def make_client(app: Any) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient
    return TestClient(app, raise_server_exceptions=True)


def run_case(client: Any, case: Case) -> None:
    """Send one case (or parse it as mail) and check the answer; raises on any failure."""
    if case.target == "mail":
        from connectors.email.inbound import parse_mail

        mail = parse_mail(case.body)
        for value in (mail.subject, mail.from_addr, mail.from_name, mail.message_id):
            if "\r" in value or "\n" in value:
                raise BadResponse(f"mail: header value with a line break: {value[:80]!r}")
        for a in mail.attachments:
            if "/" in a.filename or "\\" in a.filename or ".." in a.filename or "\x00" in a.filename:
                raise BadResponse(f"mail: unsafe attachment name {a.filename!r}")
        return
    if case.target.startswith("voice"):
        from twilio.request_validator import RequestValidator

        from urllib.parse import quote

        path = "/voice/incoming" if case.target == "voice_incoming" else "/voice/gather"
        url = path + (f"?step={quote(case.query[5:], safe='')}" if case.query else "")  # as a client sends it
        sig = case.signature
        if sig is None:
            sig = RequestValidator(FUZZ_TOKEN).compute_signature(BASE + url, case.form or {})
        r = client.post(url, data=case.form, headers={"X-Twilio-Signature": sig})
    else:
        headers = {"content-type": case.content_type} if case.content_type else {}
        r = client.post(JSON_TARGETS[case.target], content=case.body, headers=headers)
    check_response(case, r.status_code, r.headers.get("content-type", ""), r.content)


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: int = 0
    exceptions: int = 0
    bad_responses: int = 0
    seconds: float = 0.0
    by_target: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def fuzz(client: Any, cases: Iterator[Case], progress: Callable[[int], None] | None = None) -> FuzzReport:
    report = FuzzReport()
    started = time.perf_counter()
    for case in cases:
        report.cases += 1
        report.by_target[case.target] += 1
        try:
            run_case(client, case)
        except BadResponse as exc:
            report.bad_responses += 1
            report.server_errors += exc.status >= 500
            if len(report.failures) < 20:
                report.failures.append(f"{case.label} {exc}"[:400])
        except Exception as exc:  # noqa: BLE001 - counting every crash is the point
            report.exceptions += 1
            if len(report.failures) < 20:
                report.failures.append(f"{case.target}/{case.label} {type(exc).__name__}: {exc}"[:300] + "\n"
                                       + "".join(traceback.format_exception(exc)[-3:])[:600])
        if progress is not None and report.cases % 1000 == 0:
            progress(report.cases)
    report.seconds = time.perf_counter() - started
    return report


def run(settings: Any, n: int = 10_000, seed: int = 0) -> FuzzReport:
    import sys

    from bot.understanding import Understanding
    from eval.__main__ import machine

    u = Understanding.load(settings)
    with make_client(make_app(settings, u)) as client:
        report = fuzz(client, generate(n, seed), progress=lambda i: print(f"  {i} cases", file=sys.stderr))
    print(f"machine: {machine()}")
    print(f"fuzz cases:        {report.cases} (seed {seed}) {dict(report.by_target)}")
    print(f"5xx responses:     {report.server_errors}")
    print(f"bad responses:     {report.bad_responses}")
    print(f"exceptions:        {report.exceptions}")
    print(f"cases/s:           {report.cases / report.seconds:.1f} ({report.seconds:.1f} s)")
    for f in report.failures:
        print("  FAIL " + f)
    return report
