"""The polling backfill: HCP's ``door/events`` read back from a persisted cursor into the
same inbox as the pushes, so that an event whose push was lost (the receiver or HCP was down,
HCP's push buffer overflowed) arrives late, never missing, and never twice.

Each run reads ``[read_until - overlap, now]``: the overlap re-reads events HCP recorded late
(a device reconnecting uploads its backlog), and the inbox's unique eventId makes re-reading
free. The client splits the range by 31 days and the doors by 10 and reads every page. The
cursor moves to the run's end only after the whole range was read; an HCP error leaves it,
and what was read before the error stays stored (it is deduplicated next time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hikcentral import ACCESS_EVENT_TYPES, DoorEvent, HikCentralClient, HikCentralError
from propusk.events.models import EventSource, PollCursor
from propusk.events.services import store_events

logger = logging.getLogger(__name__)

CURSOR_NAME = "door_events"
BATCH = 500


@dataclass
class PollResult:
    start: datetime
    end: datetime
    read: int = 0
    stored: int = 0
    complete: bool = False
    error: str = ""
    batches: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "read": self.read,
            "stored": self.stored,
            "complete": self.complete,
            "error": self.error,
        }


def poll_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The range the next run reads: from the cursor less the overlap (the first run: the
    last PROPUSK_HCP_EVENTS_BACKFILL_HOURS) to now."""
    end = now or timezone.now()
    cursor = PollCursor.objects.filter(name=CURSOR_NAME).first()
    if cursor is None:
        start = end - timedelta(hours=settings.PROPUSK_HCP_EVENTS_BACKFILL_HOURS)
    else:
        start = cursor.read_until - timedelta(minutes=settings.PROPUSK_HCP_EVENTS_OVERLAP_MINUTES)
    return min(start, end - timedelta(seconds=1)), end


def poll(client: HikCentralClient, *, now: datetime | None = None) -> PollResult:
    """One backfill run (see the module's doc). HCP errors are caught and reported in the
    result (and logged); the cursor stays where it was."""
    start, end = poll_window(now)
    result = PollResult(start=start, end=end)
    batch: list[DoorEvent] = []
    try:
        for event in client.search_door_events(start, end, event_types=ACCESS_EVENT_TYPES):
            batch.append(event)
            if len(batch) >= BATCH:
                _store(batch, result)
                batch = []
        _store(batch, result)
    except HikCentralError as exc:
        _store(batch, result)
        result.error = type(exc).__name__
        logger.warning(
            "HCP door events poll stopped after %d events (%s); the cursor stays, the next "
            "run reads again from %s",
            result.read,
            result.error,
            start.isoformat(),
        )
        _note_run(error=result.error)
        return result
    with transaction.atomic():
        cursor, created = PollCursor.objects.select_for_update().get_or_create(
            name=CURSOR_NAME, defaults={"read_until": end, "last_run_at": timezone.now()}
        )
        if not created:
            # Never backwards (a slower concurrent run finishing last).
            cursor.read_until = max(cursor.read_until, end)
            cursor.last_run_at = timezone.now()
            cursor.last_error = ""
            cursor.save(update_fields=["read_until", "last_run_at", "last_error", "updated_at"])
    result.complete = True
    if result.stored:
        logger.info(
            "HCP door events poll: %d read, %d new (missed by push)", result.read, result.stored
        )
    return result


def _store(batch: list[DoorEvent], result: PollResult) -> None:
    if not batch:
        return
    stored = store_events(batch, source=EventSource.POLL)
    result.read += stored.received
    result.stored += stored.stored
    result.batches.append(stored.received)


def _note_run(*, error: str) -> None:
    PollCursor.objects.filter(name=CURSOR_NAME).update(last_run_at=timezone.now(), last_error=error)
