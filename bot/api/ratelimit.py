"""Per-client rate limiting: token buckets in memory, one set per worker process.

Buckets, each refilled continuously up to its burst size (`RateLimitSettings`):

* **address** (`ip_*`): every HTTP request spends from the bucket of its client address, and so
  does every chat WebSocket handshake (the route takes it, see connectors/webchat).
* **conversation** (`sender_*`): a chat message spends from the bucket of its conversation as
  the server identifies it: the web chat session id the server issued (`POST
  /chat/api/messages` and every message frame of `/chat/ws` share it), or, on the Rasa REST
  channel, the pair (client address, `sender`): `sender` is chosen by the client, so it is
  scoped to the address and one address cannot lock out a citizen writing from another. No
  field the client can vary freely (such as `tenant`) is part of a key.
* **new conversation** (`new_conversation_*`): every new web chat conversation (one contact row)
  spends from its address's bucket, so varying the session id opens no unbounded rows.
* **frames** (`ws_frames_*`): every WebSocket frame spends from its socket's own bucket.
* **open sockets** (`ws_per_address`): at most this many open chat sockets per address.

Understanding costs CPU in proportion to the text, so a text message spends
`1 + len(text) // text_cost_chars` tokens (one more per full 1,000 characters: a short message
costs 1, a 4,000-character one 5), never more than a full bucket, from the address and
conversation buckets alike (`/model/parse` too).

The middleware enforces the HTTP limits; the chat WebSocket route enforces the socket, frame and
new-conversation limits with the same `RateLimits` (`app.state.rate_limits`). An empty bucket
answers 429 with the usual `{error, message}` body and a `Retry-After` header (whole seconds
until the tokens are back); a WebSocket gets an error frame instead and stays open. `/health` is exempt. Limits come from `RateLimitSettings` (environment
variables prefixed `KONTAKT_RATELIMIT_`).

Buckets and socket counts live in the worker's memory and are not shared: with `--workers N`
a client may get up to N times every limit (N × the rate, N × the burst, N × the open sockets),
and a restart forgets every bucket. Size the limits per worker.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import RateLimitSettings

__all__ = [
    "CHAT_PATHS", "TEXT_PATHS", "Limiter", "RateLimit", "RateLimitSettings", "RateLimits", "TokenBucket",
    "chat_sender_key", "text_cost",
]  # fmt: skip

CHAT_PATHS = frozenset({"/chat/api/messages", "/webhooks/rest/webhook", "/webhooks/callback/webhook"})
# Bodies whose text is understood (CPU in proportion to its length).
TEXT_PATHS = CHAT_PATHS | {"/model/parse"}
# A chat body larger than this is not parsed for its sender (BodyLimit refuses it anyway).
MAX_SENDER_BODY = 64 * 1024
MAX_KEY_CHARS = 200


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second. Pure: the caller passes `now`."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens (at most a full bucket); return 0.0 if allowed, else the seconds
        until enough tokens are back."""
        cost = min(max(cost, 0.0), self.capacity)
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate if self.rate > 0 else math.inf


class Limiter:
    """Buckets by key, bounded to `max_buckets` (least recently used are dropped). Thread-safe:
    sync routes take from it in the thread pool."""

    def __init__(self, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: tuple[str, ...], rate: float, burst: int, cost: float = 1.0) -> float:
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, float(burst), float(burst), now)
                while len(self._buckets) > self.max_buckets:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take(now, cost)


def text_cost(length: int, per_chars: int) -> float:
    """Tokens a text of `length` characters costs: 1, plus one per full `per_chars` characters
    (whole tokens, so a burst of N short messages stays N messages)."""
    return 1.0 + max(0, length) // max(1, per_chars)


def _parse(body: bytes) -> dict | None:
    if len(body) > MAX_SENDER_BODY:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def chat_sender_key(path: str, body: bytes) -> tuple[str, str] | None:
    """What identifies the conversation of a chat message body, or None when it names none (a
    new chat session has no id yet: then the address bucket applies). Web chat: ("session",
    session id). Rasa REST and callback channels: ("sender", sender), which the middleware scopes to the
    client address. The `tenant` field is never part of the key."""
    data = _parse(body)
    if data is None:
        return None
    if path.startswith("/chat/"):
        session = data.get("session")
        return ("session", session[:MAX_KEY_CHARS]) if isinstance(session, str) and session else None
    sender = data.get("sender")
    return ("sender", sender[:MAX_KEY_CHARS]) if isinstance(sender, str) and sender else None


def _text_length(body: bytes) -> int:
    data = _parse(body)
    if data is None:
        return len(body)
    text = data.get("text", data.get("message"))
    return len(text) if isinstance(text, str) else len(body)


