"""Seeded case generators over every served route: the channels citizens reach (parse, REST
webhook, chat, WebSocket, Twilio voice, e-mail push) get shaped generators, and every route of
the app, agent API included, gets a generic one driven by its OpenAPI description."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eval.fuzz.cases import (
    AGENTS,
    EMAIL_SECRET,
    EVENT_STREAMS,
    Access,
    Case,
    Frame,
    RouteInfo,
    json_request,
    query_string,
    quote_any,
    voice_case,
)
from eval.fuzz.mail import mail_message
from eval.fuzz.texts import (
    HUGE_NUMBERS,
    NASTY,
    WORDS,
    deep_json,
    form_safe,
    hostile_text,
    rand_json_value,
    rand_text,
    raw_bytes,
    to_json,
)

TENANTS = ["kobenhavn", "rodovre", "zzz", "", "KOBENHAVN", "kobenhavn\x00", "../kobenhavn", "ø" * 300]
CALL_SIDS = ["CA" + f"{i:032x}" for i in range(30)]
SESSIONS = ["Zk3q9VbT1xR2mN8pL4sW6yHc0dJf5gAe", "", "x" * 201, "../../etc", "\ufdfa" * 8]
IDS = ["1", "2", "3", "4711", "8f14e45f-ceea-4e7a-9b1c-3d2a6f0b7c21", "fuzz.agent", "fuzz.rdv", "console.js",
       "console.css", "..", "%2e%2e", "a" * 300, *HUGE_NUMBERS]


def pick_tenant(rng: random.Random) -> str | None:
    return None if rng.random() < 0.3 else (rng.choice(TENANTS) if rng.random() < 0.8 else rand_text(rng, 30))


def value_for(rng: random.Random, kind: str, enum: Sequence[Any]) -> Any:
    """A value of the declared JSON type, hostile within that type."""
    if enum and rng.random() < 0.6:
        return rng.choice(list(enum))
    if kind == "integer" or kind == "number":
        return rng.choice([0, 1, 7, 9, 10, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, 1e308])
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "object":
        return {rng.choice(["borgerservice_basis", "q1", "", "zzz", rand_text(rng, 20)]):
                rng.choice([0, 9, 10, -1, 2**63, "7", None]) for _ in range(rng.randint(0, 4))}
    if kind == "array":
        return [rand_json_value(rng) for _ in range(rng.randint(0, 3))]
    return hostile_text(rng)


def json_body(rng: random.Random, fields: Sequence[tuple[str, str, Sequence[Any]]]) -> tuple[bytes, str, str]:
    """(body, content type, label) for a JSON endpoint with the given object fields."""
    r = rng.random()
    names = [f[0] for f in fields] or ["text", "borgerservice_basis"]
    if r < 0.5:
        obj = {name: value_for(rng, kind, enum) for name, kind, enum in fields if rng.random() < 0.9}
        if not fields:
            obj = value_for(rng, "object", ())
        return to_json(obj), "application/json", "shape"
    if r < 0.63:
        return to_json({n: rand_json_value(rng) for n in names}), "application/json", "types"
    if r < 0.7:
        return rng.choice([b"", b"null", b"[]", b"\"x\"", b"{", b"{\"text\":", b"\xff\xfe\xfd", b"1e999999",
                           b"{\"a\":1,\"a\":2}", b"[" + b"1," * 10000 + b"1]", raw_bytes(rng, 500),
                           rand_text(rng).encode("utf-8", "surrogatepass")]), "application/json", "garbage"
    if r < 0.77:
        return deep_json(rng.choice([50, 1000, 20_000, 100_000]), rng.choice("[{")), "application/json", "deep"
    if r < 0.83:
        size = rng.choice([10_000, 70_000, 300_000])
        return to_json({n: "ø" * size for n in names[:2]}), "application/json", "huge"
    if r < 0.9:
        return b'{"' + names[0].encode() + b'": "\xc3\x28\xa0\xa1 \xed\xa0\x80"}', "application/json", "utf8"
    ctype = rng.choice(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "",
                        "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/json; charset=\\0"])
    obj = {n: rand_text(rng, 50) for n in names}
    return to_json(obj), ctype, "ctype"


def credentials(rng: random.Random, access: Access) -> tuple[list[tuple[str, str]], str]:
    """Headers for a route's access class: mostly valid credentials, sometimes none, garbage,
    another tenant's or a too-low role."""
    if access in (Access.PUBLIC, Access.TWILIO):
        return [], ""
    r = rng.random()
    if access is Access.EMAIL:
        if r < 0.9:
            return [("X-Kontakt-Email-Secret", EMAIL_SECRET)], "secret"
        return ([] if r < 0.95 else [("X-Kontakt-Email-Secret", rng.choice(["", "x", EMAIL_SECRET + "x"]))]), "nosecret"
    need = {Access.AGENT: 0, Access.SUPERVISOR: 1, Access.ADMIN: 2}[access]
    rank = {"agent": 0, "supervisor": 1, "admin": 2}
    if r < 0.75:
        able = [a for a in AGENTS if rank[a.role] >= need]
        return [rng.choice(able).header], "token"
    if r < 0.85:
        return [rng.choice(AGENTS).header], "anytoken"
    bad = rng.choice(["", "Bearer", "Bearer x", "Basic Zm9vOmJhcg==", "Bearer " + "a" * 10_000,
                      "Bearer \u00e6\u00f8\u00e5", "bearer " + AGENTS[0].token, AGENTS[0].token])
    return ([("Authorization", bad)] if bad else []), "badtoken"


