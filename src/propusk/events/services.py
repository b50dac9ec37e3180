"""Storing HCP events in the inbox (``HcpEvent``): the one write path of the webhook and the
polling backfill alike, so that a passage pushed and polled is one row, processed once."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from hikcentral import ACCESS_EVENT_TYPES, DoorEvent
from propusk.access.reconciler import OUR_PERSON_CODE_PREFIX
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
    """Store each event not already in the inbox, all or none (one statement, or one
    transaction for a long batch), and wake a worker after commit.

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
    chunks = [rows[i : i + INSERT_CHUNK] for i in range(0, len(rows), INSERT_CHUNK)]
    if len(chunks) == 1:  # one statement: atomic by itself, no BEGIN/COMMIT round trips
        new = _insert_new(chunks[0])
    else:
        with transaction.atomic():
            new = [row for chunk in chunks for row in _insert_new(chunk)]
    pending = [pk for pk, state, _ in new if state == EventState.PENDING]
    if pending:
        # Events that may concern a visit wake a worker at once, always (wake's doc).
        urgent = any(priority == FIRST for _, state, priority in new if state == EventState.PENDING)
        # At once in autocommit; after the caller's commit inside a transaction.
        transaction.on_commit(lambda: wake(pending, urgent=urgent))
    return StoreResult(received=len(events), stored=len(new), pending=len(pending))


# Rows per INSERT statement (SQLite allows 32766 parameters a statement).
INSERT_CHUNK = 200
_INSERT_FIELDS = (
    "event_id",
    "event_type",
    "happened_at",
    "door_index_code",
    "door_name",
    "person_id",
    "person_code",
    "direction",
    "pic_uri",
    "source",
    "priority",
    "received_at",
    "state",
    "processed_at",
    "attempts",
    "last_error",
)


def _insert_new(rows: Sequence[HcpEvent]) -> list[tuple[int, str, int]]:
    """Insert the rows whose eventId is not stored yet; the (pk, state, priority) of those
    inserted.

    One statement, ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING``, which both
    supported databases (PostgreSQL, SQLite >= 3.35) understand: an eventId already stored
    (pushed or polled before, or by a concurrent request) is skipped by the unique index
    itself, and what was inserted comes back without another query. The ORM's bulk_create
    with ignore_conflicts returns no keys, and a look-up afterwards doubled the webhook's
    database time (docs/events.md, Benchmarks).
    """
    fields = _insert_fields()
    sql = _insert_sql(connection.vendor, len(rows))
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), str(state), int(priority)) for pk, state, priority in cursor.fetchall()]


@lru_cache(maxsize=1)
def _insert_fields() -> tuple[Field[Any, Any], ...]:
    meta = HcpEvent._meta
    return tuple(cast("Field[Any, Any]", meta.get_field(name)) for name in _INSERT_FIELDS)


@lru_cache(maxsize=16)
def _insert_sql(vendor: str, count: int) -> str:
    """The INSERT of ``count`` rows (built once per size: a push is mostly one event)."""
    ops = connection.ops
    fields = _insert_fields()
    columns = ", ".join(ops.quote_name(str(field.column)) for field in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {ops.quote_name(HcpEvent._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"VALUES {', '.join([one] * count)} "
        f"ON CONFLICT ({ops.quote_name('event_id')}) DO NOTHING "
        f"RETURNING {ops.quote_name('id')}, {ops.quote_name('state')}, "
        f"{ops.quote_name('priority')}"
    )


# HcpEvent.priority: 0 first (may concern a visit), 1 after.
FIRST, AFTER = 0, 1


def priority_of(event: DoorEvent) -> int:
    """Events naming one of our persons (their codes carry the access engine's prefix) or
    nobody (a face no device recognised: maybe a guest stuck at the turnstile) are processed
    before the traffic of people HCP knows from elsewhere (staff, students). Only the order
    changes: every event is processed."""
    code = event.person_code or ""
    if code.startswith(OUR_PERSON_CODE_PREFIX) or not (code or event.person_id):
        return FIRST
    return AFTER


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
        priority=priority_of(event),
        received_at=now,
        state=EventState.PENDING if acted_on else EventState.IGNORED,
        processed_at=None if acted_on else now,
    )


# A process that asked for a wake-up less than this long ago does not ask again for events of
# people HCP knows from elsewhere (wake's doc).
WAKE_COALESCE_SECONDS = 0.1
_last_wake = [0.0]  # monotonic time of this process's last ask (a race between threads is harmless)


def wake(event_pks: Iterable[int] = (), *, urgent: bool = True) -> None:
    """Ask a worker to process what is pending now (tasks.process_pending). At most one
    wake-up waits in the broker at a time: a drain that starts takes the mark away, so an
    event stored while it runs wakes the next one, and nothing is left waiting for the
    sweep. A broker that is down loses only the wake-up: the sweep
    (tasks.sweep_pending_events) finds the events in the database.

    Not ``urgent`` (only events of people who are not ours: staff, students - most of a
    turnstile's traffic): skipped if this process asked less than WAKE_COALESCE_SECONDS ago,
    which spares the cache a round trip on most pushes under load. The drain woken then, or
    the next push's wake-up, takes them; if a drain ended just before they were stored and
    no push follows, the sweep does (PROPUSK_EVENTS_SWEEP_SECONDS). Urgent events (ours, or
    a face nobody recognised) always ask."""
    from propusk.events.tasks import process_pending

    now = time.monotonic()
    if not urgent and now - _last_wake[0] < WAKE_COALESCE_SECONDS:
        return
    _last_wake[0] = now
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
