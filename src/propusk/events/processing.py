"""Processing the inbox: one event at a time through the passage handler, claimed so that
two workers never act on one event at once, retried with backoff, FAILED after a bounded
number of attempts.

The claim is a conditional update (a lease: ``leased_until``) rather than a row lock held
through the batch: a transaction open that long would hold SQLite's single writer lock and
keep the webhook from storing pushes. The lease is short (``PROPUSK_EVENTS_LEASE_SECONDS``)
and renewed while the batch is at work: a worker that dies mid-way leaves its events for at
most that long; the sweep then takes them again, which is safe because the handler is
idempotent.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from propusk.audit.services import record
from propusk.events.models import EventState, HcpEvent

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    IGNORED = "ignored"
    RETRY = "retry"  # failed, another try is scheduled
    FAILED = "failed"  # failed for good
    SKIPPED = "skipped"  # not pending, not due, or another worker holds it


@dataclass(frozen=True)
class Processed:
    outcome: Outcome
    retry_in: float | None = None  # seconds, for RETRY


def lease_seconds() -> float:
    """A claim's lease, renewed at half-time while the batch is still at work (the handler
    only reads and writes the database: an event takes milliseconds)."""
    return float(settings.PROPUSK_EVENTS_LEASE_SECONDS)


def _renew_leases(events: list[HcpEvent]) -> None:
    """The batch's events (still pending: their outcomes are recorded together at its end)
    stay this worker's for another lease."""
    HcpEvent.objects.filter(pk__in=[event.pk for event in events], state=EventState.PENDING).update(
        leased_until=timezone.now() + timedelta(seconds=lease_seconds())
    )


def claim(event_pk: int) -> HcpEvent | None:
    """Take the event for this worker: pending, due and not held by another; else None."""
    now = timezone.now()
    taken = HcpEvent.objects.filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now),
        Q(leased_until__isnull=True) | Q(leased_until__lt=now),
        pk=event_pk,
        state=EventState.PENDING,
    ).update(leased_until=now + timedelta(seconds=lease_seconds()))
    if not taken:
        return None
    return HcpEvent.objects.get(pk=event_pk)


def claim_due(*, limit: int) -> list[HcpEvent]:
    """Take up to ``limit`` due pending events for this worker in one statement, by priority,
    then oldest passage first (as ``due_pending`` with no settling time): an UPDATE of the
    lease whose WHERE repeats the conditions, so a row another worker took in the meantime
    is not taken again (PostgreSQL re-checks them on the row it waited for; SQLite has one
    writer at a time), RETURNING the rows taken."""
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds())
    ops = connection.ops
    meta = HcpEvent._meta
    table = ops.quote_name(meta.db_table)
    columns = [str(field.column) for field in meta.concrete_fields]
    column = {name: ops.quote_name(name) for name in columns}
    due = (
        f"{column['state']} = %s"
        f" AND ({column['retry_at']} IS NULL OR {column['retry_at']} <= %s)"
        f" AND ({column['leased_until']} IS NULL OR {column['leased_until']} < %s)"
    )
    sql = (
        f"UPDATE {table} SET {column['leased_until']} = %s "  # noqa: S608 - names from the model
        f"WHERE {column['id']} IN (SELECT {column['id']} FROM {table} WHERE {due} "
        f"ORDER BY {column['priority']}, {column['happened_at']}, {column['id']} LIMIT %s) "
        f"AND {due} RETURNING {', '.join(column[name] for name in columns)}"
    )
    stamp = [EventState.PENDING.value, now, now]
    params = [lease, *stamp, int(limit), *stamp]
    taken = list(HcpEvent.objects.raw(sql, params))
    taken.sort(key=lambda event: (event.priority, event.happened_at, event.pk))
    return taken


