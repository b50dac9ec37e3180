"""Passage tasks for Celery. Thin: the work is in ``services`` and ``pictures``.

- ``fetch_pending_pictures`` (woken after the commit that recorded a passage with a picture,
  one wake-up per burst; ``pictures.wake``): the drain of due camera pictures, fetched from HCP
  one by one for at most ``PICTURES_BUDGET_SECONDS``, then handed over to another drain queued
  behind what else waits (the polling backfill, the access engine). A transient HCP error puts
  the picture back with backoff and stops the drain; a permanent one, or the last retry, gives
  it up (FAILED).
- ``fetch_picture(passage_id)``: what the previous version queued per passage; a task of it
  still in the broker only wakes the drain.
- ``sweep`` (beat, every ``PROPUSK_PASSAGE_SWEEP_SECONDS``): single-pass visits whose re-entry
  grace is over are checked out, overstays flagged, a drain woken if pictures are due (a lost
  wake-up, a retry that is due, a drain that died and whose lease ended).
- ``delete_expired_pictures`` (beat, every ten minutes): camera pictures past
  ``PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS`` deleted.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from hikcentral import HikCentralClient
from hikcentral.errors import CircuitOpenError, HikCentralError
from propusk.celery import TRANSIENT_DATABASE_ERRORS, PeriodicTask
from propusk.core.time import now as current_time
from propusk.integrations.hikcentral.breaker import breaker_wait
from propusk.passages import pictures, services
from propusk.passages.models import Passage, PictureState

logger = logging.getLogger(__name__)

# A drain's time before it hands over to what else waits in the queue (it makes one attempt
# at least), and how many pictures it takes at a time: a worker that dies leaves at most this
# many to the lease's end, and a drain that stops gives the untried ones back at once.
PICTURES_BUDGET_SECONDS = 5.0
PICTURE_BATCH = 10


def _attempt(job: pictures.PictureJob, client: HikCentralClient) -> str:
    """One attempt at a claimed picture: counted, fetched and stored, or recorded as failed.
    Returns the picture state; raises ``HikCentralError`` (transient) after recording it."""
    if not pictures.begin(job):
        state = Passage.objects.filter(pk=job.passage_id).values_list("picture_state", flat=True)
        return state.first() or ""
    if not job.pic_uri:
        pictures.give_up(job.passage_id, "no picture URI")
        return PictureState.FAILED
    try:
        data = client.with_priority("sync").event_picture(job.pic_uri)
    except CircuitOpenError as exc:
        wait = breaker_wait(exc, default=settings.PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS)
        pictures.not_sent(job, wait=wait)
        raise
    except HikCentralError as exc:
        if exc.retryable:
            pictures.retry_later(job, _describe(exc))
            raise
        pictures.give_up(job.passage_id, _describe(exc))
        return PictureState.FAILED
    return services.store_picture(job.passage_id, data).state


def _process_client() -> HikCentralClient:
    from propusk.access.reconciler import process_client

    return process_client()


def fetch_picture_now(passage_id: int, *, client: HikCentralClient | None = None) -> str:
    """One attempt at this passage's picture if it is due (as a drain makes it). Returns the
    picture state; raises a transient ``HikCentralError`` after scheduling the next try."""
    jobs = pictures.claim_due(limit=1, passage_id=passage_id)
    if not jobs:
        state = Passage.objects.filter(pk=passage_id).values_list("picture_state", flat=True)
        return state.first() or ""
    return _attempt(jobs[0], client or _process_client())


@shared_task(
    name="propusk.passages.tasks.fetch_pending_pictures",
    ignore_result=True,
    autoretry_for=TRANSIENT_DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def fetch_pending_pictures() -> dict[str, int]:
    """Drain the due pictures (see the module's doc): PICTURE_BATCH claimed at a time, one
    attempt each, for at most PICTURES_BUDGET_SECONDS; more due then: another drain is woken.
    HCP unreachable (or the circuit breaker open): the drain stops and the pictures it took
    but did not try are due again after the first backoff - the sweep wakes a drain then."""
    cache.delete(pictures.WAKE_KEY)
    counts: dict[str, int] = {}
    if not settings.HCP_BASE_URL:
        return counts
    client = _process_client()
    started = time.monotonic()
    tried = 0
    while True:
        if tried and time.monotonic() - started >= PICTURES_BUDGET_SECONDS:
            if pictures.any_due():
                pictures.wake()  # the rest is the next drain's, behind what else waits
            return counts
        jobs = pictures.claim_due(limit=PICTURE_BATCH)
        if not jobs:
            return counts
        left = list(jobs)
        try:
            while left:
                if time.monotonic() - started >= PICTURES_BUDGET_SECONDS and tried:
                    pictures.release(left, due=current_time())
                    left = []
                    pictures.wake()
                    return counts
                job = left.pop(0)
                tried += 1
                try:
                    state = _attempt(job, client)
                except HikCentralError:
                    counts["retry"] = counts.get("retry", 0) + 1
                    later = timedelta(seconds=pictures.backoff_seconds(1))
                    pictures.release(left, due=current_time() + later)
                    left = []
                    return counts
                counts[state] = counts.get(state, 0) + 1
        finally:
            if left:  # an unexpected error: the untried ones go to the next drain
                pictures.release(left, due=current_time())


@shared_task(name="propusk.passages.tasks.fetch_picture", ignore_result=True)
def fetch_picture(passage_id: int) -> None:
    """The previous version's task per picture (one may still wait in a broker): wakes the
    drain, which fetches the picture if it is due."""
    pictures.wake()


@shared_task(base=PeriodicTask, name="propusk.passages.tasks.sweep")
def sweep() -> dict[str, int]:
    """The periodic passage sweep (idempotent; overlapping runs are safe)."""
    now = current_time()
    checked_out = services.settle_due_exits(now=now)
    overstays = services.flag_overstays(now=now)
    woken = 0
    if settings.HCP_BASE_URL and pictures.any_due(now=now):
        pictures.wake()
        woken = 1
    return {"checked_out": checked_out, "overstays": overstays, "picture_drain_woken": woken}


@shared_task(base=PeriodicTask, name="propusk.passages.tasks.delete_expired_pictures")
def delete_expired_pictures() -> int:
    """Beat, every ten minutes: camera pictures older than
    PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS are deleted (services.delete_expired_pictures;
    idempotent)."""
    return services.delete_expired_pictures()


def _describe(exc: HikCentralError) -> str:
    return f"{type(exc).__name__}"
