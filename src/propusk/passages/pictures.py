"""The fetch schedule of passage pictures: which pending pictures are due, claimed by a drain
(``tasks.fetch_pending_pictures``) with a lease, one attempt each, backoff on a transient HCP
error, given up (FAILED) on a permanent one or after ``PROPUSK_PASSAGE_PICTURE_RETRIES``
retries.

``Passage.picture_due_at`` holds the schedule: while the picture is pending, when its next
attempt may run; while a drain holds it, the end of the drain's lease (a drain that died
leaves it to be taken again then, by the sweep's wake-up). The claim is a conditional update
of that column, as the inbox's (``events.processing.claim_due``), so two drains never fetch
one picture at once and no transaction stays open through the HCP call (SQLite's single
writer lock would keep the webhook from storing pushes).

One drain per burst rather than one task per picture: a burst of passages (a receiver back
after an outage) queued hundreds of fetch tasks in the broker ahead of the polling backfill.
A drain works ``tasks.PICTURES_BUDGET_SECONDS`` at most, then hands over to another queued
behind whatever else waits.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from propusk.core.time import now as current_time
from propusk.events.models import HcpEvent
from propusk.passages.models import Passage, PictureState

logger = logging.getLogger(__name__)

# Set while a wake-up of the drain waits in the broker (wake); it expires in case that
# message is lost (the sweep then wakes one).
WAKE_KEY = "propusk:passages:pictures-wake-queued"
WAKE_MARK_SECONDS = 60


@dataclass(frozen=True)
class PictureJob:
    """A pending picture taken by a drain: its passage, the event's picture URI, the
    attempts made before this one and the drain's lease (what ``picture_due_at`` holds while
    it is this drain's)."""

    passage_id: int
    pic_uri: str
    attempts: int
    lease: datetime


def lease_seconds() -> float:
    """Longer than a drain may run (Celery kills a task at CELERY_TASK_TIME_LIMIT)."""
    return float(getattr(settings, "CELERY_TASK_TIME_LIMIT", 600)) + 60.0


def backoff_seconds(attempts: int) -> float:
    """The wait after ``attempts`` failed attempts: PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS
    doubling to _MAX_SECONDS, with jitter (the upper half of that), so that pictures that
    failed together (HCP down) do not all come back at once."""
    low = float(settings.PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS)
    high = float(settings.PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS)
    ceiling = max(low, min(high, low * 2.0 ** max(0, attempts - 1)))
    return random.uniform(max(low, ceiling / 2.0), ceiling)  # noqa: S311 - jitter, not a secret


def _db(value: datetime) -> Any:
    """A datetime as the database compares it (the ORM's own adaptation, so a lease written
    here is found again by an ORM filter on SQLite too)."""
    return connection.ops.adapt_datetimefield_value(value)


