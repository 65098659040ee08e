"""Read-only history of queued contacts for forecasting and statistics.

The append-only event log is the source (see `EventKind`): a contact's time in one queue is a
*segment* that starts at a QUEUED event (first handoff, transfer into the queue) and ends at
the next CLOSED, TRANSFERRED, ABANDONED, MESSAGE_LEFT or CALLBACK_REQUESTED event of the same
contact. It was answered at its first OFFER_ACCEPTED; its handling time runs from there to a
CLOSED or TRANSFERRED end. After-contact work is not in the log (it is the routing policy's
`acw_seconds`), so callers add it.

Only SELECTs, every one filtered on `tenant_id`; nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import Channel, Contact, Event, EventKind, QueueRow, Tenant

# Segments ending this long after the period still count (a 17:55 call closed at 18:10,
# an e-mail answered the next morning).
DEFAULT_GRACE = timedelta(days=2)

_ENDS = frozenset(
    {
        EventKind.CLOSED,
        EventKind.TRANSFERRED,
        EventKind.ABANDONED,
        EventKind.MESSAGE_LEFT,
        EventKind.CALLBACK_REQUESTED,
    }
)
_HANDLED_ENDS = frozenset({EventKind.CLOSED, EventKind.TRANSFERRED})
_KINDS = _ENDS | {EventKind.QUEUED, EventKind.OFFER_ACCEPTED}


@dataclass(frozen=True, slots=True)
class QueuedSegment:
    """One contact's stay in one queue. Times are aware UTC."""

    contact_id: str
    queue_id: str
    channel: Channel
    queued_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end: EventKind | None = None  # None: still open (or ended after the grace period)

    @property
    def abandoned(self) -> bool:
        return self.end is EventKind.ABANDONED

    @property
    def wait_seconds(self) -> float | None:
        return None if self.answered_at is None else (self.answered_at - self.queued_at).total_seconds()

    @property
    def handle_seconds(self) -> float | None:
        """Time with an agent, from the answer to closing or transferring; None if not known."""
        if self.answered_at is None or self.ended_at is None or self.end not in _HANDLED_ENDS:
            return None
        return (self.ended_at - self.answered_at).total_seconds()


def queued_segments(
    session: Session,
    *,
    tenant_id: str,
    start: datetime,
    end: datetime,
    queue_id: str | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> list[QueuedSegment]:
    """Segments that entered a queue in [start, end), oldest first (ties by contact id)."""
    rows = session.execute(
        select(Event.contact_id, Event.kind, Event.at, Event.data, Contact.channel)
        .join(Contact, (Contact.id == Event.contact_id) & (Contact.tenant_id == Event.tenant_id))
        .where(
            Event.tenant_id == tenant_id,
            Event.kind.in_(_KINDS),
            Event.at >= start,
            Event.at < end + grace,
        )
        .order_by(Event.contact_id, Event.at, Event.id)
    ).all()
    by_contact: dict[str, list[tuple[EventKind, datetime, dict[str, object], Channel]]] = defaultdict(list)
    for contact_id, kind, at, data, channel in rows:
        by_contact[contact_id].append((kind, at, data or {}, channel))
    segments: list[QueuedSegment] = []
    for contact_id, events in by_contact.items():
        segments.extend(_segments_of(contact_id, events, start, end))
    if queue_id is not None:
        segments = [s for s in segments if s.queue_id == queue_id]
    segments.sort(key=lambda s: (s.queued_at, s.contact_id))
    return segments


def _segments_of(
    contact_id: str,
    events: list[tuple[EventKind, datetime, dict[str, object], Channel]],
    start: datetime,
    end: datetime,
) -> list[QueuedSegment]:
    found: list[QueuedSegment] = []
    current: QueuedSegment | None = None
    for kind, at, data, channel in events:
        if kind is EventKind.QUEUED:
            if current is not None:
                found.append(current)  # queued again without an end event: keep what we know
            queue = data.get("queue_id")
            current = QueuedSegment(contact_id, str(queue), channel, at) if queue else None
        elif current is None:
            continue
        elif kind is EventKind.OFFER_ACCEPTED and current.answered_at is None:
            current = replace(current, answered_at=at)
        elif kind in _ENDS:
            found.append(replace(current, ended_at=at, end=kind))
            current = None
    if current is not None:
        found.append(current)
    return [s for s in found if start <= s.queued_at < end]


def queue_handle_defaults(session: Session, *, tenant_id: str) -> dict[str, int]:
    """Each queue's configured average handling time in seconds (used where history is thin)."""
    rows = session.execute(
        select(QueueRow.id, QueueRow.avg_handle_seconds).where(QueueRow.tenant_id == tenant_id)
    ).all()
    return {queue_id: seconds for queue_id, seconds in rows}


def tenant_ids(session: Session) -> list[str]:
    """Every tenant id, sorted (to pick the only one when none is named)."""
    return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