def generic_case(rng: random.Random, info: RouteInfo) -> Case:
    """Any route: hostile path parameters, query parameters and (for POST/PUT) JSON body."""
    path = info.path
    for name in info.path_params:
        value = rng.choice(IDS) if rng.random() < 0.7 else rand_text(rng, 40)
        path = path.replace("{" + name + "}", quote_any(value), 1).replace("{" + name + ":path}", quote_any(value), 1)
    query = [(q, rng.choice([rng.choice(HUGE_NUMBERS), rand_text(rng, 40), rng.choice(SESSIONS), "0"]))
             for q in info.query if rng.random() < 0.8]
    if rng.random() < 0.1:
        query.append((rand_text(rng, 10), rand_text(rng, 30)))
    if info.path in EVENT_STREAMS and not any(q == "seconds" for q, _ in query):
        query.append(("seconds", "0"))
    target = path + (f"?{query_string(query)}" if query else "")
    headers, how = credentials(rng, info.access)
    method = "GET" if info.method == "WS" else info.method
    if not info.has_body:
        return Case(info.route, method, target, b"", tuple(headers), label=f"generic:{how}")
    body, ctype, label = json_body(rng, info.body_fields)
    return json_request(info.route, method, target, body, headers, content_type=ctype, label=f"generic:{label}:{how}")


FIELDS = {
    "/model/parse": [("text", "string", ()), ("message_id", "string", ()), ("tenant", "string", ())],
    "/webhooks/rest/webhook": [("sender", "string", ()), ("message", "string", ()), ("metadata", "object", ())],
    "/chat/api/messages": [("session", "string", ()), ("tenant", "string", ()), ("text", "string", ()),
                           ("client_message_id", "string", ())],
}


def channel_json_case(rng: random.Random, path: str) -> Case:
    """The citizen-facing JSON endpoints, where the text reaches the model."""
    if rng.random() < 0.45:
        obj: dict[str, Any] = {"text": hostile_text(rng)} if path != "/webhooks/rest/webhook" else {
            "sender": rng.choice(["borger-1", "", rand_text(rng, 40)]), "message": hostile_text(rng)}
        if path != "/webhooks/rest/webhook" and rng.random() < 0.6:
            obj["tenant"] = pick_tenant(rng)
        if path == "/chat/api/messages" and rng.random() < 0.3:
            obj["session"] = rng.choice(SESSIONS)
        return json_request(f"POST {path}", "POST", path, to_json(obj), label="text")
    body, ctype, label = json_body(rng, FIELDS[path])
    return json_request(f"POST {path}", "POST", path, body, content_type=ctype, label=label)


