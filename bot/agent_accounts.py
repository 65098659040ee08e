"""Agent accounts: bearer tokens and creating agents with a token.

A token is 256 random bits (`kontakt_` + URL-safe base64), shown once and never stored. The
database keeps `hmac-sha256$<hex>` of the token under a server-side pepper
(KONTAKT_AGENT_TOKEN_PEPPER), so a copy of the database alone cannot be used to log in, and
looking an agent up by token is one indexed equality query (the digest of a random 256-bit
token leaks nothing by timing; the final comparison still uses `hmac.compare_digest`).
A slow KDF (scrypt) would add nothing for random 256-bit tokens and cost a KDF run per request.

    >>> pepper = b"x" * 32
    >>> token = new_token()
    >>> token_matches(token, hash_token(token, pepper), pepper)
    True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from bot.engine import ConversationEngine
from bot.errors import AuthNotConfigured, InvalidAgentLine
from bot.storage.models import AgentRole

TOKEN_PREFIX = "kontakt_"
HASH_SCHEME = "hmac-sha256"
MIN_PEPPER_CHARS = 32
_PLACEHOLDERS = frozenset({"changethis", "changeme", "secret", "pepper", "kontakt", "development"})


def token_pepper(settings: Any | None = None) -> bytes:
    """The pepper from `settings.agent_token_pepper` (KONTAKT_AGENT_TOKEN_PEPPER).
    Refuses a missing, short or placeholder value with `AuthNotConfigured`."""
    value = settings.agent_token_pepper if settings is not None else None
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not raw:
        raise AuthNotConfigured(
            "KONTAKT_AGENT_TOKEN_PEPPER is not set; agent tokens cannot be checked. Set it to a random"
            ' secret of at least 32 characters: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    if len(raw) < MIN_PEPPER_CHARS or raw.strip().lower() in _PLACEHOLDERS:
        raise AuthNotConfigured(
            f"KONTAKT_AGENT_TOKEN_PEPPER is too short or a placeholder (need at least {MIN_PEPPER_CHARS}"
            " random characters); generate one with secrets.token_urlsafe(48)"
        )
    return raw.encode("utf-8")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str, pepper: bytes) -> str:
    digest = hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{HASH_SCHEME}${digest}"


def token_matches(token: str, stored: str | None, pepper: bytes) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    if not stored:
        return False
    return hmac.compare_digest(hash_token(token, pepper).encode(), stored.encode())


def create_agent(
    engine: ConversationEngine,
    pepper: bytes,
    *,
    tenant_id: str,
    agent_id: str,
    name: str,
    role: AgentRole | str = AgentRole.AGENT,
    skills: Mapping[str, int] | None = None,
) -> str:
    """Create an agent with a fresh token and return the token (the only time it is seen).
    Raises AgentExists, UnknownTenant, UnknownQueue or InvalidSkillLevel from the engine."""
    token = new_token()
    engine.add_agent(
        tenant_id, agent_id, name, role=AgentRole(role), token_hash=hash_token(token, pepper), skills=skills
    )
    return token


PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
CLIENT_IDENTITY = re.compile(r"^[A-Za-z0-9_.@-]{1,120}$")


def check_line(phone: str | None, client_identity: str | None) -> tuple[str | None, str | None]:
    """An agent's line: a phone number in E.164 (+4533661234, spaces allowed) and/or a Twilio
    Client identity. `InvalidAgentLine` names what is wrong."""
    number = phone.replace(" ", "") if phone else None
    if number is not None and not PHONE.match(number):
        raise InvalidAgentLine(f"phone {phone!r} is not a number in international form, e.g. +4533661234")
    if client_identity is not None and not CLIENT_IDENTITY.match(client_identity):
        raise InvalidAgentLine(
            f"client identity {client_identity!r} may hold only letters, digits and _.@- (at most 120)"
        )
    return number, client_identity


def parse_skill(spec: str) -> tuple[str, int]:
    """`"borgerservice_basis=7"` → `("borgerservice_basis", 7)` (for the command line)."""
    queue, sep, level = spec.partition("=")
    if not sep or not queue.strip() or not level.strip().isdigit():
        raise ValueError(f"skill {spec!r} is not QUEUE=LEVEL, e.g. borgerservice_basis=7")
    return queue.strip(), int(level)


def add_agent_with_settings(
    settings: Any,
    *,
    tenant_id: str,
    agent_id: str,
    name: str,
    role: AgentRole | str = AgentRole.AGENT,
    skills: Mapping[str, int] | None = None,
    phone: str | None = None,
    client_identity: str | None = None,
) -> str:
    """What `python -m bot agent add` does: migrate the database, make sure the tenants of
    knowledge/tenants.yaml exist (as the API's lifespan does), create the agent (with the line
    calls are put through to, if given) and return its token."""
    from bot.clock import utcnow
    from bot.storage import Database
    from bot.storage.voice import set_agent_line
    from bot.tenants import load_tenants
    from bot.topics import load_contract

    pepper = token_pepper(settings)
    db = Database(settings.database_url)
    try:
        db.migrate()
        engine = ConversationEngine(db, load_contract(settings.topics_file), clock=utcnow)
        tenants = load_tenants(settings.tenants_file)
        tenant = tenants.get(tenant_id)
        engine.set_up_tenant(tenant)  # as the server sets it up (knowledge/tenants.yaml)
        line = check_line(phone, client_identity) if phone or client_identity else None
        token = create_agent(engine, pepper, tenant_id=tenant.id, agent_id=agent_id, name=name, role=role,
                             skills=skills)  # fmt: skip
        if line is not None:
            with db.write() as s:
                set_agent_line(s, tenant_id=tenant.id, agent_id=agent_id, phone=line[0], client_identity=line[1],
                               at=utcnow())  # fmt: skip
        return token
    finally:
        db.dispose()
