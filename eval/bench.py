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
from bot.retrieval.articles import Article, load_articles
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


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU the process has used so far (/proc/PID/stat): on a machine shared with
    other work the wall time of a start-up says as much about the neighbours as about us."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def _single_client(url: str, texts: list[str]) -> dict:
    """One client, one request at a time, each text once with a unique tail (no cache hits): the
    latency a citizen sees on a quiet server, comparable with a parse server measured the same way."""
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for i, text in enumerate(texts):
            s = time.perf_counter()
            r = c.post("/model/parse", json={"text": f"{text} [{i}]"})
            latencies.append((time.perf_counter() - s) * 1000)
            r.raise_for_status()
    return {"requests": len(latencies),
            "latency_ms": {p: round(percentile(latencies, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}}


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
        startup_cpu = _cpu_seconds(proc.pid)
        rss_idle = _rss_peak_mb(proc.pid)
        single = _single_client(url, texts)
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
            "startup_cpu_seconds": round(startup_cpu, 2),
            "clients": clients,
            "requests": len(latencies),
            "throughput_rps": round(len(latencies) / elapsed, 1),
            "latency_ms": {p: round(percentile(latencies, q), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
            "errors_5xx": errors,
            "single_client": single,
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
            "train_seconds_last_run": manifest.get("train_seconds"),
            "embed_seconds_last_run": manifest.get("embed_seconds"),
            "fit_seconds_last_run": manifest.get("fit_seconds")}


def synthetic_articles(real: list[Article], n: int) -> list[Article]:
    """`n` articles made from the real ones (same lengths and wording, each with its own id and a
    numbered variation in title, questions and body), shared by every tenant but every tenth,
    which belongs to one tenant, as a municipality's own pages would."""
    out: list[Article] = []
    tenants = ("kobenhavn", "aarhus", "odense")
    for i in range(n):
        a = real[i % len(real)]
        v = i // len(real) + 1
        out.append(a.model_copy(update={
            "id": f"syn{i:05d}-{a.id}"[:60],
            "tenant": tenants[i % 3] if i % 10 == 9 else "*",
            "title": f"{a.title} ({v})",
            "questions": tuple(f"{q} Variant {v}." for q in a.questions),
            "body": f"{a.body}\n\nAfsnit {v}: gælder for sag nummer {1000 + i}.",
        }))  # fmt: skip
    return out


def search_latency(index: ArticleIndex, qvecs, tenant: str | None = None) -> dict:
    """Milliseconds per search (the embedding is computed beforehand and not counted), with one
    BLAS thread as in the server (bot.understanding limits it)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _search_latency(index, qvecs, tenant)


def _search_latency(index: ArticleIndex, qvecs, tenant: str | None) -> dict:
    for v in qvecs[:10]:
        index.search(v, k=5, tenant=tenant)
    ms = []
    for v in qvecs:
        s = time.perf_counter()
        index.search(v, k=5, tenant=tenant)
        ms.append((time.perf_counter() - s) * 1000)
    return {p: round(percentile(ms, q), 3) for p, q in (("p50", 50), ("p99", 99))}


def index_scale(settings: Settings, n_articles: int, embedder_spec: str | None = None, queries: int = 300) -> dict:
    """Build an index over `n_articles` synthetic articles with a progress bar; retrieval latency
    there and on the real index; replacing one article (embedding included)."""
    from tqdm import tqdm

    from eval.dataset import load_dev_set

    contract = load_contract(settings.topics_file)
    real = load_articles(settings.articles_dir, contract)
    embedder = make_embedder(embedder_spec or settings.embedder)
    if hasattr(embedder, "warm_up"):
        embedder.warm_up()
    texts = [c.text for c in load_dev_set().cases][:queries]
    qvecs = embedder.queries(texts)
    arts = synthetic_articles(real, n_articles)
    n_passages = sum(len(a.passages()) for a in arts)
    s = time.perf_counter()
    with tqdm(total=n_passages, desc=f"index of {n_articles} articles", unit="passage") as bar:
        big = ArticleIndex.build(arts, embedder, progress=bar.update)
    build = time.perf_counter() - s
    small = ArticleIndex.build(real, embedder)
    replace_ms = []
    for i in range(5):
        edited = arts[i * 7].model_copy(update={"body": arts[i * 7].body + " Opdateret."})
        s = time.perf_counter()
        big.replace_article(edited, embedder)
        replace_ms.append((time.perf_counter() - s) * 1000)
    return {
        "embedder": embedder.name,
        "articles": n_articles,
        "passages": big.index.ntotal,
        "build_seconds": round(build, 2),
        "passages_per_second": round(n_passages / build, 1),
        "replace_one_article_ms": {"p50": round(percentile(replace_ms, 50), 1), "max": round(max(replace_ms), 1)},
        "search_ms": {
            f"real_{small.index.ntotal}_passages": search_latency(small, qvecs),
            f"synthetic_{big.index.ntotal}_passages": search_latency(big, qvecs),
            f"synthetic_{big.index.ntotal}_passages_tenant": search_latency(big, qvecs, tenant="aarhus"),
        },
    }


def model_info(settings: Settings) -> dict:
    """What was measured: the embedder and the model and index manifests' identifying fields."""
    try:
        m = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"embedder": settings.embedder}
    return {"embedder": m.get("embedder"), "data_hash": m.get("data_hash"), "examples": m.get("examples"),
            "articles": m.get("articles"), "built_at": m.get("built_at")}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(settings: Settings, articles: int = 0, index_embedder: str | None = None, only_index: bool = False,
        as_json: bool = False, record_to: Path | None = None) -> dict:
    """The full bench (in-process parse, server, index build), or with `only_index` just the
    index scale figures. `articles` > 0 adds the synthetic index of that size."""
    from eval.__main__ import machine

    report: dict = {"kind": "bench", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "machine": machine(), "load_average_before": load_average(), "model": model_info(settings)}
    if not only_index:
        texts = [c.text for c in load_dev_set().cases]
        report["in_process_parse_ms"] = in_process_latency(settings, texts[:300])
        report["server"] = server_benchmark(texts)
        report["index"] = index_build(settings)
    if articles:
        report["index_scale"] = index_scale(settings, articles, index_embedder)
    report["load_average_after"] = load_average()
    print(json.dumps(report, indent=None if as_json else 1, ensure_ascii=False))
    if record_to is not None:
        record_to.parent.mkdir(parents=True, exist_ok=True)
        with record_to.open("a", encoding="utf-8") as f:
            f.write(json.dumps(report, ensure_ascii=False) + "\n")
    return report
