"""The README's run path: `python -m bot serve` on loopback answers /model/parse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from bot.config import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_parse_on_loopback(understanding):  # the fixture makes sure a model is built
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not come up: " + proc.stdout.read1().decode(errors="replace"))
        r = httpx.post(f"http://127.0.0.1:{port}/model/parse", json={"text": "Hvornår kommer skraldebilen?"})
        body = r.json()
        assert body["intent"]["name"] == "affald_toemning"
        assert body["triage"]["article"]["source"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for command in ("train", "serve", "parse"):
        assert command in out.stdout
