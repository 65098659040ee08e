"""`python -m eval`: accuracy, out-of-scope, safety recall, triage and retrieval on the dev set.
`python -m eval bench`: latency, throughput, start-up, memory and index-build time."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings, get_settings
from bot.topics import EMERGENCY, OUT_OF_SCOPE, TopicContract
from bot.types import Action
from bot.understanding import Parsed, Understanding
from eval import metrics
from eval.dataset import DEV_SET, load_dev_set


def expected_action(topic: str, contract: TopicContract, override: Action | None) -> Action:
    if override is not None:
        return override
    return Action(contract.topic(topic).handling.value)


def predicted_topic(p: Parsed) -> str:
    """The topic the front acted on: the safety/out-of-scope decision where it overrode the ranking."""
    d = p.decision
    if d.action in (Action.EMERGENCY, Action.OUT_OF_SCOPE) or d.sensitive:
        return d.topic or p.nlu.top.name
    return p.nlu.top.name


@dataclass
class Report:
    n: int
    top1: float
    top3: float
    macro_f1: float
    oos: metrics.PRF
    emergency_recall: float
    emergency_false_alarms: int
    sensitive_recall: float
    conversation_recall: float
    triage_accuracy: float
    retrieval_mrr: float
    worst: list
    misses: list
    harmless_false_alarm_rate: float | None = None  # emergency action on harmless alarm-word messages
    kinds: dict | None = None  # cases per kind, for sets written with kinds


def evaluate(u: Understanding, path: Path = DEV_SET) -> Report:
    dev = load_dev_set(path)
    contract = u.contract
    expected, predicted, rankings, exp_actions, got_actions, ranks = [], [], [], [], [], []
    emergency_caught, emergency_expected, sensitive_caught, sensitive_expected = [], [], [], []
    misses = []
    harmless_alarms: list[bool] = []
    for case in dev.cases:
        p = u.parse(case.text)
        topic = predicted_topic(p)
        ranking = [s.name for s in p.nlu.ranking]
        if topic != ranking[0]:
            ranking = [topic, *[r for r in ranking if r != topic]]
        expected.append(case.topic)
        predicted.append(topic)
        rankings.append(ranking)
        exp_actions.append(expected_action(case.topic, contract, case.action))
        got_actions.append(p.decision.action)
        t = contract.topic(case.topic)
        emergency_expected.append(case.kind == "emergency" if case.kind else case.topic == EMERGENCY)
        emergency_caught.append(p.decision.action == Action.EMERGENCY)
        if case.kind == "harmless_alarm":
            harmless_alarms.append(p.decision.action == Action.EMERGENCY)
        is_sensitive = case.kind == "sensitive" if case.kind else t.sensitive and case.topic != EMERGENCY
        sensitive_expected.append(is_sensitive)
        sensitive_caught.append(p.decision.action == Action.EMERGENCY or (p.decision.action == Action.HANDOFF and p.decision.sensitive))
        if u.by_topic.get(case.topic):
            hit_topics = [h.topic for h in u.index.search(u.embedder.queries([case.text])[0], k=10)]
            ranks.append(hit_topics.index(case.topic) + 1 if case.topic in hit_topics else None)
        if topic != case.topic or got_actions[-1] != exp_actions[-1]:
            misses.append((case.text, case.topic, topic, exp_actions[-1].value, p.decision.action.value))
    conv_hits = []
    for conv in dev.conversations:
        history: list[str] = []
        flagged = False
        for turn in conv.turns:
            p = u.parse(turn, tuple(history))
            history.append(turn)
            d = p.decision
            flagged = flagged or d.action == Action.EMERGENCY or (d.action == Action.HANDOFF and d.sensitive)
        conv_hits.append(flagged)
    return Report(
        n=len(expected),
        top1=metrics.accuracy(expected, predicted),
        top3=metrics.top_k_accuracy(expected, rankings, 3),
        macro_f1=metrics.macro_f1(expected, predicted),
        oos=metrics.prf([e == OUT_OF_SCOPE for e in expected], [a == Action.OUT_OF_SCOPE for a in got_actions]),
        emergency_recall=metrics.recall_of(emergency_expected, emergency_caught),
        emergency_false_alarms=sum(c and not e for e, c in zip(emergency_expected, emergency_caught, strict=True)),
        sensitive_recall=metrics.recall_of(sensitive_expected, sensitive_caught),
        conversation_recall=sum(conv_hits) / len(conv_hits) if conv_hits else 1.0,
        triage_accuracy=metrics.accuracy([a.value for a in exp_actions], [a.value for a in got_actions]),
        retrieval_mrr=metrics.mrr(ranks),
        worst=metrics.confusions(expected, predicted),
        misses=misses,
        harmless_false_alarm_rate=sum(harmless_alarms) / len(harmless_alarms) if harmless_alarms else None,
        kinds=dict(Counter(c.kind for c in dev.cases if c.kind)) or None,
    )


def print_report(r: Report, show_misses: bool) -> None:
    print(f"cases: {r.n}" + (f"  kinds: {r.kinds}" if r.kinds else ""))
    print(f"topic top-1 accuracy      {r.top1:.3f}")
    print(f"topic top-3 accuracy      {r.top3:.3f}")
    print(f"topic macro-F1            {r.macro_f1:.3f}")
    print(f"out-of-scope P/R/F1       {r.oos.precision:.3f} / {r.oos.recall:.3f} / {r.oos.f1:.3f} (n={r.oos.support})")
    print(f"emergency recall          {r.emergency_recall:.3f} (false alarms: {r.emergency_false_alarms})")
    if r.harmless_false_alarm_rate is not None:
        print(f"false alarms on harmless alarm-word messages {r.harmless_false_alarm_rate:.3f}")
    print(f"sensitive recall          {r.sensitive_recall:.3f}")
    print(f"conversation safety recall {r.conversation_recall:.3f}")
    print(f"triage-action accuracy    {r.triage_accuracy:.3f}")
    print(f"retrieval MRR@10          {r.retrieval_mrr:.3f}")
    print("worst topics (F1, most frequent confusions):")
    for c, f1, wrong in r.worst:
        print(f"  {c:40s} {f1:.2f}  {', '.join(f'{w}×{n}' for w, n in wrong)}")
    if show_misses:
        print("misses (text | expected | predicted | expected action | action):")
        for m in r.misses:
            print("  " + " | ".join(m))


HISTORY = Path(__file__).parent / "results" / "history.jsonl"
BENCH_HISTORY = Path(__file__).parent / "results" / "bench.jsonl"  # `bench --json` and `load --json`


def record(path: Path, note: str, figures: dict) -> None:
    """One line per measurement, so a regression on any set shows in the history."""
    HISTORY.parent.mkdir(parents=True, exist_ok=True)
    row = {"date": time.strftime("%Y-%m-%d"), "set": path.name, "note": note, **machine(), **figures}
    with HISTORY.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, default=lambda o: o.__dict__ if hasattr(o, "__dict__") else str(o)) + "\n")


def machine() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    import os

    return {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "system": platform.platform(), "commit": commit}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval")
    parser.add_argument("command", nargs="?", default="dev", choices=["dev", "bench", "fuzz", "load"])
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--set", type=Path, default=DEV_SET, help="evaluation set (default: the dev set)")
    parser.add_argument(
        "--record", metavar="NOTE", help="append the figures to eval/results/history.jsonl with this note"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cases", type=int, default=10_000, help="fuzz: number of generated cases")
    parser.add_argument("--seed", type=int, default=0, help="fuzz: random seed")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both", help="load: database")
    parser.add_argument("--conversations", type=int, default=32, help="load: concurrent chat conversations")
    parser.add_argument("--seconds", type=float, default=30.0, help="load: duration of each run")
    parser.add_argument("--think", type=float, default=None,
                        help="load: seconds a client waits between messages (0: a closed loop at full speed)")
    parser.add_argument("--turns", type=int, default=None, help="load: messages per conversation before a new one")
    parser.add_argument("--no-mail", action="store_true",
                        help="load: leave the e-mail burst out (chat only); the JSON records it as \"mail\": false")
    parser.add_argument("--articles", type=int, default=0,
                        help="bench: also build an index of this many synthetic articles (e.g. 5000)")
    parser.add_argument("--index-embedder", default=None,
                        help="bench: embedder for the synthetic index (default: the configured one; "
                             "`lexical` measures the index without the model's cost)")
    parser.add_argument("--index-only", action="store_true", help="bench: only the index figures")
    parser.add_argument("--rates", default=None,
                        help="load: comma-separated conversation counts to step through for the latency chart")
    args = parser.parse_args(argv)
    settings: Settings = get_settings()
    from bot.train import is_fresh, train

    if not is_fresh(settings):
        train(settings, log=lambda m: print(m, file=sys.stderr))
    if args.command == "fuzz":
        from eval.fuzz import run as run_fuzz

        report = run_fuzz(settings, n=args.cases, seed=args.seed, as_json=args.json)
        return 1 if report.failed else 0
    if args.command == "load":
        from eval.load import run as run_load

        steps = [int(x) for x in args.rates.split(",")] if args.rates else None
        from eval.load import THINK_SECONDS, TURNS_PER_CONVERSATION

        return run_load(settings, db=args.db, conversations=args.conversations, seconds=args.seconds,
                        as_json=args.json, steps=steps, record_to=BENCH_HISTORY if args.json else None,
                        think=THINK_SECONDS if args.think is None else args.think,
                        turns=args.turns or TURNS_PER_CONVERSATION, mail=not args.no_mail)
    if args.command == "bench":
        from eval.bench import run

        run(settings, articles=args.articles, index_embedder=args.index_embedder, only_index=args.index_only,
            as_json=args.json, record_to=BENCH_HISTORY if args.json else None)
        return 0
    u = Understanding.load(settings)
    print(f"machine: {machine()}  embedder: {u.embedder.name}  index: {u.index.manifest}")
    r = evaluate(u, args.set)
    figures = {k: v for k, v in r.__dict__.items() if k not in ("misses", "worst")}
    if args.json:
        print(json.dumps(figures, default=str))
    if args.record:
        record(args.set, args.record, figures)
    print_report(r, args.misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
