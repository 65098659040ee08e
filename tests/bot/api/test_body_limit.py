"""Tests for bot.api.BodyLimit: bodies over the limit are refused with 413 whether their length is
announced or not (chunked), before the route reads them; smaller ones reach the route whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.api import BodyLimit

pytestmark = pytest.mark.unit


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body), "head": body[:8].decode()})


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/raw", echo, methods=["POST"])])
    app.add_middleware(BodyLimit, max_bytes=100, exempt=("/raw",))
    with TestClient(app) as c:
        yield c


def _chunks(n: int, size: int = 30) -> Iterator[bytes]:
    sent = 0
    while sent < n:
        part = b"x" * min(size, n - sent)
        sent += len(part)
        yield part


def test_body_limit_passes_a_small_announced_body(client: TestClient) -> None:
    r = client.post("/echo", content=b"hej" * 10)
    assert r.status_code == 200 and r.json()["bytes"] == 30


def test_body_limit_refuses_an_announced_length_over_the_limit(client: TestClient) -> None:
    r = client.post("/echo", content=b"x" * 101)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("n", [0, 1, 99, 100])
def test_body_limit_hands_a_small_chunked_body_on_whole(client: TestClient, n: int) -> None:
    r = client.post("/echo", content=_chunks(n))
    assert "content-length" not in r.request.headers
    assert r.status_code == 200 and r.json() == {"bytes": n, "head": "x" * min(n, 8)}


def test_body_limit_refuses_a_chunked_body_over_the_limit(client: TestClient) -> None:
    r = client.post("/echo", content=_chunks(131))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_body_limit_leaves_exempt_routes_to_their_own_limit(client: TestClient) -> None:
    r = client.post("/raw", content=b"x" * 500)
    assert r.status_code == 200 and r.json()["bytes"] == 500
