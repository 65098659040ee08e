"""bot.api.ratelimit: token buckets (pure) and the ASGI middleware on a real app."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI, Request

from bot.api.ratelimit import (
    Limiter,
    RateLimit,
    RateLimits,
    RateLimitSettings,
    TokenBucket,
    chat_sender_key,
    text_cost,
)

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.unit
def test_ratelimit_bucket_spends_and_refills() -> None:
    b = TokenBucket(rate=2.0, capacity=3.0, tokens=3.0, updated=0.0)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.5) == 0.0  # one token back after 1/rate seconds


@pytest.mark.unit
def test_ratelimit_bucket_cost_is_capped_at_a_full_bucket() -> None:
    b = TokenBucket(rate=1.0, capacity=5.0, tokens=5.0, updated=0.0)
    assert b.take(0.0, cost=100.0) == 0.0  # a huge text empties the bucket, never locks it for good
    assert b.take(0.0, cost=2.0) == pytest.approx(2.0)
    assert b.take(2.0, cost=2.0) == 0.0


@pytest.mark.unit
@pytest.mark.parametrize(("length", "cost"), [(0, 1.0), (999, 1.0), (1000, 2.0), (3999, 4.0), (4000, 5.0)])
def test_ratelimit_text_cost_grows_with_length(length: int, cost: float) -> None:
    assert text_cost(length, 1000) == pytest.approx(cost)


@pytest.mark.unit
def test_ratelimit_open_sockets_are_counted_per_address() -> None:
    limits = RateLimits(RateLimitSettings(_env_file=None, ws_per_address=2), Limiter(clock=Clock()))
    assert [limits.open_socket("a"), limits.open_socket("a"), limits.open_socket("a")] == [True, True, False]
    assert limits.open_socket("b")
    limits.close_socket("a")
    assert limits.open_socket("a") and limits.open_sockets("a") == 2


@pytest.mark.unit
def test_ratelimit_limiter_is_bounded() -> None:
    limiter = Limiter(max_buckets=3, clock=Clock())
    for i in range(10):
        limiter.take(("ip", str(i)), 1.0, 1)
    assert len(limiter) == 3


@pytest.mark.unit
@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        # the session the server issued identifies the conversation; the tenant field is no part of it
        ("/chat/api/messages", b'{"session": "s1", "tenant": "kk", "text": "hej"}', ("session", "s1")),
        ("/chat/api/messages", b'{"session": "s1", "tenant": "other", "text": "hej"}', ("session", "s1")),
        ("/chat/api/messages", b'{"text": "hej"}', None),
        ("/webhooks/rest/webhook", b'{"sender": "b-42", "message": "hej"}', ("sender", "b-42")),
        ("/webhooks/rest/webhook", b"\xff\xfe not json", None),
        ("/webhooks/rest/webhook", b"[1, 2]", None),
        ("/webhooks/rest/webhook", b"[" * 100_000, None),
    ],
)
def test_ratelimit_chat_sender_key(path: str, body: bytes, key: tuple[str, str] | None) -> None:
    assert chat_sender_key(path, body) == key


def small_app(clock: Clock, **settings: object) -> TestClient:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/chat/api/messages")
    async def chat(request: Request) -> dict:
        return {"echo": (await request.json())["text"]}

    @app.get("/x")
    def x() -> dict:
        return {}

    cfg = RateLimitSettings(_env_file=None, **settings)
    app.add_middleware(RateLimit, settings=cfg, limiter=Limiter(cfg.max_buckets, clock=clock))
    return TestClient(app)


@pytest.mark.unit
def test_ratelimit_429_with_retry_after_and_health_exempt() -> None:
    clock = Clock()
    client = small_app(clock, ip_per_second=1.0, ip_burst=2)
    assert [client.get("/x").status_code for _ in range(2)] == [200, 200]
    r = client.get("/x")
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"] == "rate_limited" and "try again in 1 s" in r.json()["message"]
    assert all(client.get("/health").status_code == 200 for _ in range(10))
    clock.t += 1.0
    assert client.get("/x").status_code == 200


@pytest.mark.unit
def test_ratelimit_per_chat_sender_and_body_still_readable() -> None:
    clock = Clock()
    client = small_app(clock, sender_per_second=0.5, sender_burst=2)
    body = {"session": "s1", "tenant": "kk", "text": "hej"}
    assert [client.post("/chat/api/messages", json=body).json() for _ in range(2)] == [{"echo": "hej"}] * 2
    r = client.post("/chat/api/messages", json=body)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert client.post("/chat/api/messages", json={**body, "session": "s2"}).status_code == 200  # other citizen
    assert client.post("/chat/api/messages", json={"text": "ny"}).status_code == 200  # no session yet
    assert client.post("/chat/api/messages", json={**body, "tenant": "other"}).status_code == 429


@pytest.mark.unit
def test_ratelimit_long_messages_cost_by_length() -> None:
    clock = Clock()
    client = small_app(clock, sender_per_second=0.5, sender_burst=10, text_cost_chars=1000)
    long = {"session": "s1", "text": "x" * 4000}  # 5 tokens each
    assert [client.post("/chat/api/messages", json=long).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.unit
def test_ratelimit_disabled_and_forwarded_for() -> None:
    clock = Clock()
    off = small_app(clock, enabled=False, ip_per_second=1.0, ip_burst=1)
    assert all(off.get("/x").status_code == 200 for _ in range(5))
    fwd = small_app(clock, ip_per_second=1.0, ip_burst=1, trust_forwarded_for=True)
    assert fwd.get("/x", headers={"x-forwarded-for": "1.1.1.1, 10.0.0.1"}).status_code == 200
    assert fwd.get("/x", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 429
    assert fwd.get("/x", headers={"x-forwarded-for": "2.2.2.2"}).status_code == 200


@pytest.mark.slow
def test_ratelimit_is_installed_by_create_app(settings, understanding, monkeypatch) -> None:
    from bot.api import create_app

    monkeypatch.setenv("KONTAKT_RATELIMIT_IP_BURST", "3")
    monkeypatch.setenv("KONTAKT_RATELIMIT_IP_PER_SECOND", "0.01")
    local = type(settings)(database_url=settings.database_url)  # read with the environment above
    with TestClient(create_app(local, understanding=understanding)) as client:
        codes = [client.post("/model/parse", json={"text": "hej"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.get("/health").status_code == 200