VOICE_FIELDS: dict[str, Callable[[random.Random], dict[str, str]]] = {
    "/voice/incoming": lambda rng: {},
    "/voice/gather": lambda rng: {
        **({"Digits": rng.choice(["1", "2", "6", "9", "0", "*", "#", "12", "²", "١", "𝟗", "1" * 300, "", "-1",
                                  rand_text(rng, 10)])} if rng.random() < 0.6 else {}),
        **({"SpeechResult": hostile_text(rng)} if rng.random() < 0.6 else {}),
        **({"Confidence": rng.choice(["0.9", "0.1", "1e309", "NaN", "-inf", "", "²", "9" * 400])} if rng.random() < 0.5 else {}),
    },
    "/voice/after-dial": lambda rng: {"DialCallStatus": rng.choice(["completed", "busy", "no-answer", "failed", "", rand_text(rng, 20)]),
                                      "CallDuration": rng.choice(HUGE_NUMBERS)},
    "/voice/wait": lambda rng: {k: rng.choice(HUGE_NUMBERS) for k in ("QueuePosition", "QueueTime", "AvgQueueTime",
                                                                       "CurrentQueueSize") if rng.random() < 0.7},
    "/voice/callback": lambda rng: {"Digits": rng.choice(["1", "2", "20123456", "2012345", "²" * 8, "9" * 400, "",
                                                          rand_text(rng, 10)])},
    "/voice/after-bridge": lambda rng: {"DialCallStatus": rng.choice(["completed", "busy", "no-answer", "failed", "",
                                                                      rand_text(rng, 20)]),
                                        "DialCallSid": rng.choice(CALL_SIDS)},
    "/voice/agent-status": lambda rng: {"ParentCallSid": rng.choice([*CALL_SIDS, "", rand_text(rng, 40)]),
                                        "CallStatus": rng.choice(["ringing", "in-progress", "completed", "no-answer",
                                                                  "busy", rand_text(rng, 20)])},
    "/voice/survey": lambda rng: {"Digits": rng.choice(["1", "5", "9", "0", "10", "²", "", rand_text(rng, 5)])},
    "/voice/status": lambda rng: {"CallStatus": rng.choice(["completed", "busy", "failed", "canceled", rand_text(rng, 20)]),
                                  "CallDuration": rng.choice(HUGE_NUMBERS)},
}
VOICE_QUERY: dict[str, Callable[[random.Random], dict[str, str]]] = {
    "/voice/gather": lambda rng: {"step": rng.choice(["menu", "clarify", "resolved", "emergency", "extension",
                                                      "english", "", rand_text(rng, 20)])},
    "/voice/callback": lambda rng: {"step": rng.choice(["offer", "number", "confirm", "x"]),
                                    **({"retry": rng.choice(HUGE_NUMBERS)} if rng.random() < 0.4 else {})},
    "/voice/survey": lambda rng: {"q": rng.choice(["1", "2", "4", "5", "0", *HUGE_NUMBERS]),
                                  **({"retry": rng.choice(HUGE_NUMBERS)} if rng.random() < 0.4 else {})},
}


