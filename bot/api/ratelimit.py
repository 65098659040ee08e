"""Per-client rate limiting: token buckets in memory, one set per worker process.

Every HTTP request spends one token from its client's bucket (keyed by the client IP). Chat
messages (`POST /chat/api/messages`, `POST /webhooks/rest/webhook`) also spend one token from the
bucket of their sender within the tenant (`tenant` + `session`, or `sender`), so one citizen
cannot flood the bot while many citizens behind one municipal NAT address still can write.

An empty bucket answers 429 with the usual `{error, message}` body and a `Retry-After` header (whole
seconds until one token is back). `/health` is exempt. Limits come from `RateLimitSettings`
(environment variables prefixed `KONTAKT_RATELIMIT_`). Buckets live in the worker's memory: with
`--workers N` a client may get up to N times the limit, and a restart forgets every bucket.

WebSocket frames are not limited here (the socket is opened once; see connectors/webchat).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CHAT_PATHS", "RateLimit", "RateLimitSettings", "TokenBucket", "Limiter", "chat_sender_key"]

CHAT_PATHS = frozenset({"/chat/api/messages", "/webhooks/rest/webhook"})
# A chat body larger than this is not parsed for its sender (BodyLimit refuses it anyway).
MAX_SENDER_BODY = 64 * 1024


class RateLimitSettings(BaseSettings):
    """Defaults sized for a municipal contact centre: a citizen types far slower than 2 messages a
    second, and one IP may be a town hall's NAT with many citizens (or Twilio)."""

    model_config = SettingsConfigDict(env_prefix="KONTAKT_RATELIMIT_", env_file=".env", extra="ignore", frozen=True)

    enabled: bool = True
    ip_per_second: float = 30.0  # sustained requests per second per client IP
    ip_burst: int = 300  # bucket size per client IP
    sender_per_second: float = 2.0  # sustained chat messages per second per (tenant, sender)
    sender_burst: int = 20
    exempt_paths: tuple[str, ...] = ("/health",)
    # Use the first X-Forwarded-For address as the client IP. Only behind a proxy that sets it;
    # otherwise any client could pick its own bucket.
    trust_forwarded_for: bool = False
    max_buckets: int = 100_000  # least recently used buckets are forgotten beyond this


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second. Pure: the caller passes `now`."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Spend one token; return 0.0 if allowed, else the seconds until one token is back."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else math.inf


class Limiter:
    """Buckets by key, bounded to `max_buckets` (least recently used are dropped)."""

    def __init__(self, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: tuple[str, ...], rate: float, burst: int) -> float:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, float(burst), float(burst), now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)


def chat_sender_key(path: str, body: bytes) -> tuple[str, str] | None:
    """(tenant, sender) of a chat message body, or None when it names no sender (a new chat
    session has none yet: then only the IP bucket applies)."""
    if len(body) > MAX_SENDER_BODY:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    tenant = data.get("tenant")
    sender = data.get("session") if path.startswith("/chat/") else data.get("sender")
    if not isinstance(sender, str) or not sender:
        return None
    return (tenant if isinstance(tenant, str) else "")[:200], sender[:200]


def _too_many(retry_after: float, what: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    seconds = max(1, math.ceil(retry_after)) if math.isfinite(retry_after) else 3600
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

    def __init__(self, app, settings: RateLimitSettings | None = None, limiter: Limiter | None = None) -> None:
        self.app = app
        self.settings = settings or RateLimitSettings()
        self.limiter = limiter if limiter is not None else Limiter(self.settings.max_buckets)

    def _client_ip(self, scope) -> str:
        if self.settings.trust_forwarded_for:
            for name, value in scope.get("headers") or ():
                if name == b"x-forwarded-for":
                    first = value.decode("latin-1").split(",")[0].strip()
                    if first:
                        return first[:64]
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    async def __call__(self, scope, receive, send) -> None:
        s = self.settings
        if scope["type"] != "http" or not s.enabled or scope.get("path", "") in s.exempt_paths:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(("ip", self._client_ip(scope)), s.ip_per_second, s.ip_burst)
        if wait:
            await _respond(send, *_too_many(wait, "address"))
            return
        path = scope.get("path", "")
        if scope.get("method") == "POST" and path in CHAT_PATHS:
            body, receive = await _peek_body(receive, MAX_SENDER_BODY)
            key = chat_sender_key(path, body) if body is not None else None
            if key is not None:
                wait = self.limiter.take(("sender", *key), s.sender_per_second, s.sender_burst)
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
