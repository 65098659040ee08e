"""Command line: `python -m bot train` and `python -m bot serve --host 127.0.0.1 --port 5005`."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.config import Settings, load_settings

CORE_COMMANDS = ("train", "serve", "parse")  # defined here; every other command lives in its own module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="kontakt: Danish municipal contact front")
    sub = parser.add_subparsers(dest="command", required=True)
    train_cmd = sub.add_parser("train", help="validate data, train the NLU model and build the knowledge index")
    train_cmd.add_argument("--full", action="store_true",
                           help="refit every model from scratch, folds included (default: after a small edit, "
                                "reuse the previous fit's out-of-fold predictions and refit only the final models)")
    serve = sub.add_parser("serve", help="serve the HTTP API (trains first if nothing is built)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5005)
    serve.add_argument("--workers", type=int, default=1)
    parse = sub.add_parser("parse", help="parse one message and print the JSON result")
    parse.add_argument("text")
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in CORE_COMMANDS:
        # The other commands' modules import the engine, storage and capacity code (0.8 s of CPU,
        # measured) that training and parsing never use: registered only when one of them, help
        # or an unknown command is asked for.
        from bot.agent_cli import add_agent_commands
        from bot.capacity.cli import add_capacity_command
        from bot.demo_day import add_demo_day_command
        from bot.knowledge.cli import add_knowledge_commands
        from bot.privacy_cli import add_privacy_commands

        add_privacy_commands(sub)
        add_agent_commands(sub)
        add_capacity_command(sub)
        add_demo_day_command(sub)
        add_knowledge_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve" and args.workers == 1:
        # This process builds the app, and the model check below already imports half of it
        # (spaCy, the storage tables): no collector passes from here until it is up (bot/heap.py).
        from bot.heap import pause_gc_for_start_up

        pause_gc_for_start_up()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()  # the environment and .env, read once here
    if args.command in ("retention", "gdpr"):
        from bot.privacy_cli import run_privacy_command

        return run_privacy_command(args, settings)
    if args.command == "agent":
        from bot.agent_cli import run_agent_command

        return run_agent_command(args, settings)
    if args.command == "capacity":
        from bot.capacity.cli import run_capacity_command

        return run_capacity_command(args, settings)
    if args.command == "demo-day":
        from bot.demo_day import run_demo_day_command

        return run_demo_day_command(args, settings)
    if args.command in ("knowledge", "export"):
        from bot.knowledge.cli import run_knowledge_command

        return run_knowledge_command(args, settings)

    if args.command == "train":
        from bot.train import train

        train(settings, full=args.full)
        return 0
    if args.command == "serve" and args.workers > 1:
        # uvicorn's supervisor only starts and watches the workers, each a fresh interpreter:
        # checking the model here would keep bot.train and what it imports (spaCy, FAISS, the
        # model code: 60 MB, measured) resident in a process that never answers a message.
        import multiprocessing
        from importlib import import_module

        # By its importable name: run as `python -m bot`, this module is `__main__`, which a
        # spawned process cannot look the function up in.
        target = import_module("bot.__main__")._train_if_stale
        check = multiprocessing.get_context("spawn").Process(target=target, args=(settings,))
        check.start()
        check.join()
        if check.exitcode != 0:
            return check.exitcode or 1
    else:
        _train_if_stale(settings)
    if args.command == "parse":
        import json

        from bot.api.rasa import parse_json
        from bot.understanding import Understanding

        p = Understanding.load(settings).parse(args.text)
        print(json.dumps(parse_json(p.nlu, p.decision), ensure_ascii=False, indent=1))
        return 0
    import uvicorn

    uvicorn.run(app_factory(), factory=True, host=args.host, port=args.port, workers=args.workers, log_level="info")
    return 0


def _train_if_stale(settings: Settings) -> None:
    from bot.model_stamp import stamp_matches

    if stamp_matches(settings):  # the inputs are as they were when the model was last found fresh
        return
    from bot.heap import collecting
    from bot.train import is_fresh, train

    with collecting():  # training drops far more than start-up keeps: the collector runs for it
        if not is_fresh(settings):
            print("model missing or out of date: training first", file=sys.stderr)
            train(settings)


def app_factory() -> str:
    """What `serve` runs: the app factory the installed distribution registers under the
    `kontakt.app` entry point (the channels live outside `bot`, which never names them)."""
    from importlib.metadata import entry_points

    found = entry_points(group="kontakt.app", name="default")
    if not found:
        raise SystemExit("no kontakt.app entry point installed: run scripts/setup.sh (pip install -e .)")
    return next(iter(found)).value


if __name__ == "__main__":
    sys.exit(main())
