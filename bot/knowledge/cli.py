"""The `knowledge` and `export` sub-commands of `python -m bot` (argument parsing and printing
only; the work is in `bot.knowledge.review`, `bot.knowledge.stale` and `bot.knowledge.rasa_export`).

    python -m bot knowledge stale [--tenant T]      articles and local overlays due for review
    python -m bot export nlu [--out PATH]           the training data as one Rasa NLU YAML 3.1 file
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from bot.clock import utcnow
from bot.config import Settings
from bot.errors import KontaktError


def add_knowledge_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    kn = sub.add_parser("knowledge", help="knowledge articles and local overlays per municipality")
    actions = kn.add_subparsers(dest="knowledge_action", required=True)
    stale = actions.add_parser("stale", help="list articles and local overlays whose review is overdue")
    stale.add_argument("--tenant", default=None,
                       help="national articles plus this tenant's overlays (default: every tenant's overlays)")

    ex = sub.add_parser("export", help="export data in other tools' formats")
    what = ex.add_subparsers(dest="export_what", required=True)
    nlu = what.add_parser("nlu", help="the training data as Rasa NLU YAML 3.1 (intents, synonyms, regexes, lookups)")
    nlu.add_argument("--out", type=Path, default=None, help="write here instead of stdout")


def run_knowledge_command(args: argparse.Namespace, settings: Settings, now: datetime | None = None) -> int:
    try:
        if args.command == "export":
            return _export_nlu(args, settings)
        return _stale(args, settings, now or utcnow())
    except KontaktError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _export_nlu(args: argparse.Namespace, settings: Settings) -> int:
    from bot.knowledge.rasa_export import export_nlu
    from bot.nlu.training_data import load_dir

    data = load_dir(settings.nlu_data_dir)
    text = export_nlu(data)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(data.intents)} intents, {len(data.examples)} examples, {len(data.synonyms)} synonyms, "
              f"{len(data.lookups)} lookups, {len(data.regexes)} regexes to {args.out}", file=sys.stderr)
    return 0


def _stale(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    from bot.knowledge.review import KnowledgePaths, load_catalogue
    from bot.tenants import load_tenants

    tenants = load_tenants(settings.tenants_file)
    if args.tenant is not None:
        tenants.get(args.tenant)  # an unknown tenant is an error, not an empty list
    catalogue = load_catalogue(KnowledgePaths(settings.articles_dir, settings.topics_file), tenants)
    found = catalogue.stale(now, args.tenant)
    if not found:
        print("nothing is due for review")
        return 0
    print(f"{'due':<10}  {'overdue':>7}  {'kind':<8}  {'tenant':<10}  {'owner':<20}  article")
    for s in found:
        print(f"{s.due.isoformat():<10}  {s.days_overdue:>5} d  {s.kind.value:<8}  {s.tenant:<10}  {s.owner[:20]:<20}  {s.id}")
    return 0
