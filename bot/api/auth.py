"""Agent authentication and authorisation for the agent API (issue 6 §5).

* `CurrentAgent`: a bearer token (`Authorization: Bearer kontakt_...`) resolved to the agent
  and, through the agent, to the tenant. Every agent endpoint uses this tenant and no other:
  there is no tenant parameter to tamper with.
* `SupervisorAgent`, `AdminAgent`: the same, requiring a role (agent < supervisor < admin).
* `AgentRoute`: the route class of the agent routers. It turns our errors into
  `{error, message}` JSON with the right status (401, 403, 404, 409, 422, 503) and marks every
  response `Cache-Control: no-store`, since they carry personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.agent_accounts import hash_token, token_matches, token_pepper
from bot.agent_queries import AgentIdentity, agent_by_token_hash
from bot.channels import Channels
from bot.engine import ConversationEngine
from bot.errors import (
    AgentBusy,
    AgentExists,
    AuthNotConfigured,
    ContactForbidden,
    DatabaseUnavailable,
    IllegalTransition,
    InvalidAgentLine,
    InvalidSkillLevel,
    InvalidTaskInput,
    KontaktError,
    NoReplyAddress,
    NotAssignedAgent,
    NotAuthenticated,
    RoleForbidden,
    StaleOffer,
    UnknownAgent,
    UnknownContact,
    UnknownOffer,
    UnknownOutcome,
    UnknownQueue,
    UnknownTask,
    UnknownTenant,
)
from bot.privacy import redact
from bot.storage.db import Database
from bot.storage.models import AgentRole

__all__ = [
    "AdminAgent", "AgentRoute", "CurrentAgent", "DatabaseDep", "EngineDep", "ROLE_RANK", "SupervisorAgent",
    "current_agent", "error_status", "request_pepper", "require_role",
]  # fmt: skip

ROLE_RANK = {AgentRole.AGENT: 0, AgentRole.SUPERVISOR: 1, AgentRole.ADMIN: 2}

# First match wins (subclasses before their bases).
_STATUS: tuple[tuple[type[KontaktError], int], ...] = (
    (NotAuthenticated, 401),
    (RoleForbidden, 403),
    (ContactForbidden, 403),
    (NotAssignedAgent, 403),
    (UnknownContact, 404),
    (UnknownAgent, 404),
    (UnknownOffer, 404),
    (UnknownQueue, 404),
    (UnknownTask, 404),
    (UnknownTenant, 404),
    (IllegalTransition, 409),
    (StaleOffer, 409),
    (AgentExists, 409),
    (AgentBusy, 409),
    (NoReplyAddress, 409),  # the contact has no address a reply can go to
    (UnknownOutcome, 422),
    (InvalidSkillLevel, 422),
    (InvalidAgentLine, 422),
    (InvalidTaskInput, 422),
    (AuthNotConfigured, 503),
    (DatabaseUnavailable, 503),
)


def error_status(exc: KontaktError) -> int | None:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return None


class AgentRoute(APIRoute):
    """Maps our errors to `{error, message}` responses for this router's endpoints only (the
    app-wide handler would make every KontaktError a 503)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except KontaktError as exc:
                status = error_status(exc)
                if status is None:
                    raise
                headers = {"WWW-Authenticate": 'Bearer realm="kontakt-agent"'} if status == 401 else {}
                response = JSONResponse({"error": type(exc).__name__, "message": redact(str(exc))}, status_code=status,
                                        headers=headers)  # fmt: skip
            response.headers["Cache-Control"] = "no-store"
            return response

        return handle


_bearer = HTTPBearer(auto_error=False, description="An agent token: `Authorization: Bearer kontakt_...`")


def get_engine(request: Request) -> ConversationEngine:
    return request.app.state.engine


def get_database(request: Request) -> Database:
    return request.app.state.db


EngineDep = Annotated[ConversationEngine, Depends(get_engine)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def get_channels(request: Request) -> Channels:
    return request.app.state.channels


ChannelsDep = Annotated[Channels, Depends(get_channels)]


def request_pepper(request: Request) -> bytes:
    """The token pepper, resolved from the app's settings once and cached on app.state."""
    pepper = getattr(request.app.state, "agent_token_pepper", None)
    if pepper is None:
        pepper = token_pepper(request.app.state.settings)
        request.app.state.agent_token_pepper = pepper
    return pepper


def current_agent(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> AgentIdentity:
    """The calling agent, from the bearer token; `NotAuthenticated` (401) otherwise."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("no bearer token; send `Authorization: Bearer <agent token>`")
    token = credentials.credentials.strip()
    pepper = request_pepper(request)
    found = agent_by_token_hash(request.app.state.db, hash_token(token, pepper))
    if found is None or not token_matches(token, found[1], pepper):
        raise NotAuthenticated("the token matches no agent; ask an administrator for a new one")
    return found[0]


CurrentAgent = Annotated[AgentIdentity, Depends(current_agent)]


def require_role(minimum: AgentRole) -> Callable[[AgentIdentity], AgentIdentity]:
    def check(agent: CurrentAgent) -> AgentIdentity:
        if ROLE_RANK[agent.role] < ROLE_RANK[minimum]:
            raise RoleForbidden(f"agent {agent.id!r} has role {agent.role.value}; this needs {minimum.value} or higher")
        return agent

    check.__name__ = f"require_{minimum.value}"
    return check


SupervisorAgent = Annotated[AgentIdentity, Depends(require_role(AgentRole.SUPERVISOR))]
AdminAgent = Annotated[AgentIdentity, Depends(require_role(AgentRole.ADMIN))]
