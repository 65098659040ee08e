"""The `retention` and `gdpr` sub-commands of `python -m bot` (argument parsing and printing only;
the work is in `bot.retention` and `bot.gdpr`).

    python -m bot retention [--days 180] [--dry-run] [--tenant T] [--delete-messages] [--json]
    python -m bot gdpr export --tenant T (--email X | --phone X | --cpr X) [--output FILE]
    python -m bot gdpr delete --tenant T (--email X | --phone X | --cpr X) [--dry-run] [--include-open]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bot.clock import utcnow
from bot.config import Settings
from bot.errors import KontaktError
from bot.privacy import RedactingFilter

log = logging.getLogger("kontakt.privacy")


def add_privacy_commands(sub: argparse._SubParsersAction) -> None:
    ret = sub.add_parser("retention", help="anonymise closed/abandoned contacts older than the retention period")
    ret.add_argument("--days", type=int, default=None, help="retention period in days (default 180)")
    ret.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
    ret.add_argument("--tenant", default=None, help="only this tenant (default: every tenant)")
    ret.add_argument("--delete-messages", action="store_true",
                     help="delete message rows instead of keeping their redacted text")
    ret.add_argument("--json", action="store_true", help="print the counts as JSON")

    gdpr = sub.add_parser("gdpr", help="export or delete one citizen's data (GDPR art. 15 and 17)")
    actions = gdpr.add_subparsers(dest="gdpr_action", required=True)
    for name, text in (("export", "print every stored record of the citizen as JSON"),
                       ("delete", "anonymise the citizen's finished contacts and delete their messages")):
        p = actions.add_parser(name, help=text)
        p.add_argument("--tenant", required=True)
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--email")
        who.add_argument("--phone")
        who.add_argument("--cpr", help="CPR number as written in messages (DDMMÅÅ-XXXX)")
        if name == "export":
            p.add_argument("--output", type=Path, default=None, help="write the JSON here instead of stdout")
        else:
            p.add_argument("--dry-run", action="store_true", help="count what would change; write nothing")
            p.add_argument("--include-open", action="store_true", help="also contacts that are still open")


def _counts_text(counts: dict[str, int], dry_run: bool) -> str:
    head = "would change" if dry_run else "changed"
    return head + ": " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())


def run_privacy_command(args: argparse.Namespace, settings: Settings) -> int:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    from bot.storage import Database

    db = Database(settings.database_url)
    now = utcnow()
    try:
        db.migrate()
        if args.command == "retention":
            from bot.retention import DEFAULT_DAYS, MessageMode, RetentionPolicy, run_retention

            policy = RetentionPolicy(
                days=args.days if args.days is not None else DEFAULT_DAYS,
                messages=MessageMode.DELETE if args.delete_messages else MessageMode.REDACT,
            )
            counts = run_retention(db, now=now, policy=policy, tenant_id=args.tenant, dry_run=args.dry_run)
            out = counts.as_dict()
            out.pop("skipped_open")
            if args.json:
                print(json.dumps({"dry_run": args.dry_run, "days": policy.days, "tenant": args.tenant, **out}))
            else:
                scope = f"tenant {args.tenant}" if args.tenant else "all tenants"
                print(f"retention {policy.days} days, {scope}, messages {policy.messages.value}")
                print(_counts_text(out, args.dry_run))
            return 0
        from bot.gdpr import CitizenQuery, delete_citizen, export_citizen

        query = CitizenQuery(email=args.email, phone=args.phone, cpr=args.cpr)
        if args.gdpr_action == "export":
            doc = export_citizen(db, tenant_id=args.tenant, query=query, now=now)
            text = json.dumps(doc, ensure_ascii=False, indent=1)
            if args.output is not None:
                args.output.write_text(text + "\n", encoding="utf-8")
                print(f"{len(doc['contacts'])} contact(s) written to {args.output}", file=sys.stderr)
            else:
                print(text)
            return 0
        counts = delete_citizen(db, tenant_id=args.tenant, query=query, include_open=args.include_open,
                                dry_run=args.dry_run)
        print(_counts_text(counts.as_dict(), args.dry_run))
        if counts.skipped_open:
            print(f"{counts.skipped_open} open contact(s) left alone; close them or pass --include-open",
                  file=sys.stderr)
        return 0
    except KontaktError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
