"""Agent administration: accounts, skills per queue, and the agent's own state (log in, pause, ACW)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from bot.engine.core import EngineCore, _check_level
from bot.errors import AgentExists
from bot.routing import skills
from bot.storage import repository as repo
from bot.storage.models import Agent, AgentRole, AgentSkill, AgentState, AgentStateRow, EventKind


class AgentsMixin(EngineCore):
    """Agent accounts, their skills per queue, and the agent's own state."""

    def add_agent(
        self,
        tenant_id: str,
        agent_id: str,
        name: str,
        *,
        role: AgentRole = AgentRole.AGENT,
        token_hash: str | None = None,
        skills: Mapping[str, int] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Create an agent (OFFLINE) with optional skills. The token is hashed by the caller."""
        at = self._now(now)
        for queue_id, level in (skills or {}).items():
            _check_level(agent_id, queue_id, level)
        with self.db.write() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            if s.get(Agent, agent_id) is not None:
                raise AgentExists(f"agent {agent_id!r} already exists; agent ids are unique across tenants")
            s.add(Agent(id=agent_id, tenant_id=tenant_id, name=name, role=AgentRole(role),
                        token_hash=token_hash, created_at=at))  # fmt: skip
            s.flush()
            s.add(AgentStateRow(agent_id=agent_id, tenant_id=tenant_id, state=AgentState.OFFLINE, since=at))
            self._event(s, tenant_id, EventKind.AGENT_ADDED, at, agent_id=agent_id, role=str(role))
            for queue_id, level in (skills or {}).items():
                self._put_skill(s, tenant_id, agent_id, queue_id, level, at)

    def set_skill(
        self, tenant_id: str, agent_id: str, queue_id: str, level: int, *, now: datetime | None = None
    ) -> None:
        """Set an agent's level 0..9 for a queue (0 = cannot take it)."""
        at = self._now(now)
        _check_level(agent_id, queue_id, level)
        with self.db.write() as s:
            repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
            self._put_skill(s, tenant_id, agent_id, queue_id, level, at)
            self._route_soon(s, tenant_id)  # a new skill may fit a waiting contact

    def _put_skill(self, s: Session, tenant_id: str, agent_id: str, queue_id: str, level: int, at: datetime) -> None:
        repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
        row = s.get(AgentSkill, (agent_id, queue_id))
        if row is None:
            s.add(AgentSkill(tenant_id=tenant_id, agent_id=agent_id, queue_id=queue_id, level=level))
        else:
            row.level = level
        self._event(s, tenant_id, EventKind.SKILL_SET, at, agent_id=agent_id, queue_id=queue_id, level=level)

    def set_agent_state(
        self, tenant_id: str, agent_id: str, state: AgentState | str, *, now: datetime | None = None
    ) -> None:
        """Log in/out, pause, or end after-contact work. AVAILABLE clears any ACW."""
        at = self._now(now)
        state = AgentState(state)
        with self.db.write() as s:
            row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id, lock=True)
            active = repo.active_counts(s, tenant_id=tenant_id, agent_ids=[agent_id])[agent_id]
            if state in (AgentState.AVAILABLE, AgentState.BUSY):
                row.acw_until = None
                state = AgentState.BUSY if any(active.values()) else AgentState.AVAILABLE
                if row.state not in skills.ROUTABLE_STATES and not any(active.values()):
                    row.idle_since = at
            self._set_agent(s, tenant_id, row, state, at, reason="agent")
            self._route_soon(s, tenant_id)  # a free agent gets the waiting contact at once

    def agent_state(self, tenant_id: str, agent_id: str) -> skills.AgentSnapshot:
        with self.db.read() as s:
            row = repo.get_agent_state(s, tenant_id=tenant_id, agent_id=agent_id)
            return self._agent_snapshot(s, tenant_id, row)
