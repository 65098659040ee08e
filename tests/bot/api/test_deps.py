"""`bot.api.deps.signature_once`: a dependency's signature, resolved once, is the one FastAPI would
read for every route (the same parameters, annotations resolved); one that cannot be resolved
yet is left for FastAPI to read as before."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Annotated

import pytest
from fastapi import Depends

from bot.api.auth import current_agent, current_identity, require_role
from bot.api.deps import get_database, request_pepper, signature_once
from bot.storage.models import AgentRole

if TYPE_CHECKING:
    from bot.storage.db import Database

pytestmark = pytest.mark.unit


def _provider() -> int:
    return 1


def test_the_resolved_signature_is_what_fastapi_reads() -> None:
    def dependency(n: Annotated[int, Depends(_provider)], label: str = "x") -> list[int]:
        return [n]

    expected = inspect.signature(dependency, eval_str=True)
    assert "__signature__" not in dependency.__dict__
    resolved = signature_once(dependency)
    assert resolved is dependency
    assert inspect.signature(dependency, eval_str=True) == expected
    assert inspect.signature(dependency).parameters["label"].annotation is str  # no longer a string


def test_an_unresolvable_annotation_is_left_as_it_is() -> None:
    def dependency(db: Database) -> None:  # only known to type checkers
        return None

    signature_once(dependency)
    assert "__signature__" not in dependency.__dict__
    assert inspect.signature(dependency).parameters["db"].annotation == "Database"


@pytest.mark.parametrize("call", [get_database, request_pepper, current_identity, current_agent,
                                  require_role(AgentRole.SUPERVISOR)])  # fmt: skip
def test_the_shared_dependencies_carry_their_resolved_signature(call: object) -> None:
    assert "__signature__" in call.__dict__
    assert all(not isinstance(p.annotation, str) for p in inspect.signature(call).parameters.values())
