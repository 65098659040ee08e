"""The KPI configuration: thresholds per tenant, queue and channel, the service-level target and
the wallboard's alarm limits, read from YAML (knowledge/kpi.yaml; `Settings.kpi_file`).

The file is checked as a whole when read; a bad value is refused with `KpiConfigError` naming
the tenant and the key. `KpiConfigFile` re-reads the file when it changes on disk, so a
supervisor's new threshold counts from the next report without a restart.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.routing.skills import Channel
from bot.stats.errors import KpiConfigError
from bot.stats.kpi import KpiPolicy, QueueRule, Thresholds
from bot.yaml_safe import safe_load

__all__ = ["KpiConfig", "KpiConfigFile", "TenantKpi", "ThresholdsIn", "WallboardLimits", "load_kpi_config"]


class ThresholdsIn(BaseModel):
    """One set of thresholds as written in the file (defaults: `bot.stats.kpi.Thresholds`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_level_seconds: float = Field(default=20.0, ge=0)
    short_abandon_seconds: float = Field(default=5.0, ge=0)
    abandons_in_service_level: bool = True
    short_abandons_counted: bool = False
    flow_outs_in_service_level: bool = False
    fcr_window_days: float = Field(default=3.0, ge=0)

    def thresholds(self) -> Thresholds:
        return Thresholds(**self.model_dump())


class RuleIn(ThresholdsIn):
    """Thresholds for a queue, a channel, or a queue on one channel (leave one out for any)."""

    queue: str | None = None
    channel: Channel | None = None


class WallboardLimits(BaseModel):
    """A wallboard tile turns red past these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    longest_wait_seconds: float = Field(default=120.0, ge=0)
    waiting: int = Field(default=10, ge=0)
    service_level_below: float = Field(default=0.60, ge=0, le=1)


class TenantKpi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service_level_target: float = Field(default=0.80, gt=0, le=1)
    thresholds: ThresholdsIn = ThresholdsIn()
    rules: tuple[RuleIn, ...] = ()
    wallboard: WallboardLimits = WallboardLimits()

    def policy(self) -> KpiPolicy:
        rules = tuple(
            QueueRule(ThresholdsIn(**r.model_dump(exclude={"queue", "channel"})).thresholds(), r.queue, r.channel)
            for r in self.rules
        )
        return KpiPolicy(default=self.thresholds.thresholds(), rules=rules)

    def widest_fcr_window_days(self) -> float:
        """The longest repeat window of any rule: how far past a period repeats are looked for."""
        return max([self.thresholds.fcr_window_days, *(r.fcr_window_days for r in self.rules)])


class KpiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: TenantKpi = TenantKpi()
    tenants: dict[str, TenantKpi] = Field(default_factory=dict)

    def for_tenant(self, tenant_id: str) -> TenantKpi:
        return self.tenants.get(tenant_id, self.default)


def load_kpi_config(path: Path) -> KpiConfig:
    """The configuration in `path`; a missing file means every default (docs/kpi.md)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return KpiConfig()
    except OSError as exc:
        raise KpiConfigError(f"cannot read the KPI configuration {path}: {exc}") from None
    try:
        raw: Any = safe_load(text) or {}
        return KpiConfig.model_validate(raw)
    except yaml.YAMLError as exc:
        raise KpiConfigError(f"{path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise KpiConfigError(f"{path}: {problems}. See docs/kpi.md for the keys.") from None


class KpiConfigFile:
    """The configuration of one file, read again when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._config = KpiConfig()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> KpiConfig:
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp or stamp is None:
                self._config = load_kpi_config(self.path) if stamp is not None else KpiConfig()
                self._stamp = stamp
            return self._config