class RateLimits:
    """The limits one app enforces: settings, the shared buckets and the open-socket counts. The
    middleware and the WebSocket route use the same instance (`app.state.rate_limits`)."""

    def __init__(self, settings: RateLimitSettings | None = None, limiter: Limiter | None = None) -> None:
        self.settings = settings or RateLimitSettings()
        # In this process only: with n workers a client gets up to n x every limit (module docs).
        self.limiter = limiter if limiter is not None else Limiter(self.settings.max_buckets)
        self._sockets: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def client_ip(self, scope) -> str:
        if self.settings.trust_forwarded_for:
            for name, value in scope.get("headers") or ():
                if name == b"x-forwarded-for":
                    first = value.decode("latin-1").split(",")[0].strip()
                    if first:
                        return first[:64]
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    def text_cost(self, length: int) -> float:
        return text_cost(length, self.settings.text_cost_chars)

    def _take(self, key: tuple[str, ...], rate: float, burst: int, cost: float) -> float:
        return self.limiter.take(key, rate, burst, cost) if self.enabled else 0.0

    def take_address(self, ip: str, cost: float = 1.0) -> float:
        s = self.settings
        return self._take(("ip", ip), s.ip_per_second, s.ip_burst, cost)

    def take_conversation(self, key: tuple[str, ...], cost: float = 1.0) -> float:
        s = self.settings
        return self._take(key, s.sender_per_second, s.sender_burst, cost)

    def take_new_conversation(self, ip: str) -> float:
        s = self.settings
        return self._take(("new", ip), s.new_conversation_per_second, s.new_conversation_burst, 1.0)

    def frame_bucket(self) -> TokenBucket | None:
        """A bucket for one socket's frames (None when limits are off)."""
        s = self.settings
        if not self.enabled:
            return None
        return TokenBucket(s.ws_frames_per_second, float(s.ws_frames_burst), float(s.ws_frames_burst),
                           self.limiter.clock())  # fmt: skip

    def take_frame(self, bucket: TokenBucket | None) -> float:
        return bucket.take(self.limiter.clock()) if bucket is not None else 0.0

    def open_socket(self, ip: str) -> bool:
        """Count one more open socket for `ip`; False (and nothing counted) at the limit."""
        with self._lock:
            n = self._sockets.get(ip, 0)
            if self.enabled and n >= self.settings.ws_per_address:
                return False
            self._sockets[ip] = n + 1
            return True

    def close_socket(self, ip: str) -> None:
        with self._lock:
            n = self._sockets.get(ip, 0) - 1
            if n > 0:
                self._sockets[ip] = n
            else:
                self._sockets.pop(ip, None)

    def open_sockets(self, ip: str) -> int:
        with self._lock:
            return self._sockets.get(ip, 0)


def retry_seconds(wait: float) -> int:
    return max(1, math.ceil(wait)) if math.isfinite(wait) else 3600


def _too_many(retry_after: float, what: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    seconds = retry_seconds(retry_after)
    body = json.dumps(
        {"error": "rate_limited", "message": f"Too many requests from this {what}; try again in {seconds} s."}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(seconds).encode()),
        (b"access-control-allow-origin", b"*"),
    ]
    return 429, headers, body


class RateLimit:
    """Pure ASGI middleware (register with `app.add_middleware(RateLimit)`, outermost)."""

    def __init__(
        self,
        app,
        settings: RateLimitSettings | None = None,
        limiter: Limiter | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.app = app
        self.limits = limits if limits is not None else RateLimits(settings, limiter)
        self.settings = self.limits.settings
        self.limiter = self.limits.limiter

    async def __call__(self, scope, receive, send) -> None:
        s = self.settings
        if scope["type"] != "http" or not s.enabled or scope.get("path", "") in s.exempt_paths:
            await self.app(scope, receive, send)
            return
        ip = self.limits.client_ip(scope)
        path = scope.get("path", "")
        body: bytes | None = None
        cost = 1.0
        if scope.get("method") == "POST" and path in TEXT_PATHS:
            body, receive = await _peek_body(receive, MAX_SENDER_BODY)
            cost = self.limits.text_cost(_text_length(body) if body is not None else MAX_SENDER_BODY)
        wait = self.limits.take_address(ip, cost)
        if wait:
            await _respond(send, *_too_many(wait, "address"))
            return
        if body is not None and path in CHAT_PATHS:
            key = chat_sender_key(path, body)
            if key is not None:
                if key[0] == "sender":  # client-chosen: scoped to the address that sends it
                    key = ("sender", ip, key[1])
                wait = self.limits.take_conversation(key, cost)
                if wait:
                    await _respond(send, *_too_many(wait, "chat session"))
                    return
        await self.app(scope, receive, send)


async def _respond(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _peek_body(receive, limit: int):
    """Read the request body up to `limit` bytes and return (body or None if larger, a receive
    callable that replays what was read and then continues with the original)."""
    messages = []
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit:
            break
        if not message.get("more_body", False):
            complete = True
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request") if complete else None

    async def replay():
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay
