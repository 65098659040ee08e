"""`python -m bot agent add ...`: create a contact-centre agent and print its token once.

    python -m bot agent add --tenant kobenhavn --id anne --name Anne --role agent \\
        --skill borgerservice_basis=7 --skill esb=3 --phone +4533661234

`--role editor` makes a knowledge editor: its token opens the article editing page
(`/agent/knowledge`) for the tenant's local articles and nothing else.

`--phone` (or `--client`, a Twilio Client identity) is where the agent takes phone calls: an
accepted call is put through to it.

The token goes to stdout (alone, so it can be piped); everything else to stderr. Needs
KONTAKT_AGENT_TOKEN_PEPPER (the same value the server uses)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_agent_commands(sub: Any) -> None:
    agent = sub.add_parser("agent", help="manage contact-centre agents (agent add)")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_sub.add_parser("add", help="create an agent and print its token once")
    add.add_argument("--tenant", required=True, help="tenant id from knowledge/tenants.yaml, e.g. kobenhavn")
    add.add_argument("--id", required=True, dest="agent_id", help="agent id, unique across tenants")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=("agent", "supervisor", "admin", "editor"), default="agent")
    add.add_argument("--skill", action="append", default=[], metavar="QUEUE=LEVEL",
                     help="skill level 0..9 for a queue; repeat for more queues")  # fmt: skip
    add.add_argument("--phone", default=None, help="phone number calls are put through to, e.g. +4533661234")
    add.add_argument("--client", default=None, dest="client_identity",
                     help="Twilio Client identity (a softphone) calls are put through to, e.g. anne")  # fmt: skip


def run_agent_command(args: argparse.Namespace, settings: Any) -> int:
    from bot.agent_accounts import add_agent_with_settings, parse_skill
    from bot.errors import KontaktError

    try:
        skills = dict(parse_skill(spec) for spec in args.skill)
        token = add_agent_with_settings(settings, tenant_id=args.tenant, agent_id=args.agent_id, name=args.name,
                                        role=args.role, skills=skills, phone=args.phone,
                                        client_identity=args.client_identity)  # fmt: skip
    except (KontaktError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Agent {args.agent_id!r} ({args.role}) created in tenant {args.tenant!r}.", file=sys.stderr)
    print("Token (shown once; only its hash is stored):", file=sys.stderr)
    print(token)
    return 0
