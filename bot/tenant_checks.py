"""The start-up checks of knowledge/tenants.yaml that a schema alone cannot express, and the
wording of every complaint: each names the tenant, the key and the fix, e.g.

    tenant 'rodovre': queues.fallback 'xyz' is not a queue in knowledge/topics.yaml; use one of …

A typo in the file stops the server at start-up instead of sending a citizen to a queue nobody
staffs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from bot.tenants import Tenant, Tenants

if TYPE_CHECKING:
    from bot.topics import TopicContract

__all__ = ["check_tenants", "describe_validation"]


def describe_validation(exc: ValidationError, raw: Any) -> list[str]:
    """One line per schema error: the tenant (by id where the file gives one), the key path,
    what is wrong and, for an unknown key, the keys that exist there."""
    lines = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        who, path = _who(loc, raw)
        key = ".".join(str(p) for p in path) or "(top level)"
        given = e.get("input")
        if e.get("type") == "extra_forbidden":
            allowed = _fields_at(Tenant if who.startswith("tenant ") else Tenants, path[:-1])
            hint = f"; the keys here are {', '.join(allowed)}" if allowed else ""
            lines.append(f"{who}: unknown key {key!r}{hint} (docs/tenants.md)")
        elif e.get("type") == "missing":
            lines.append(f"{who}: {key} is required (docs/tenants.md)")
        else:
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            lines.append(f"{who}: {key}: {msg} (got {str(given)[:80]!r})")
    return lines


def _who(loc: tuple[Any, ...], raw: Any) -> tuple[str, tuple[Any, ...]]:
    if len(loc) >= 2 and loc[0] == "tenants" and isinstance(loc[1], int):
        ident: Any = None
        try:
            ident = raw["tenants"][loc[1]].get("id")
        except (TypeError, KeyError, IndexError, AttributeError):
            pass
        who = f"tenant {ident!r}" if isinstance(ident, str) else f"tenant number {loc[1] + 1}"
        return who, loc[2:]
    return "tenants file", loc


def _fields_at(model: type[BaseModel], path: Iterable[Any]) -> list[str]:
    """The keys a model takes at `path` (list indexes and mapping keys skipped)."""
    current: Any = model
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part)) if isinstance(part, str) else None
        if field is None:
            continue  # an index into a list or a key of a mapping
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def check_tenants(tenants: Tenants, contract: TopicContract | None = None) -> list[str]:
    """Every problem of the file as one line; empty when it is fine."""
    problems: list[str] = []
    ids = [t.id for t in tenants.tenants]
    problems += [f"tenant {i!r} is listed {n} times; give each municipality one id" for i, n in Counter(ids).items() if n > 1]
    if tenants.default_tenant not in ids:
        problems.append(f"default_tenant {tenants.default_tenant!r} is not listed; use one of {', '.join(ids)}")
    problems += _shared("phone number", {t.id: t.phone_numbers for t in tenants.tenants})
    problems += _shared("e-mail address", {t.id: tuple(t.addresses) for t in tenants.tenants})
    for t in tenants.tenants:
        problems += [f"tenant {t.id!r}: {p}" for p in _tenant_problems(t, contract)]
    return problems


def _shared(what: str, by_tenant: Mapping[str, Iterable[str]]) -> list[str]:
    owners: dict[str, list[str]] = {}
    for tid, values in by_tenant.items():
        for v in set(values):
            owners.setdefault(v, []).append(tid)
    return [f"{what} {v!r} is given by tenants {', '.join(map(repr, o))}; a {what} must lead to one municipality"
            for v, o in sorted(owners.items()) if len(o) > 1]  # fmt: skip


def _tenant_problems(t: Tenant, contract: TopicContract | None) -> list[str]:
    problems: list[str] = []
    for key, spec in [("schedule", t.schedule), *((f"queue_schedules.{q}", s) for q, s in t.queue_schedules.items())]:
        if spec is None:
            continue
        try:
            from bot.routing.calendar import schedule_from_mapping

            schedule_from_mapping(dict(spec))
        except Exception as exc:  # noqa: BLE001 - the calendar's own message says what is wrong
            problems.append(f"{key}: {exc}")
    mailbox_addresses = [m.address for m in t.mailboxes]
    problems += [f"mailboxes: {a!r} is listed twice; list each address once"
                 for a, n in Counter(mailbox_addresses).items() if n > 1]  # fmt: skip
    envs = [m.push_secret_env for m in t.mailboxes if m.push_secret_env]
    problems += [f"mailboxes: push_secret_env {e!r} is used by two addresses; give each address its own secret"
                 for e, n in Counter(envs).items() if n > 1]  # fmt: skip
    if contract is None:
        return problems
    known = [q.id for q in contract.queues]
    choices = ", ".join(known)

    def queue(key: str, queue_id: str | None, *, run_here: bool = True) -> None:
        if queue_id is None:
            return
        if queue_id not in contract.queue_by_id:
            problems.append(f"{key} {queue_id!r} is not a queue in knowledge/topics.yaml; use one of {choices}")
        elif run_here and not t.runs(queue_id):
            problems.append(f"{key} {queue_id!r} is not run by this tenant; add it to queues.run or choose one of "
                            f"{', '.join(t.queue_ids(known))}")  # fmt: skip

    qs = t.queues
    for q in qs.run or ():
        queue("queues.run:", q, run_here=False)
    if qs.run is not None:
        if not qs.run:
            problems.append("queues.run is empty; list the queues this municipality staffs, or leave the key out")
        missing = [q for q in known if q not in qs.run]
        if missing and qs.fallback is None:
            problems.append(f"queues.fallback is missing; topics of queues not run here ({', '.join(missing[:5])}"
                            f"{', …' if len(missing) > 5 else ''}) need a queue to go to, e.g. borgerservice_basis")
    queue("queues.fallback", qs.fallback)
    for q in qs.overrides:
        queue(f"queues.overrides.{q}:", q)
    for q in t.priorities:
        queue(f"priorities.{q}:", q, run_here=False)
    for q in t.queue_schedules:
        queue(f"queue_schedules.{q}:", q, run_here=False)
    for q in t.routing.overflow_after_seconds_by_queue:
        queue(f"routing.overflow_after_seconds_by_queue.{q}:", q)
    for q in t.email_promise.by_queue:
        queue(f"email_promise.by_queue.{q}:", q)
    for o in t.voice.menu:
        queue(f"voice.menu key {o.key}: queue", o.queue)
    return problems
