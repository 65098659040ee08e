"""Messages (besked) and callbacks (tilbagekald) left for the back office, with the expectation
text the citizen is given (wording in bot/resources/tasks_da.yml)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.engine.core import EngineCore, _outcome, _task_view
from bot.engine.endings import ending_data
from bot.engine.states import ContactEvent
from bot.errors import (
    IllegalTransition,
    InvalidCallbackSlot,
    InvalidTaskInput,
    NaiveDatetime,
    NotAssignedAgent,
)
from bot.privacy import redact
from bot.routing import calendar
from bot.stats.facts import Ending
from bot.storage import repository as repo
from bot.storage.models import EventKind, Outcome, Task, TaskKind, TaskStatus
from bot.storage.repository import TaskView

E = ContactEvent  # short name for the steps, as in bot.engine.states.TRANSITIONS


_PHONE_DIGITS = re.compile(r"\d")


class TasksMixin(EngineCore):
    """Messages and callbacks for the back office."""

    def leave_message(
        self,
        tenant_id: str,
        contact_id: str,
        phone: str,
        note: str,
        *,
        name: str | None = None,
        now: datetime | None = None,
    ) -> TaskView:
        """The citizen leaves a message (besked) for the back office."""
        return self._task(tenant_id, contact_id, TaskKind.MESSAGE, phone, note, name, None, now)

    def request_callback(
        self,
        tenant_id: str,
        contact_id: str,
        phone: str,
        note: str,
        *,
        preferred_at: datetime | None = None,
        slot: calendar.CallbackSlot | None = None,
        name: str | None = None,
        now: datetime | None = None,
    ) -> TaskView:
        """The citizen asks to be called back (tilbagekald), e.g. when the queue is long or closed.
        With a `slot` (one of `callback_slots`) the call is booked for that time: the task is due
        at the slot's end and the citizen is told the window. `InvalidCallbackSlot` when the slot
        has passed, is not wholly within opening hours, or is full."""
        if slot is not None:
            preferred_at = slot.start
        return self._task(tenant_id, contact_id, TaskKind.CALLBACK, phone, note, name, preferred_at, now, slot)

    def callback_slots(
        self,
        tenant_id: str,
        contact_id: str,
        now: datetime | None = None,
        *,
        count: int = 6,
        slot_minutes: int = 30,
        per_day: int | None = 3,
        capacity: int | None = None,
    ) -> tuple[calendar.CallbackSlot, ...]:
        """Times the citizen can book a callback in, from the opening hours of the contact's queue
        (Danish public holidays closed); with `capacity`, slots that many open callbacks already
        hold are left out. Offer them when the queue is closed or the wait long (`queue_status`)."""
        at = self._now(now)
        with self.db.read() as s:
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id)
            queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=c.queue_id or self._queue_for(None, c.topic, tenant_id))
            booked = repo.booked_callbacks(s, tenant_id=tenant_id, queue_id=queue.id, since=at)
            return calendar.callback_slots(self._schedule(queue), at, count=count, slot_minutes=slot_minutes,
                                           per_day=per_day, booked=booked, capacity=capacity)  # fmt: skip

    def request_follow_up_callback(
        self, tenant_id: str, agent_id: str, contact_id: str, phone: str, note: str, *, now: datetime | None = None
    ) -> TaskView:
        """The assigned agent's written answer can only reach the citizen by phone (a call that
        has ended): a callback task for the back office. The contact stays with the agent, who
        closes it with an outcome (tilbagekald_aftalt)."""
        return self._task(tenant_id, contact_id, TaskKind.CALLBACK, phone, note, None, None, now, agent_id=agent_id)

    def _task(
        self,
        tenant_id: str,
        contact_id: str,
        kind: TaskKind,
        phone: str,
        note: str,
        name: str | None,
        preferred_at: datetime | None,
        now: datetime | None,
        slot: calendar.CallbackSlot | None = None,
        *,
        agent_id: str | None = None,
    ) -> TaskView:
        at = self._now(now)
        phone, note = (phone or "").strip(), (note or "").strip()
        if len(_PHONE_DIGITS.findall(phone)) < 8:
            raise InvalidTaskInput(f"a {kind.value} needs a phone number with at least 8 digits, got {phone!r}")
        if not note:
            raise InvalidTaskInput(f"a {kind.value} needs a note saying what it is about")
        if preferred_at is not None and (preferred_at.tzinfo is None or preferred_at.utcoffset() is None):
            raise NaiveDatetime(f"preferred_at={preferred_at.isoformat()} has no time zone")
        with self.db.write() as s:
            if agent_id is None:
                c = repo.get_contact(s, tenant_id=tenant_id, contact_id=contact_id, lock=True)
                self._move(s, c, E.LEAVE_MESSAGE if kind is TaskKind.MESSAGE else E.REQUEST_CALLBACK, at)
            else:  # a follow-up of the agent's own contact: it stays where it is
                c = self._own(s, tenant_id, agent_id, contact_id)
                if c.assigned_agent_id != agent_id:
                    raise NotAssignedAgent(f"contact {contact_id!r} is not assigned to agent {agent_id!r}")
            queue_id = c.queue_id or self._queue_for(None, c.topic, tenant_id)
            queue = repo.get_queue(s, tenant_id=tenant_id, queue_id=queue_id)
            schedule = self._schedule(queue)
            if slot is not None:
                _check_slot(slot, at, schedule, queue.id)
                due = slot.end
                expectation = self.texts.callback_slot.format(phone=phone, slot=calendar.format_slot_da(slot, schedule.tz))
            else:
                start = max(at, preferred_at.astimezone(UTC)) if preferred_at is not None else at
                hours = self.texts.message_hours if kind is TaskKind.MESSAGE else self.texts.callback_hours
                due = calendar.add_business_hours(start, hours, schedule)
                template = self.texts.message if kind is TaskKind.MESSAGE else self.texts.callback
                expectation = template.format(phone=phone, deadline=calendar.format_deadline_da(due, schedule.tz))
            if slot is None and not calendar.is_open(at, schedule):
                opens = calendar.format_deadline_da(calendar.next_open(at, schedule), schedule.tz)
                expectation += self.texts.closed_suffix.format(opens=opens)
            # The note is shown to every agent of the queue and no one is assigned to a task, so the
            # personal-data rule never reveals it: only its redacted text is stored.
            task = Task(tenant_id=tenant_id, contact_id=c.id, kind=kind, queue_id=queue.id,
                        name=name or c.citizen_name, phone=phone, preferred_at=preferred_at, note=redact(note),
                        expectation=expectation, due_at=due.astimezone(UTC), status=TaskStatus.OPEN,
                        created_at=at)  # fmt: skip
            s.add(task)
            c.citizen_phone = c.citizen_phone or phone
            c.queue_id = queue.id
            s.flush()
            kind_event = EventKind.MESSAGE_LEFT if kind is TaskKind.MESSAGE else EventKind.CALLBACK_REQUESTED
            ending = Ending.MESSAGE_LEFT if kind is TaskKind.MESSAGE else Ending.CALLBACK_BOOKED
            waited = (at - c.enqueued_at).total_seconds() if c.enqueued_at is not None else None
            self._event(s, tenant_id, kind_event, at, c, task_id=task.id, queue_id=queue.id,
                        due_at=task.due_at.isoformat(), **({"slot_start": slot.start.isoformat()} if slot else {}),
                        **ending_data(ending, topic=c.topic, waited_seconds=waited))  # fmt: skip
            return TaskView.of(task)

    def complete_task(
        self, tenant_id: str, agent_id: str, task_id: int, outcome: Outcome | str, *, now: datetime | None = None
    ) -> TaskView:
        """An agent has handled the message/callback: the task is done and the contact closed."""
        at = self._now(now)
        code = _outcome(outcome)
        with self.db.write() as s:
            repo.get_agent(s, tenant_id=tenant_id, agent_id=agent_id)
            task = repo.get_task(s, tenant_id=tenant_id, task_id=task_id, lock=True)
            if task.status is not TaskStatus.OPEN:
                raise IllegalTransition(f"task {task.status.value}", E.COMPLETE_TASK, task.contact_id)
            c = repo.get_contact(s, tenant_id=tenant_id, contact_id=task.contact_id, lock=True)
            self._move(s, c, E.COMPLETE_TASK, at)
            task.status, task.done_at, task.done_by = TaskStatus.DONE, at, agent_id
            c.outcome, c.closed_at = code, at
            self._event(s, tenant_id, EventKind.TASK_DONE, at, c, agent_id=agent_id, task_id=task.id)
            self._event(s, tenant_id, EventKind.CLOSED, at, c, agent_id=agent_id, outcome=code.value,
                        queue_id=c.queue_id, topic=c.topic)  # fmt: skip
            return _task_view(task)

    def tasks(self, tenant_id: str, status: TaskStatus | None = TaskStatus.OPEN) -> list[TaskView]:
        with self.db.read() as s:
            repo.get_tenant(s, tenant_id=tenant_id)
            return [_task_view(t) for t in repo.tasks(s, tenant_id=tenant_id, status=status)]


def _check_slot(slot: calendar.CallbackSlot, now: datetime, schedule: calendar.OpeningHours, queue_id: str) -> None:
    """A booked slot must lie ahead and wholly within the queue's opening hours."""
    for name in ("start", "end"):
        value = getattr(slot, name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetime(f"callback slot {name}={value.isoformat()} has no time zone")
    length = (slot.end - slot.start).total_seconds() / 3600
    if slot.start < now or length <= 0 or not calendar.is_open(slot.start, schedule) or (
        calendar.add_business_hours(slot.start, length, schedule) != slot.end
    ):
        raise InvalidCallbackSlot(
            f"callback slot {slot.start.isoformat()}-{slot.end.isoformat()} is not bookable for queue {queue_id!r}:"
            " it has passed or is not within opening hours; offer the times from callback_slots"
        )