def process_batch(events: list[HcpEvent]) -> dict[int, Processed]:
    """Run the handler on events taken by ``claim_due`` and record what came of each: what
    the handler first looks up is asked once for the batch (handler.look_up), and the
    outcomes are recorded in one update per outcome rather than one per event."""
    from propusk.passages.handler import handle_event, look_up

    if not events:
        return {}
    looked_up = look_up(events)
    handler: Callable[..., object] = handle_event
    finished: dict[EventState, list[int]] = {EventState.DONE: [], EventState.IGNORED: []}
    results: dict[int, Processed] = {}
    renew_at = time.monotonic() + lease_seconds() / 2
    for event in events:
        if time.monotonic() >= renew_at:  # a slow batch (the database busy): keep them all
            _renew_leases(events)  # (outcomes are recorded at the batch's end)
            renew_at = time.monotonic() + lease_seconds() / 2
        try:
            result = handler(event, looked_up)
            state = EventState(str(result)) if result is not None else EventState.DONE
            if state not in (EventState.DONE, EventState.IGNORED):
                raise ValueError("the handler answered neither DONE nor IGNORED")
        except Exception as exc:
            results[event.pk] = _failed(event, exc)
            continue
        finished[state].append(event.pk)
        results[event.pk] = Processed(Outcome.DONE if state == EventState.DONE else Outcome.IGNORED)
    now = timezone.now()
    for state, pks in finished.items():
        if pks:
            HcpEvent.objects.filter(pk__in=pks, state=EventState.PENDING).update(
                state=state, processed_at=now, leased_until=None, retry_at=None, last_error=""
            )
    return results


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: up to MIN * 2^(attempts-1), capped at MAX, so
    that events failing together (HCP down) do not all come back at once."""
    low = float(settings.PROPUSK_EVENTS_RETRY_MIN_SECONDS)
    high = float(settings.PROPUSK_EVENTS_RETRY_MAX_SECONDS)
    ceiling = min(high, low * 2.0 ** max(0, attempts - 1))
    return random.uniform(low, max(low, ceiling))  # noqa: S311 - jitter, not a secret


def process(event_pk: int) -> Processed:
    """Claim the event, run the handler, record what came of it (see the module's doc)."""
    from propusk.passages.handler import handle_event

    event = claim(event_pk)
    if event is None:
        return Processed(Outcome.SKIPPED)
    # The handler answers EventState.DONE or IGNORED (None is taken as DONE).
    handler: Callable[[HcpEvent], object] = handle_event
    try:
        result = handler(event)
        state = EventState(str(result)) if result is not None else EventState.DONE
        if state not in (EventState.DONE, EventState.IGNORED):
            raise ValueError("the handler answered neither DONE nor IGNORED")
    except Exception as exc:
        return _failed(event, exc)
    HcpEvent.objects.filter(pk=event.pk, state=EventState.PENDING).update(
        state=state,
        processed_at=timezone.now(),
        leased_until=None,
        retry_at=None,
        last_error="",
    )
    return Processed(Outcome.DONE if state == EventState.DONE else Outcome.IGNORED)


def error_text(exc: BaseException) -> str:
    """What is kept of an error: its class only. Its message could quote a name or a number
    from the event or the visit (personal data)."""
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _failed(event: HcpEvent, exc: Exception) -> Processed:
    attempts = event.attempts + 1
    error = error_text(exc)[:500]
    limit = int(settings.PROPUSK_EVENTS_MAX_ATTEMPTS)
    now = timezone.now()
    if attempts >= limit:
        with transaction.atomic():
            HcpEvent.objects.filter(pk=event.pk, state=EventState.PENDING).update(
                state=EventState.FAILED,
                attempts=attempts,
                last_error=error,
                processed_at=now,
                leased_until=None,
                retry_at=None,
            )
            record(
                actor=None,
                action="events.failed",
                target=event,
                changes={"event_type": event.event_type, "attempts": attempts, "error": error},
            )
        # Where it failed helps whoever looks: the stack's frames, not the error's message
        # (which could quote personal data).
        logger.error(
            "HCP event %s failed for good after %d attempts (%s); where:\n%s",
            event.pk,
            attempts,
            error,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return Processed(Outcome.FAILED)
    delay = backoff_seconds(attempts)
    HcpEvent.objects.filter(pk=event.pk, state=EventState.PENDING).update(
        attempts=attempts,
        last_error=error,
        retry_at=now + timedelta(seconds=delay),
        leased_until=None,
    )
    logger.warning(
        "HCP event %s: attempt %d of %d failed (%s); next try in %.0f s",
        event.pk,
        attempts,
        limit,
        error,
        delay,
    )
    return Processed(Outcome.RETRY, retry_in=delay)


def due_pending(*, limit: int, settle_seconds: float = 5.0) -> list[int]:
    """Pending events a worker should take now, by priority (services.priority_of), then
    oldest passage first: due for a retry, or
    stored more than ``settle_seconds`` ago and still waiting (their wake-up was lost or the
    worker died), not held by a live lease."""
    now = timezone.now()
    return list(
        HcpEvent.objects.filter(
            Q(retry_at__isnull=True, received_at__lte=now - timedelta(seconds=settle_seconds))
            | Q(retry_at__lte=now),
            Q(leased_until__isnull=True) | Q(leased_until__lt=now),
            state=EventState.PENDING,
        )
        .order_by("priority", "happened_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def process_again(event: HcpEvent, *, actor: object, reason: str = "") -> bool:
    """Put a FAILED event back in the queue with its attempts reset (audited); True if it was
    failed. The caller wakes a worker after commit (services.wake)."""
    with transaction.atomic():
        changed = HcpEvent.objects.filter(pk=event.pk, state=EventState.FAILED).update(
            state=EventState.PENDING,
            attempts=0,
            retry_at=None,
            leased_until=None,
            processed_at=None,
        )
        if changed:
            record(
                actor=actor,  # type: ignore[arg-type]
                action="events.process_again",
                target=event,
                changes={"previous_error": event.last_error, "reason": reason},
            )
    return bool(changed)
