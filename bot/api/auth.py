"""Agent authentication and authorisation for the agent API (issue 6 §5).

* `CurrentAgent`: a bearer token (`Authorization: Bearer kontakt_...`) resolved to the agent
  and, through the agent, to the tenant. Every agent endpoint uses this tenant and no other:
  there is no tenant parameter to tamper with.
* `SupervisorAgent`, `AdminAgent`: the same, requiring a role (agent < supervisor < admin).
* `KnowledgeEditor`: an editor or an admin (bot/api/knowledge.py). An editor stands outside the
  agent hierarchy: its token opens the knowledge routes only, never a contact or citizen data.
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

from bot.agent_accounts import hash_token, token_matches
from bot.api import error_body
from bot.api.deps import (
    ChannelsDep,
    DatabaseDep,
    EngineDep,
    PepperDep,
    SettingsDep,
    request_pepper,
    signature_once,
)
from bot.errors import KontaktError, NotAuthenticated, RoleForbidden
from bot.storage.agent_queries import AgentIdentity, agent_by_token_hash
from bot.storage.models import AgentRole

__all__ = [
    "AdminAgent", "AgentRoute", "ChannelsDep", "CurrentAgent", "DatabaseDep", "EngineDep", "PepperDep", "ROLE_RANK",
    "KnowledgeEditor", "SupervisorAgent", "current_agent", "current_identity", "request_pepper", "require_role",
]  # fmt: skip

ROLE_RANK = {AgentRole.AGENT: 0, AgentRole.SUPERVISOR: 1, AgentRole.ADMIN: 2}
KNOWLEDGE_ROLES = frozenset({AgentRole.EDITOR, AgentRole.ADMIN})


class AgentRoute(APIRoute):
    """Answers our errors on the agent routes as the app-wide handler does (`error_body`, the
    status from the one table in bot/errors.py), and adds what these routes need: a bearer
    challenge on 401 and `Cache-Control: no-store` on every response, errors included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except KontaktError as exc:
                status, body = self.error_body(exc)
                headers = {"WWW-Authenticate": 'Bearer realm="kontakt-agent"'} if status == 401 else {}
                response = JSONResponse(body, status_code=status, headers=headers)
            response.headers["Cache-Control"] = "no-store"
            return response

        return handle

    def error_body(self, exc: KontaktError) -> tuple[int, dict[str, str]]:
        """Status and body for an error on this route (a route class may name its errors)."""
        return error_body(exc)


_bearer = HTTPBearer(auto_error=False, description="An agent token: `Authorization: Bearer kontakt_...`")


@signature_once
def current_identity(
    db: DatabaseDep, settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
) -> AgentIdentity:
    """Whoever holds the bearer token, in any role; `NotAuthenticated` (401) otherwise."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("no bearer token; send `Authorization: Bearer <agent token>`")
    token = credentials.credentials.strip()
    pepper = request_pepper(settings)  # after the token check: no token is 401 even when unconfigured
    found = agent_by_token_hash(db, hash_token(token, pepper))
    if found is None or not token_matches(token, found[1], pepper):
        raise NotAuthenticated("the token matches no agent; ask an administrator for a new one")
    return found[0]


@signature_once
def current_agent(identity: Annotated[AgentIdentity, Depends(current_identity)]) -> AgentIdentity:
    """The calling agent (agent, supervisor or admin); an editor's token is refused (403)."""
    if identity.role not in ROLE_RANK:
        raise RoleForbidden(f"{identity.id!r} has role {identity.role.value}; this needs an agent, supervisor or admin")
    return identity


@signature_once
def knowledge_editor(identity: Annotated[AgentIdentity, Depends(current_identity)]) -> AgentIdentity:
    """An editor or an admin, who may edit knowledge articles (which ones: bot/api/knowledge.py)."""
    if identity.role not in KNOWLEDGE_ROLES:
        raise RoleForbidden(f"{identity.id!r} has role {identity.role.value}; editing articles needs editor or admin")
    return identity


CurrentAgent = Annotated[AgentIdentity, Depends(current_agent)]
KnowledgeEditor = Annotated[AgentIdentity, Depends(knowledge_editor)]


def require_role(minimum: AgentRole) -> Callable[[AgentIdentity], AgentIdentity]:
    def check(agent: CurrentAgent) -> AgentIdentity:
        if ROLE_RANK[agent.role] < ROLE_RANK[minimum]:
            raise RoleForbidden(f"agent {agent.id!r} has role {agent.role.value}; this needs {minimum.value} or higher")
        return agent

    check.__name__ = f"require_{minimum.value}"
    return signature_once(check)


SupervisorAgent = Annotated[AgentIdentity, Depends(require_role(AgentRole.SUPERVISOR))]
AdminAgent = Annotated[AgentIdentity, Depends(require_role(AgentRole.ADMIN))]
