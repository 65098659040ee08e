"""Who answers for an article's facts: the owners file `knowledge/owners.yaml`.

Every article and local overlay names an owner id in its front matter (`owner: tmf`). The owners
file says who that is (a name, a functional e-mail address or none, national or one
municipality's unit), how often the owner's articles must be checked again by default, and when
the weekly reminder mail goes out. Format in `knowledge/README.md`.

    owners = load_owners(Path("knowledge/owners.yaml"))
    owners.interval("tmf")              # the owner's default review interval in days
    owners.reminders.for_tenant("rodovre").slot(now)   # this week's reminder instant

`load_owners` checks the whole file when the program starts; every complaint names the owner (or
"*" for the file's own settings) and the key.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import KontaktError
from bot.yaml_safe import safe_load

OWNER_ID = r"^[a-z][a-z0-9_]*$"
NATIONAL = "*"  # the tenant of a national owner, as in the articles' `tenant: "*"`
DEFAULT_INTERVAL_DAYS = 365
MAX_INTERVAL_DAYS = 3650


class OwnersError(KontaktError):
    """The owners file is malformed, or an article names an owner it does not list. The message
    names the file, the owner ("*" for a setting of the whole file) and the key."""

    def __init__(self, path: object, owner: str, key: str, problem: str) -> None:
        super().__init__(f"{path}: owner {owner!r}, key {key!r}: {problem}. See knowledge/README.md (owners).")
        self.path = path
        self.owner = owner
        self.key = key


class Weekday(enum.IntEnum):
    """Python's weekday numbers (Monday 0), named as in the owners file."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


class Owner(BaseModel):
    """One owner: a unit of a municipality, an administration for every municipality, or an
    outside authority whose rules an article retells."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=OWNER_ID)
    name: str = Field(min_length=1)
    tenant: str = NATIONAL  # "*" = national; else the tenant id whose unit this is
    email: str = ""  # a functional address named on the owner's own pages; empty = no reminder mail
    review_interval_days: int | None = Field(default=None, gt=0, le=MAX_INTERVAL_DAYS)

    @field_validator("email")
    @classmethod
    def _address(cls, v: str) -> str:
        v = v.strip()
        if v and (v.count("@") != 1 or any(c.isspace() for c in v) or "." not in v.split("@")[1]):
            raise ValueError(f"{v!r} is not an e-mail address (write it like borgerservice@kommune.dk, or leave it empty)")
        return v


class ReminderTime(BaseModel):
    """When the weekly reminder goes out: a weekday and a whole hour in a time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: Weekday = Weekday.MONDAY
    hour: int = Field(default=8, ge=0, le=23)
    timezone: str = "Europe/Copenhagen"

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday_name(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                return Weekday[v.strip().upper()]
            except KeyError:
                raise ValueError(f"{v!r} is not a weekday (monday … sunday)") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone name like Europe/Copenhagen") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def slot(self, now: dt.datetime) -> dt.datetime:
        """This week's reminder instant (the week of `now` in the time zone, Monday to Sunday),
        in UTC. It may lie after `now`."""
        local = now.astimezone(self.zone)
        monday = local.date() - dt.timedelta(days=local.weekday())
        day = monday + dt.timedelta(days=int(self.weekday))
        return dt.datetime.combine(day, dt.time(self.hour), self.zone).astimezone(dt.UTC)

    def week(self, now: dt.datetime) -> str:
        """The ISO week of `now` in the time zone, like "2027-W23": one reminder per owner each."""
        year, week, _ = now.astimezone(self.zone).isocalendar()
        return f"{year}-W{week:02d}"


class Reminders(ReminderTime):
    """The weekly reminder mail: when (the installation's weekday, hour and time zone, or a
    tenant's own under `tenants`) and how far ahead it warns of articles not due yet."""

    soon_days: int = Field(default=30, ge=0, le=365)  # "due soon": within this many days
    tenants: Mapping[str, ReminderTime] = {}

    def for_tenant(self, tenant_id: str) -> ReminderTime:
        """The tenant's own time, else the installation's (national owners get the latter)."""
        own = self.tenants.get(tenant_id)
        return own if own is not None else ReminderTime(weekday=self.weekday, hour=self.hour, timezone=self.timezone)


class Owners(BaseModel):
    """The whole owners file, validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_interval_days: int = Field(default=DEFAULT_INTERVAL_DAYS, gt=0, le=MAX_INTERVAL_DAYS)
    reminders: Reminders = Reminders()
    owners: Mapping[str, Owner] = {}

    def get(self, owner_id: str) -> Owner | None:
        return self.owners.get(owner_id)

    def interval(self, owner_id: str) -> int:
        """The owner's default review interval, else the installation's."""
        owner = self.owners.get(owner_id)
        if owner is None or owner.review_interval_days is None:
            return self.default_interval_days
        return owner.review_interval_days


def parse_owners(meta: object, where: object = "<owners>", known_tenants: set[str] | None = None) -> Owners:
    """The parsed YAML of an owners file to `Owners`; errors name the owner ("*": the whole file's
    settings) and the key."""
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise OwnersError(where, "*", "owners file", "must be a mapping with default_interval_days, reminders and owners")
    raw_owners = meta.get("owners") or {}
    if not isinstance(raw_owners, dict):
        raise OwnersError(where, "*", "owners", "must map owner ids to their name, tenant, email and interval")
    owners: dict[str, Owner] = {}
    for owner_id, body in raw_owners.items():
        key_id = str(owner_id)
        if not isinstance(body, dict):
            raise OwnersError(where, key_id, "owners", "must be a mapping with name, tenant, email, review_interval_days")
        try:
            owner = Owner.model_validate({**body, "id": key_id})
        except ValidationError as exc:
            raise OwnersError(where, key_id, _key(exc), _problem(exc)) from None
        if known_tenants is not None and owner.tenant != NATIONAL and owner.tenant not in known_tenants:
            raise OwnersError(where, key_id, "tenant", f"{owner.tenant!r} is not in knowledge/tenants.yaml "
                              f"(known: {sorted(known_tenants)}); write \"*\" for a national owner")  # fmt: skip
        owners[key_id] = owner
    rest: dict[str, Any] = {k: v for k, v in meta.items() if k != "owners"}
    try:
        parsed = Owners.model_validate({**rest, "owners": {}})
    except ValidationError as exc:  # a setting of the whole file, not of one owner: owner "*"
        raise OwnersError(where, "*", _key(exc), _problem(exc)) from None
    if known_tenants is not None:
        for tenant_id in parsed.reminders.tenants:
            if tenant_id not in known_tenants:
                raise OwnersError(where, "*", f"reminders.tenants.{tenant_id}", "is not in knowledge/tenants.yaml")
    return parsed.model_copy(update={"owners": owners})


def load_owners(path: Path, known_tenants: set[str] | None = None) -> Owners:
    """Read and check `knowledge/owners.yaml`. A missing file is an error: every article names
    an owner, so the file must list them."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OwnersError(path, "*", "owners file", f"cannot be read ({exc.strerror or exc})") from None
    try:
        meta = safe_load(text)
    except yaml.YAMLError as exc:
        raise OwnersError(path, "*", "owners file", f"is not valid YAML: {exc}") from None
    return parse_owners(meta, path, known_tenants)


def _key(exc: ValidationError) -> str:
    return ".".join(str(p) for p in exc.errors()[0]["loc"]) or "owners file"


def _problem(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
