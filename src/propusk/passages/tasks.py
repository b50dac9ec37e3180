"""Passage tasks for Celery. Thin: the work is in ``services``.

- ``fetch_picture(passage_id)``: the camera picture of one passage, fetched from HCP after the
  passage is recorded (so a picture never holds up a check-in), retried with backoff while HCP
  is unreachable, given up (FAILED) on a permanent error or after the last retry.
- ``sweep`` (beat, every ``PROPUSK_PASSAGE_SWEEP_SECONDS``): single-pass visits whose re-entry
  grace is over are checked out, overstays flagged, pictures whose fetch was lost queued again.
- ``delete_expired_pictures`` (beat, every ten minutes): camera pictures past
  ``PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS`` deleted.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings

from hikcentral import HikCentralClient
from hikcentral.errors import HikCentralError
from propusk.celery import PeriodicTask
from propusk.core.time import now as current_time
from propusk.passages import services
from propusk.passages.models import Passage, PictureState

logger = logging.getLogger(__name__)


def fetch_picture_now(passage_id: int, *, client: HikCentralClient | None = None) -> str:
    """One attempt: fetch and store the picture. Returns the picture state; raises a
    transient ``HikCentralError`` for the caller to retry."""
    pic_uri = services.claim_picture_attempt(passage_id)
    if pic_uri is None:
        state = Passage.objects.filter(pk=passage_id).values_list("picture_state", flat=True)
        return state.first() or ""
    if client is None:
        from propusk.access.reconciler import process_client

        client = process_client()
    try:
        data = client.with_priority("sync").event_picture(pic_uri)
    except HikCentralError as exc:
        if exc.retryable:
            services.note_picture_attempt(passage_id, _describe(exc), final=False)
            raise
        return services.note_picture_attempt(passage_id, _describe(exc), final=True).state
    return services.store_picture(passage_id, data).state


@shared_task(bind=True, name="propusk.passages.tasks.fetch_picture", ignore_result=True)
def fetch_picture(self: Any, passage_id: int) -> str:
    """Fetch one passage's picture; HCP unreachable: retried with exponential backoff up to
    ``PROPUSK_PASSAGE_PICTURE_RETRIES`` times, then given up."""
    if not settings.HCP_BASE_URL:
        return "no HikCentral configured"
    try:
        return fetch_picture_now(passage_id)
    except HikCentralError as exc:
        retries = self.request.retries
        if retries >= settings.PROPUSK_PASSAGE_PICTURE_RETRIES:
            return services.note_picture_attempt(passage_id, _describe(exc), final=True).state
        countdown = min(300, 5 * 2**retries)
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from None


@shared_task(base=PeriodicTask, name="propusk.passages.tasks.sweep")
def sweep() -> dict[str, int]:
    """The periodic passage sweep (idempotent; overlapping runs are safe)."""
    now = current_time()
    checked_out = services.settle_due_exits(now=now)
    overstays = services.flag_overstays(now=now)
    requeued = 0
    if settings.HCP_BASE_URL:
        lost = Passage.objects.filter(
            picture_state=PictureState.PENDING,
            created_at__lte=now - timedelta(minutes=10),
            created_at__gte=now - timedelta(days=1),
        ).values_list("pk", flat=True)[:200]
        for passage_id in lost:
            fetch_picture.delay(passage_id)
            requeued += 1
    return {"checked_out": checked_out, "overstays": overstays, "pictures_requeued": requeued}


@shared_task(base=PeriodicTask, name="propusk.passages.tasks.delete_expired_pictures")
def delete_expired_pictures() -> int:
    """Beat, every ten minutes: camera pictures older than
    PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS are deleted (services.delete_expired_pictures;
    idempotent)."""
    return services.delete_expired_pictures()


def _describe(exc: HikCentralError) -> str:
    return f"{type(exc).__name__}"
