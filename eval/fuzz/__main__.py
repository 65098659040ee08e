"""`python -m eval.fuzz [--cases N] [--seed S] [--json] [--timeout T]`, the same run as
`python -m eval fuzz`, with the fuzz-only options."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from bot.config import get_settings
    from bot.train import is_fresh, train
    from eval.fuzz import run

    parser = argparse.ArgumentParser(prog="python -m eval.fuzz")
    parser.add_argument("--cases", type=int, default=10_000, help="generated cases (the targeted ones come first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not is_fresh(settings):
        train(settings, log=lambda m: print(m, file=sys.stderr))
    report = run(settings, n=args.cases, seed=args.seed, as_json=args.json, timeout=args.timeout)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
