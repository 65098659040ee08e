"""Errors of capacity planning, defined with every other error in `bot/errors.py` (so the HTTP
edge maps them from one table) and named here for the planning modules."""

from __future__ import annotations

from bot.errors import CapacityError, InvalidScenario, InvalidServiceTarget, NoHistory, UnreachableTarget

__all__ = ["CapacityError", "InvalidScenario", "InvalidServiceTarget", "NoHistory", "UnreachableTarget"]
