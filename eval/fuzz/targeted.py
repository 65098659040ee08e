"""Hand-written cases for failures once found against the served app, kept so they stay fixed:
text whose NFKC form is far longer than its bytes (it aborted the process in the embedder's
native tokeniser), texts that cost seconds of CPU, integer ids past int64, an unknown tenant,
a keypad digit that is a digit only to `str.isdigit`, WebSocket frames the handler did not
expect, and a NUL in a mail's charset."""

from __future__ import annotations

import hashlib

from eval.fuzz.cases import AGENTS, EMAIL_SECRET, Case, Frame, json_request, query_string, voice_case
from eval.fuzz.texts import deep_json, long_nfkc_chars, to_json

BOMB = "\ufdfa" * 8  # 24 bytes of UTF-8, 144 characters after NFKC
LONG_TEXTS = {"omega-4000": "Ω" * 4000, "omega-10000": "Ω" * 10_000, "hej-800": "hej " * 800, "hej-2000": "hej " * 2000}
INT64_PAST = ["9223372036854775808", "18446744073709551616", "-9223372036854775809", "1" + "0" * 40]
AGENT = AGENTS[0]


def _parse(text: str, label: str) -> Case:
    return json_request("POST /model/parse", "POST", "/model/parse", to_json({"text": text}), label=label)


def _chat(text: str, label: str, **extra: str) -> Case:
    return json_request("POST /chat/api/messages", "POST", "/chat/api/messages", to_json({"text": text, **extra}),
                        label=label)  # fmt: skip


def _webhook(text: str, label: str) -> Case:
    return json_request("POST /webhooks/rest/webhook", "POST", "/webhooks/rest/webhook",
                        to_json({"sender": "borger-fuzz", "message": text}), label=label)  # fmt: skip


def _ws(label: str, *frames: Frame, query: dict[str, str] | None = None) -> Case:
    target = "/chat/ws" + (f"?{query_string(query)}" if query else "")
    return Case("WS /chat/ws", "WS", target, frames=frames, label=label)


def _gather(label: str, step: str, **form: str) -> Case:
    base = {"CallSid": "CA" + "f" * 32, "AccountSid": "AC" + "0" * 32, "From": "+4520123456", "To": "+4533663366",
            "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip
    return voice_case("POST /voice/gather", "/voice/gather", {"step": step}, {**base, **form}, label=label)


def _mail(label: str, raw: bytes) -> Case:
    headers = (("X-Kontakt-Email-Secret", EMAIL_SECRET), ("Content-Type", "message/rfc822"))
    return Case("POST /email/inbound", "POST", "/email/inbound", raw, headers, label=label)


def _mail_text(text: str, charset: bytes = b"utf-8") -> bytes:
    return (b"From: Borger <borger@example.dk>\r\nTo: kontakt@kobenhavn.example\r\nSubject: Sp\xc3\xb8rgsm\xc3\xa5l\r\n"
            b"Message-ID: <fuzz-" + hashlib.sha1(text.encode() + charset).hexdigest()[:16].encode() + b"@example.dk>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=\"" + charset + b"\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text.encode("utf-8"))  # fmt: skip


def nfkc_bomb_cases(per_char: bool = True) -> list[Case]:
    """Every long-NFKC code point ×8 through /model/parse (one case each), or all of them in one."""
    chars = long_nfkc_chars()
    if per_char:
        return [_parse(ch * 8, f"nfkc:U+{ord(ch):04X}x8") for ch in chars]
    return [_parse("".join(ch * 8 for ch in chars), "nfkc:all-x8")]


def targeted_cases(per_char_nfkc: bool = True) -> list[Case]:
    bearer = (AGENT.header,)
    cases = [
        # The embedder's tokeniser and NFKC: every channel that reaches the model.
        _parse(BOMB, "bomb:parse"),
        _chat(BOMB, "bomb:chat", tenant="kobenhavn"),
        _webhook(BOMB, "bomb:webhook"),
        _ws("bomb:ws", Frame("text", to_json({"type": "message", "text": BOMB}).decode()), query={"tenant": "kobenhavn"}),
        _gather("bomb:voice", "menu", SpeechResult=BOMB, Confidence="0.9"),
        _mail("bomb:email", _mail_text(BOMB)),
        *nfkc_bomb_cases(per_char_nfkc),
        # CPU: long texts (reported per request; the embedder reads at most 512 tokens).
        *[_parse(text, f"cpu:parse:{name}") for name, text in LONG_TEXTS.items()],
        *[_chat(text, f"cpu:chat:{name}", tenant="kobenhavn") for name, text in LONG_TEXTS.items()],
        _ws("cpu:ws:omega-10000", Frame("text", to_json({"type": "message", "text": LONG_TEXTS["omega-10000"]}).decode())),
        _mail("cpu:email:hej-2000", _mail_text(LONG_TEXTS["hej-2000"])),
        # Ids past int64 in the agent API's paths.
        *[json_request(f"POST /agent/api/offers/{{offer_id}}/{verb}", "POST", f"/agent/api/offers/{n}/{verb}", None,
                       list(bearer), label=f"int64:offer-{verb}") for n in INT64_PAST for verb in ("accept", "decline")],
        *[json_request("POST /agent/api/tasks/{task_id}/done", "POST", f"/agent/api/tasks/{n}/done",
                       to_json({"outcome": "besked_taget"}), list(bearer), label="int64:task-done") for n in INT64_PAST],
        # An unknown tenant is the citizen's mistake, not the server's.
        _chat("Hej", "tenant:unknown", tenant="zzz"),
        _chat("Hej", "tenant:empty", tenant=""),
        # Keys that are digits to str.isdigit but not to int().
        _gather("digits:superscript", "clarify", Digits="²"),
        _gather("digits:arabic-indic", "clarify", Digits="٣"),
        _gather("digits:superscript-menu", "menu", Digits="²"),
        # The WebSocket handler and unexpected frames / query parameters.
        _ws("ws:binary", Frame("bytes", b'{"type":"ping"}')),
        _ws("ws:binary-empty", Frame("bytes", b"")),
        _ws("ws:lone-surrogate-escaped", Frame("text", '{"type":"message","text":"\\ud800 hej"}')),
        _ws("ws:lone-surrogate-raw", Frame("bad-text", b'{"type":"message","text":"\xed\xa0\x80"}')),
        _ws("ws:deep-json", Frame("text", deep_json(100_000).decode())),
        _ws("ws:deep-json-object", Frame("text", deep_json(50_000, "{").decode())),
        _ws("ws:after-superscript", query={"after": "²"}),
        _ws("ws:after-int64", query={"after": "9" * 30}),
        _ws("ws:tenant-unknown", query={"tenant": "zzz"}),
        # Mail: a NUL in the charset, and other charsets Python cannot look up.
        _mail("mail:charset-nul", _mail_text("Hej, hvornår kommer skraldebilen?", b"utf-8\x00")),
        _mail("mail:charset-unknown", _mail_text("Hej", b"x-unknown")),
        _mail("mail:charset-codec-not-text", _mail_text("Hej", b"zlib")),
    ]
    return cases
