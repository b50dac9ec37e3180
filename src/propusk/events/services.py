"""Storing HCP events in the inbox (``HcpEvent``): the one write path of the webhook and the
polling backfill alike, so that a passage pushed and polled is one row, processed once."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from hikcentral import ACCESS_EVENT_TYPES, DoorEvent
from propusk.events.models import Direction, EventSource, EventState, HcpEvent

logger = logging.getLogger(__name__)

# Set while a wake-up of the processing waits in the broker (services.wake); it expires in
# case that message is lost (the sweep then takes the events).
WAKE_KEY = "propusk:events:wake-queued"
WAKE_MARK_SECONDS = 60

# Field limits of HcpEvent: HCP's values are far shorter; a longer one is cut, not refused
# (the event still counts), except the id, which must be whole to deduplicate.
_MAX_EVENT_ID = HcpEvent._meta.get_field("event_id").max_length or 128


@dataclass(frozen=True)
class StoreResult:
    received: int  # events in the batch
    stored: int  # new rows (the rest were already in the inbox, or repeated in the batch)
    pending: int  # new rows waiting to be processed (the rest: event types kept for audit)

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


class EventTooLong(ValueError):
    """An eventId longer than the inbox keeps (it could not be deduplicated)."""


def store_events(events: Sequence[DoorEvent], *, source: EventSource) -> StoreResult:
    """Store each event not already in the inbox, in one transaction, and wake a worker for
    each new one after commit.

    Only what acting on an event needs is kept: no person name, no card number. Event types
    the handler does not act on (not access-control passages) are kept for audit as IGNORED.
    A row already stored (the same eventId pushed again, or polled after the push) is left
    as it is.
    """
    for event in events:
        if len(event.event_id) > _MAX_EVENT_ID:
            raise EventTooLong(f"an eventId is longer than {_MAX_EVENT_ID} characters")
    unique: dict[str, DoorEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    if not unique:
        return StoreResult(received=len(events), stored=0, pending=0)
    now = timezone.now()
    rows = [_row(event, source=source, now=now) for event in unique.values()]
    with transaction.atomic():
        # An eventId already stored (pushed before, polled before, or by a concurrent
        # request) loses quietly to the unique index; the rows this call inserted are those
        # carrying its receipt time and source. Both callers may wake a worker for an event
        # stored concurrently: the claim lets one act.
        HcpEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        new = list(
            HcpEvent.objects.filter(
                event_id__in=list(unique), received_at=now, source=source
            ).values_list("pk", "state")
        )
        pending = [pk for pk, state in new if state == EventState.PENDING]
        if pending:
            transaction.on_commit(lambda: wake(pending))
    return StoreResult(received=len(events), stored=len(new), pending=len(pending))


def _row(event: DoorEvent, *, source: EventSource, now: datetime) -> HcpEvent:
    acted_on = event.event_type in ACCESS_EVENT_TYPES
    direction = event.direction if event.direction in Direction.values else Direction.UNKNOWN
    return HcpEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        happened_at=event.event_time,
        door_index_code=(event.door_index_code or "")[:64],
        door_name=(event.door_name or "")[:200],
        person_id=(event.person_id or "")[:64],
        person_code=(event.person_code or "")[:64],
        direction=direction,
        pic_uri=(event.pic_uri or "")[:500],
        source=source,
        received_at=now,
        state=EventState.PENDING if acted_on else EventState.IGNORED,
        processed_at=None if acted_on else now,
    )


def wake(event_pks: Iterable[int] = ()) -> None:
    """Ask a worker to process what is pending now (tasks.process_pending). At most one
    wake-up waits in the broker at a time: a drain that starts takes the mark away, so an
    event stored while it runs wakes the next one, and nothing is left waiting for the
    sweep. A broker that is down loses only the wake-up: the sweep
    (tasks.sweep_pending_events) finds the events in the database."""
    from propusk.events.tasks import process_pending

    if not cache.add(WAKE_KEY, True, timeout=WAKE_MARK_SECONDS):
        return
    try:
        process_pending.delay()
    except Exception as exc:
        cache.delete(WAKE_KEY)
        logger.warning(
            "could not queue the processing of HCP events (%s); the sweep will process them",
            type(exc).__name__,
        )