def twilio_case(rng: random.Random, path: str) -> Case:
    form = {"CallSid": rng.choice(CALL_SIDS), "AccountSid": "AC" + "0" * 32, "From": rng.choice(
        ["+4520123456", "anonymous", "", "+45" + "9" * 40, form_safe(rand_text(rng, 30))]), "To": "+4533663366",
        "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip
    if rng.random() < 0.05:
        form.pop("CallSid")
    form.update({k: form_safe(v) for k, v in VOICE_FIELDS.get(path, lambda r: {})(rng).items()})
    if rng.random() < 0.1:
        form[form_safe(rand_text(rng, 10))] = form_safe(rand_text(rng, 50))
    query = {k: form_safe(v) for k, v in VOICE_QUERY.get(path, lambda r: {})(rng).items()}
    r = rng.random()
    how = "signed" if r < 0.8 else "forged" if r < 0.87 else "unsigned" if r < 0.94 else "tampered"
    return voice_case(f"POST {path}", path, query, form, how=how)


def email_case(rng: random.Random) -> Case:
    raw = mail_message(rng)
    headers, how = credentials(rng, Access.EMAIL)
    tenant = pick_tenant(rng)
    target = "/email/inbound" + (f"?{query_string({'tenant': tenant})}" if tenant is not None else "")
    if rng.random() < 0.12:  # the multipart form variant, raw mail in the field `message`
        b = "fuzzboundary"
        body = (f"--{b}\r\nContent-Disposition: form-data; name=\"message\"; filename=\"m.eml\"\r\n"
                "Content-Type: message/rfc822\r\n\r\n").encode() + raw + f"\r\n--{b}--\r\n".encode()
        ctype = f"multipart/form-data; boundary={b}"
    else:
        body, ctype = raw, rng.choice(["message/rfc822"] * 8 + ["text/plain", "", "application/json"])
    headers = headers + ([("Content-Type", ctype)] if ctype else [])
    return Case("POST /email/inbound", "POST", target, body, tuple(headers), label=f"email:{how}")


def ws_frame(rng: random.Random) -> Frame:
    r = rng.random()
    if r < 0.45:
        msg: dict[str, Any] = {"type": "message", "text": hostile_text(rng)}
        if rng.random() < 0.3:
            msg["client_message_id"] = rng.choice([rand_text(rng, 20), "x" * 300, 5, None])
        return Frame("text", to_json(msg).decode())
    if r < 0.55:
        return Frame("text", rng.choice(['{"type":"ping"}', '{"type":"x"}', '{"type":null}', "[]", "1", "null", "{",
                                         '{"type":"message","text":5}', '{"type":"message"}', "",
                                         '{"type":"message","text":"\\ud800"}']))
    if r < 0.62:
        return Frame("text", deep_json(rng.choice([100, 1000, 10_000, 100_000]), rng.choice("[{")).decode())
    if r < 0.72:
        return Frame("bytes", rng.choice([b"", b"{}", b'{"type":"ping"}', raw_bytes(rng, 200)]))
    if r < 0.8:
        return Frame("bad-text", rng.choice([b"\xff\xfe", b'{"type":"message","text":"\xed\xa0\x80"}', raw_bytes(rng, 50)]))
    if r < 0.9:
        return Frame("text", rand_text(rng, 200))
    return Frame("text", to_json({"type": "message", "text": rng.choice(["ø" * 300_000, "hej " * 2000,
                                                                          "\ufdfa" * 8])}).decode())


def ws_case(rng: random.Random) -> Case:
    query: list[tuple[str, str]] = []
    if (t := pick_tenant(rng)) is not None:
        query.append(("tenant", t))
    if rng.random() < 0.3:
        query.append(("session", rng.choice(SESSIONS)))
    if rng.random() < 0.3:
        query.append(("after", rng.choice(["0", "5", "²", "١", "-1", *HUGE_NUMBERS[:4]])))
    target = "/chat/ws" + (f"?{query_string(query)}" if query else "")
    frames = tuple(ws_frame(rng) for _ in range(rng.randint(0, 4)))
    return Case("WS /chat/ws", "WS", target, frames=frames, label="ws")


def generate(routes: Sequence[RouteInfo], n: int, seed: int = 0) -> Iterator[Case]:
    """`n` cases, the same for the same routes and seed. The first ones visit every route once;
    after that the generic cases go round the routes, so each gets its share."""
    rng = random.Random(seed)
    voice = [r.path for r in routes if r.access is Access.TWILIO]
    paths = {r.path for r in routes}
    channel = [p for p in FIELDS if p in paths]
    rounds = itertools.cycle(routes)
    for i in range(n):
        if i < len(routes):
            yield generic_case(rng, routes[i])
            continue
        r = rng.random()
        if r < 0.30 and channel:
            yield channel_json_case(rng, rng.choice(channel))
        elif r < 0.45 and voice:
            yield twilio_case(rng, rng.choice(voice))
        elif r < 0.57 and "/email/inbound" in paths:
            yield email_case(rng)
        elif r < 0.67 and "/chat/ws" in paths:
            yield ws_case(rng)
        else:
            yield generic_case(rng, next(rounds))


__all__ = ["NASTY", "WORDS", "generate", "generic_case", "channel_json_case", "twilio_case", "email_case", "ws_case"]