def claim_due(*, limit: int, passage_id: int | None = None) -> list[PictureJob]:
    """Take up to ``limit`` due pending pictures (``passage_id``: only that one), earliest due
    first, in one statement: an UPDATE setting the lease whose WHERE repeats the conditions,
    so a row another drain took meanwhile is not taken again (PostgreSQL re-checks them on
    the row it waited for; SQLite has one writer at a time), RETURNING the rows taken."""
    now = current_time()
    lease = now + timedelta(seconds=lease_seconds())
    ops = connection.ops
    meta = Passage._meta
    table = ops.quote_name(meta.db_table)
    names = ("id", "event", "picture_state", "picture_due_at", "picture_attempts")
    column = {name: ops.quote_name(str(meta.get_field(name).column)) for name in names}  # type: ignore[union-attr]
    due = (
        f"{column['picture_state']} = %s"
        f" AND {column['picture_due_at']} IS NOT NULL AND {column['picture_due_at']} <= %s"
    )
    stamp: list[Any] = [PictureState.PENDING.value, _db(now)]
    if passage_id is not None:
        due += f" AND {column['id']} = %s"
        stamp.append(int(passage_id))
    sql = (
        f"UPDATE {table} SET {column['picture_due_at']} = %s "  # noqa: S608 - names from the model
        f"WHERE {column['id']} IN (SELECT {column['id']} FROM {table} WHERE {due} "
        f"ORDER BY {column['picture_due_at']}, {column['id']} LIMIT %s) "
        f"AND {due} RETURNING {column['id']}, {column['event']}, {column['picture_attempts']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_db(lease), *stamp, int(limit), *stamp])
        taken = [(int(pk), int(event), int(attempts)) for pk, event, attempts in cursor.fetchall()]
    if not taken:
        return []
    uris = dict(
        HcpEvent.objects.filter(pk__in=[event for _, event, _ in taken]).values_list(
            "pk", "pic_uri"
        )
    )
    jobs = [
        PictureJob(passage_id=pk, pic_uri=uris.get(event, ""), attempts=attempts, lease=lease)
        for pk, event, attempts in taken
    ]
    jobs.sort(key=lambda job: job.passage_id)
    return jobs


def begin(job: PictureJob) -> bool:
    """Count the attempt the drain is about to make; False if the picture is no longer this
    drain's to fetch (the visitor's pictures were deleted meanwhile, or its retention ended):
    it is then not fetched at all."""
    return bool(
        Passage.objects.filter(
            pk=job.passage_id, picture_state=PictureState.PENDING, picture_due_at=job.lease
        ).update(picture_attempts=job.attempts + 1)
    )


def retry_later(job: PictureJob, error: str) -> tuple[str, float | None]:
    """A transient failure of the attempt begun on ``job``: due again after the backoff, or
    FAILED (reason kept) after the last retry. The state, and the wait if any."""
    attempts = job.attempts + 1
    if attempts > int(settings.PROPUSK_PASSAGE_PICTURE_RETRIES):
        give_up(job.passage_id, error)
        return PictureState.FAILED, None
    delay = backoff_seconds(attempts)
    Passage.objects.filter(
        pk=job.passage_id, picture_state=PictureState.PENDING, picture_due_at=job.lease
    ).update(
        picture_due_at=current_time() + timedelta(seconds=delay),
        picture_error=error[:300],
    )
    return PictureState.PENDING, delay


def not_sent(job: PictureJob, *, wait: float) -> None:
    """The attempt begun on ``job`` was never sent: the circuit breaker refused it (HCP is
    considered down). It does not count - an outage longer than the retries' backoff must
    not make pictures FAILED - and the picture is due again when the breaker lets a call
    through."""
    Passage.objects.filter(
        pk=job.passage_id, picture_state=PictureState.PENDING, picture_due_at=job.lease
    ).update(
        picture_attempts=job.attempts,
        picture_due_at=current_time() + timedelta(seconds=max(wait, 0.0)),
    )


def give_up(passage_id: int, error: str) -> None:
    """The picture will not be fetched (a permanent error, or the retries are over)."""
    Passage.objects.filter(pk=passage_id, picture_state=PictureState.PENDING).update(
        picture_state=PictureState.FAILED, picture_error=error[:300], picture_due_at=None
    )
    logger.warning("passage %s: picture not kept (%s)", passage_id, error)


def release(jobs: Sequence[PictureJob], *, due: datetime) -> int:
    """Hand pictures a drain took but did not try back to the schedule, due at ``due`` (its
    time was up: now, for the next drain; HCP unreachable: later). No attempt is counted."""
    if not jobs:
        return 0
    released = 0
    for lease in {job.lease for job in jobs}:
        released += Passage.objects.filter(
            pk__in=[job.passage_id for job in jobs if job.lease == lease],
            picture_state=PictureState.PENDING,
            picture_due_at=lease,
        ).update(picture_due_at=due)
    return released


def any_due(*, now: datetime | None = None) -> bool:
    """Whether a pending picture is due and not held by a drain (a lost wake-up, a retry
    that is due, a drain that died and whose lease ended)."""
    moment = now or current_time()
    return Passage.objects.filter(
        picture_state=PictureState.PENDING, picture_due_at__lte=moment
    ).exists()


def wake() -> None:
    """Ask a worker to drain the due pictures (tasks.fetch_pending_pictures). At most one
    wake-up waits in the broker at a time (a cache mark): a burst of 500 passages queues one
    drain, not 500 tasks; a drain that starts takes the mark away, so a passage recorded
    while it runs wakes the next one. A broker that is down loses only the wake-up: the
    sweep (tasks.sweep) wakes a drain when due pictures wait."""
    from propusk.passages.tasks import fetch_pending_pictures

    if not cache.add(WAKE_KEY, True, timeout=WAKE_MARK_SECONDS):
        return
    try:
        fetch_pending_pictures.delay()
    except Exception as exc:
        cache.delete(WAKE_KEY)
        logger.warning(
            "could not queue the passage picture fetch (%s); the sweep will",
            type(exc).__name__,
        )
