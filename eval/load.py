"""`python -m eval load`: concurrent chat conversations plus an e-mail burst against ONE real server
on loopback, for a bounded time, on SQLite (one worker) and on PostgreSQL (two workers, a throwaway
cluster as in tests/pg.py).

Each of `--conversations` clients holds a chat session over POST /chat/api/messages and writes the
next Danish dev-set question after a think time (`--think`, zero for a closed loop at full speed);
after `--turns` messages it starts a new conversation, as citizens do, so the bot keeps answering
instead of most turns landing in a queue where the bot is silent. Every text gets a short unique
tail, so no message is served from the embedder's cache: each turn is a new message through the
whole engine. At the same time an e-mail burst is posted to POST /email/inbound when the served
app has that route (otherwise that part is skipped and the report says so), unless `--no-mail`
leaves it out: chat alone, as a chat-only deployment serves it, without the mail pipeline's share
of the CPU and memory. Reports throughput, p50/p99 latency, errors (5xx and transport failures),
429s, the share of turns the bot answered, and the server's resident memory (all processes)
before and after. Benchmarks, not tests: nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.config import ROOT, Settings
from eval.bench import _free_port, percentile

THINK_SECONDS = 0.5  # a citizen types slower; keeps every session under the per-sender rate limit
TURNS_PER_CONVERSATION = 4  # then a new conversation: a chat with the bot is a few messages long
MAIL_BURST = 200  # e-mails posted during the first step (none with --no-mail)
INBOUND_SECRET = "load-test-" + secrets.token_hex(8)
MAIL = (
    "From: Borger {i} <borger{i}@example.dk>\r\nTo: kontakt@kobenhavn.example\r\nSubject: Storskrald {i}\r\n"
    "Message-ID: <load-{run}-{i}@example.dk>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nHej, hvornår henter I storskrald på Amagerbrogade {i}?\r\n"
)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    limited: int = 0
    client_errors: int = 0
    answered: int = 0  # chat turns the bot replied to (the rest waited for a human)
    error_samples: list[str] = field(default_factory=list)

    def record(self, started: float, status: int | None, detail: str = "") -> None:
        self.latencies.append((time.perf_counter() - started) * 1000)
        if status is None or status >= 500:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{status}: {detail[:160]}")
        elif status == 429:
            self.limited += 1
        elif status >= 400:
            self.client_errors += 1

    def summary(self, seconds: float) -> str:
        n = len(self.latencies)
        if not n:
            return "no requests"
        return (f"{n} requests, {n / seconds:.1f}/s, p50 {percentile(self.latencies, 50):.0f} ms, "
                f"p99 {percentile(self.latencies, 99):.0f} ms, errors {self.errors}, 429 {self.limited}, "
                f"other 4xx {self.client_errors}")


def _server_pids(pid: int) -> list[int]:
    """`pid` and its children and grandchildren (uvicorn's supervisor and workers)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
        for c in children:
            pids += [int(g) for g in Path(f"/proc/{c}/task/{c}/children").read_text().split()]
    except OSError:
        pass
    return pids


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server's processes have used so far. Per turn served it is the
    figure a busy machine does not distort: other load lengthens waits, not the work per turn."""
    ticks = 0
    for p in _server_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (uvicorn workers), in MB."""
    total = 0
    for p in _server_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def _chat(client: httpx.AsyncClient, texts: list[str], offset: int, stop: float, stats: Stats,
                think: float, turns: int, tag: str) -> None:
    session = None
    i = offset
    n = 0
    while time.perf_counter() < stop:
        if n % turns == 0:
            session = None
        # The tail makes every text new to the server (no embedder cache hit), and reads as a
        # citizen's own numbering, which no classifier treats as a topic.
        body = {"session": session, "tenant": None, "text": f"{texts[i % len(texts)]} ({tag}{offset}-{n})"}
        i += 7
        n += 1
        started = time.perf_counter()
        try:
            r = await client.post("/chat/api/messages", json=body)
            stats.record(started, r.status_code, r.text)
            if r.status_code == 200:
                reply = r.json()
                session = reply.get("session")
                stats.answered += any(m.get("kind") == "bot" for m in reply.get("messages", []))
        except httpx.HTTPError as exc:
            stats.record(started, None, repr(exc))
        await asyncio.sleep(think)  # zero still yields, so every client gets its turn


async def _mail_burst(client: httpx.AsyncClient, header: str, n: int, run: str, stats: Stats) -> None:
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with sem:
            started = time.perf_counter()
            try:
                r = await client.post("/email/inbound", content=MAIL.format(i=i, run=run).encode(),
                                      headers={header: INBOUND_SECRET, "content-type": "message/rfc822"})
                stats.record(started, r.status_code, r.text)
            except httpx.HTTPError as exc:
                stats.record(started, None, repr(exc))

    await asyncio.gather(*(one(i) for i in range(n)))


async def _drive(url: str, conversations: int, seconds: float, mail: tuple[str, int] | None, think: float = THINK_SECONDS,
                 turns: int = TURNS_PER_CONVERSATION) -> tuple[Stats, Stats, float]:
    from eval.dataset import load_dev_set

    texts = [c.text for c in load_dev_set().cases]
    chat, mails = Stats(), Stats()
    limits = httpx.Limits(max_connections=conversations + 16)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        stop = started + seconds
        tag = secrets.token_hex(2)  # another run's texts are new again
        jobs = [_chat(client, texts, k * 13, stop, chat, think, turns, tag) for k in range(conversations)]
        if mail is not None:
            jobs.append(_mail_burst(client, mail[0], mail[1], str(int(started)), mails))
        await asyncio.gather(*jobs)
        return chat, mails, time.perf_counter() - started


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).json().get("status") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.05)  # the start-up figure is this loop's: a half-second poll added up to 0.5 s to it
    raise RuntimeError("server did not become ready")


