"""Errors of capacity planning. Each says what was wrong with which input and what to do."""

from __future__ import annotations

from bot.errors import KontaktError


class CapacityError(KontaktError, ValueError):
    """Base class for invalid capacity-planning input."""


class InvalidServiceTarget(CapacityError):
    """A service goal that is not "share/seconds", e.g. "80/20"."""


class UnreachableTarget(CapacityError):
    """No number of agents up to the search limit meets the service goal."""


class InvalidScenario(CapacityError):
    """A simulation scenario that cannot run (no agents, unknown queue, bad rates)."""


class NoHistory(CapacityError):
    """The database holds no contacts for the weeks a forecast would average."""
