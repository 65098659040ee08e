"""Benchmarks (not tests): parse latency, throughput with concurrent clients, start-up time, peak
RSS and index-build time, on this machine. Everything runs on loopback and stops by itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bot.config import ROOT, Settings
from bot.retrieval.articles import load_articles
from bot.retrieval.embedder import make_embedder
from bot.retrieval.index import ArticleIndex
from bot.topics import load_contract
from bot.train import MANIFEST_FILE
from bot.understanding import Understanding
from eval.dataset import load_dev_set


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process_latency(settings: Settings, texts: list[str]) -> dict:
    u = Understanding.load(settings)
    cold, warm = [], []
    for t in texts:  # first time each text is seen: no embedding cache
        s = time.perf_counter()
        u.parse(t)
        cold.append((time.perf_counter() - s) * 1000)
    for t in texts:  # repeated questions: the embedding cache answers
        s = time.perf_counter()
        u.parse(t)
        warm.append((time.perf_counter() - s) * 1000)
    out = {}
    for name, xs in (("cold", cold), ("cached", warm)):
        out[name] = {p: round(percentile(xs, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
    out["load_seconds"] = round(u.load_seconds, 2)
    return out


def server_benchmark(texts: list[str], clients: int = 8, seconds: float = 20.0) -> dict:
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        # All clients share 127.0.0.1: the per-client rate limit would answer most of them with 429.
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KONTAKT_RATELIMIT_ENABLED": "false"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 120:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        startup = time.perf_counter() - started
        rss_idle = _rss_peak_mb(proc.pid)
        latencies: list[float] = []
        errors = 0
        non_200 = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def worker(offset: int) -> None:
            nonlocal errors, non_200
            i = offset
            with httpx.Client(base_url=url, timeout=30) as c:
                while time.perf_counter() < stop_at:
                    text = f"{texts[i % len(texts)]} ({i})"  # unique: no cache hits
                    s = time.perf_counter()
                    r = c.post("/model/parse", json={"text": text})
                    ms = (time.perf_counter() - s) * 1000
                    with lock:
                        latencies.append(ms)
                        errors += r.status_code >= 500
                        non_200 += r.status_code != 200
                    i += clients

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        return {
            "startup_seconds": round(startup, 2),
            "clients": clients,
            "requests": len(latencies),
            "throughput_rps": round(len(latencies) / elapsed, 1),
            "latency_ms": {p: round(percentile(latencies, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
            "errors_5xx": errors,
            "non_200": non_200,
            "rss_mb_after_startup": round(rss_idle, 1),
            "rss_mb_peak": round(_rss_peak_mb(proc.pid), 1),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def index_build(settings: Settings) -> dict:
    contract = load_contract(settings.topics_file)
    articles = load_articles(settings.articles_dir, contract)
    embedder = make_embedder(settings.embedder)
    s = time.perf_counter()
    index = ArticleIndex.build(articles, embedder)
    manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text())
    return {"articles": len(articles), "passages": index.index.ntotal,
            "index_build_seconds_uncached": round(time.perf_counter() - s, 1),
            "train_seconds_last_run": manifest.get("train_seconds")}


def run(settings: Settings) -> dict:
    from eval.__main__ import machine

    texts = [c.text for c in load_dev_set().cases]
    report = {"machine": machine(), "embedder": settings.embedder}
    report["in_process_parse_ms"] = in_process_latency(settings, texts[:300])
    report["server"] = server_benchmark(texts)
    report["index"] = index_build(settings)
    print(json.dumps(report, indent=1))
    return report