def _email_header() -> str | None:
    try:
        from connectors.email.routes import SECRET_HEADER
    except ImportError:
        return None
    return SECRET_HEADER


def run_once(label: str, database_url: str, workers: int, conversations: int | list[int], seconds: float,
             mails: int = MAIL_BURST, think: float = THINK_SECONDS, turns: int = TURNS_PER_CONVERSATION) -> dict:
    """One server; for each conversation count in turn (a list steps the load up), `seconds` of
    chat (and, at the first step, a burst of `mails` e-mails; none with 0). Returns the figures
    of every step."""
    steps = conversations if isinstance(conversations, list) else [conversations]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KONTAKT_DATABASE_URL": database_url,
           # every load client shares 127.0.0.1: lift the per-IP limits (new conversations too),
           # keep the per-sender one
           "KONTAKT_RATELIMIT_IP_PER_SECOND": "100000", "KONTAKT_RATELIMIT_IP_BURST": "100000",
           "KONTAKT_RATELIMIT_NEW_CONVERSATION_PER_SECOND": "100000",
           "KONTAKT_RATELIMIT_NEW_CONVERSATION_BURST": "100000",
           "KONTAKT_EMAIL_INBOUND_SECRET": INBOUND_SECRET}
    log = tempfile.NamedTemporaryFile(prefix=f"kontakt-load-{label}-", suffix=".log", delete=False)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    results: list[dict] = []
    mail = None
    try:
        _wait_ready(url, proc)
        startup = time.perf_counter() - started
        time.sleep(1.0 if workers == 1 else 5.0)  # let every worker finish loading
        paths = httpx.get(url + "/openapi.json", timeout=10).json().get("paths", {})
        header = _email_header()
        mail = (header, mails) if mails and "/email/inbound" in paths and header else None
        rss_start = _rss_mb(proc.pid)
        for n, step in enumerate(steps):
            rss_before = _rss_mb(proc.pid)
            cpu_before = _cpu_seconds(proc.pid)
            chat, mail_stats, elapsed = asyncio.run(_drive(url, step, seconds, mail if n == 0 else None, think, turns))
            rss_after = _rss_mb(proc.pid)
            cpu = _cpu_seconds(proc.pid) - cpu_before
            results.append({"conversations": step, "chat": chat, "mail": mail_stats, "elapsed": elapsed,
                            "rss_before": rss_before, "rss_after": rss_after, "cpu": cpu})
        peak = _hwm_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    figures = []
    for r in results:
        chat, mail_stats, elapsed = r["chat"], r["mail"], r["elapsed"]
        print(f"[{label}] {workers} worker(s), {r['conversations']} conversations, {elapsed:.0f} s"
              f" (server log {log.name})")
        requests = len(chat.latencies) + len(mail_stats.latencies)
        cpu_ms = r["cpu"] * 1000 / requests if requests else float("nan")
        print(f"  chat:   {chat.summary(elapsed)}, bot answered {chat.answered}")
        print(f"  server CPU {r['cpu']:.1f} s, {cpu_ms:.0f} ms per request"
              f" ({'chat and mail' if mail_stats.latencies else 'chat'})")
        if r is results[0]:
            if not mails:
                print("  e-mail: left out (--no-mail)")
            elif mail is None:
                print("  e-mail: skipped: the served app has no POST /email/inbound (connectors/app.py does not"
                      " include the e-mail router)")
            else:
                print(f"  e-mail: burst of {mails}: {mail_stats.summary(elapsed)}")
        print(f"  server RSS (all processes): {r['rss_before']:.0f} MB before, {r['rss_after']:.0f} MB after")
        for e in chat.error_samples + mail_stats.error_samples:
            print(f"  error: {e}")
        lat = chat.latencies or [float("nan")]
        figures.append({
            "conversations": r["conversations"],
            # a closed loop without think time offers as much as the server takes
            "offered_turns_per_s": round(r["conversations"] / think, 1) if think else None,
            "turns": len(chat.latencies),
            "bot_answered": chat.answered,
            "turns_per_s": round(len(chat.latencies) / elapsed, 2),
            "p50_ms": round(percentile(lat, 50), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "chat_errors": chat.errors, "chat_429": chat.limited,
            "mail_requests": len(mail_stats.latencies), "mail_errors": mail_stats.errors,
            "mail_p99_ms": round(percentile(mail_stats.latencies, 99), 1) if mail_stats.latencies else None,
            "server_cpu_seconds": round(r["cpu"], 2), "server_cpu_ms_per_request": round(cpu_ms, 1),
            "rss_mb_before": round(r["rss_before"], 1), "rss_mb_after": round(r["rss_after"], 1),
        })  # fmt: skip
    return {"label": label, "workers": workers, "startup_seconds": round(startup, 2),
            "mail_included": mail is not None, "mail_burst": mail[1] if mail is not None else 0,
            "rss_mb_after_startup": round(rss_start, 1), "rss_mb_peak_per_process_max": round(peak, 1),
            "steps": figures,
            "chat_errors": sum(f["chat_errors"] for f in figures),
            "mail_errors": sum(f["mail_errors"] for f in figures)}


def _hwm_mb(pid: int) -> float:
    """The largest peak resident memory (VmHWM) of `pid` and its children, in MB."""
    best = 0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best / 1024


def latency_chart_svg(series: dict[str, list[dict]], title: str, think: float = THINK_SECONDS) -> str:
    """A line chart, written by hand (no plotting library): served turns/s against p50 and p99
    latency, one pair of lines per database."""
    w, h, left, right, top, bottom = 720, 420, 70, 170, 40, 50
    pts = [p for steps in series.values() for p in steps]
    if not pts:
        return ""
    xmax = max(p["turns_per_s"] for p in pts) * 1.05 or 1.0
    ymax = max(max(p["p99_ms"], p["p50_ms"]) for p in pts) * 1.1 or 1.0

    def sx(x: float) -> float:
        return left + x / xmax * (w - left - right)

    def sy(y: float) -> float:
        return h - bottom - y / ymax * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">chat turns/s served '
           f'({think} s think time)</text>',
           f'<text x="16" y="{(top + h - bottom) / 2}" transform="rotate(-90 16 {(top + h - bottom) / 2})" '
           'text-anchor="middle">latency (ms)</text>']  # fmt: skip
    for i in range(6):
        xv, yv = xmax * i / 5, ymax * i / 5
        out.append(f'<text x="{sx(xv):.1f}" y="{h - bottom + 16}" text-anchor="middle">{xv:.0f}</text>')
        out.append(f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.0f}</text>')
        out.append(f'<line x1="{left}" y1="{sy(yv):.1f}" x2="{w - right}" y2="{sy(yv):.1f}" stroke="#ddd"/>')
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    legend_y = top + 10
    for k, (label, steps) in enumerate(series.items()):
        c = colours[k % len(colours)]
        for key, dash in (("p50_ms", ""), ("p99_ms", ' stroke-dasharray="6 4"')):
            line = " ".join(f"{sx(p['turns_per_s']):.1f},{sy(p[key]):.1f}" for p in steps)
            out.append(f'<polyline points="{line}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            for p in steps:
                out.append(f'<circle cx="{sx(p["turns_per_s"]):.1f}" cy="{sy(p[key]):.1f}" r="3" fill="{c}">'
                           f'<title>{label} {key[:3]}: {p[key]} ms at {p["conversations"]} conversations, '
                           f'{p["turns_per_s"]} turns/s served</title></circle>')  # fmt: skip
            out.append(f'<line x1="{w - right + 10}" y1="{legend_y}" x2="{w - right + 40}" y2="{legend_y}" '
                       f'stroke="{c}" stroke-width="2"{dash}/><text x="{w - right + 46}" y="{legend_y + 4}">'
                       f'{label} {key[:3]}</text>')  # fmt: skip
            legend_y += 18
    out.append("</svg>")
    return "\n".join(out)


def run(settings: Settings, db: str = "both", conversations: int = 32, seconds: float = 30.0,
        as_json: bool = False, steps: list[int] | None = None, record_to: Path | None = None,
        think: float = THINK_SECONDS, turns: int = TURNS_PER_CONVERSATION, mail: bool = True) -> int:
    """`steps`: conversation counts to step through on each server (for the latency chart);
    default: just `conversations`. `mail` False leaves the e-mail burst out. With `as_json` the
    figures go to stdout as one JSON line and to `record_to`, and a chart to
    eval/results/load-latency.svg."""
    import json

    from eval.__main__ import machine

    print(f"machine: {machine()}  think time {think} s, {turns} turns per conversation"
          f"{'' if mail else ', no e-mail burst'}")
    mails = MAIL_BURST if mail else 0
    results = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    plan: int | list[int] = steps or conversations
    if db in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp(prefix="kontakt-load-")) / "kontakt.sqlite3"
        results.append(run_once("sqlite", f"sqlite:///{path}", 1, plan, seconds, mails, think=think, turns=turns))
    if db in ("postgresql", "both"):
        sys.path.insert(0, str(ROOT))
        from tests.pg import PostgresCluster, find_pg_bin  # the same throwaway cluster the tests use

        cluster = PostgresCluster(find_pg_bin()).start()
        try:
            url = cluster.create_database(name="kontakt_load")
            from bot.storage import Database

            database = Database(url)
            database.migrate()  # once, before two workers race to migrate
            database.dispose()
            results.append(run_once("postgresql", url, 2, plan, seconds, mails, think=think, turns=turns))
        finally:
            cluster.destroy()
    if as_json:
        from eval.bench import model_info

        report = {"kind": "load", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
                  "model": model_info(settings), "think_seconds": think, "turns_per_conversation": turns,
                  "seconds_per_step": seconds, "mail": mail,
                  "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
                  "runs": results}  # fmt: skip
        print(json.dumps(report, ensure_ascii=False))
        if record_to is not None:
            record_to.parent.mkdir(parents=True, exist_ok=True)
            with record_to.open("a", encoding="utf-8") as f:
                f.write(json.dumps(report, ensure_ascii=False) + "\n")
        chart = latency_chart_svg({f"{r['label']} ({r['workers']} w)": r["steps"] for r in results},
                                  f"kontakt chat latency against load ({report['date']}, {machine()['commit']})",
                                  think)
        out = Path(__file__).parent / "results" / "load-latency.svg"
        out.write_text(chart, encoding="utf-8")
        print(f"chart: {out}", file=sys.stderr)
    return 1 if any(r["chat_errors"] or r["mail_errors"] for r in results) else 0
