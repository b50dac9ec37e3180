"""Event intake tasks for Celery. Thin: they take ids and read the state from the database
(events.processing, events.polling), so a repeated or lost task changes nothing."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from propusk.celery import TRANSIENT_DATABASE_ERRORS, PeriodicTask
from propusk.events import processing
from propusk.events.services import WAKE_KEY, wake

# A drain's time before it hands over to what else waits in the queue, and how many pending
# events it takes at a time (one statement; their first look-ups and outcomes are batched
# too). Small enough that an event of one of our visitors stored meanwhile waits behind at
# most this many others; a worker that dies leaves at most this many to the lease's expiry.
PROCESS_PENDING_BUDGET_SECONDS = 5.0
DRAIN_BATCH = 20


@shared_task(
    name="propusk.events.tasks.process_event",
    ignore_result=True,
    autoretry_for=TRANSIENT_DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def process_event(event_pk: int) -> dict[str, Any]:
    """Process one stored event (woken after the commit that stored it). A handler failure
    schedules the next try itself (``retry_at``, and a delayed wake-up); the sweep takes any
    whose wake-up is lost."""
    processed = processing.process(event_pk)
    if processed.retry_in is not None:
        _wake_later(event_pk, processed.retry_in)
    return asdict(processed)


@shared_task(
    name="propusk.events.tasks.process_pending",
    ignore_result=True,
    autoretry_for=TRANSIENT_DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def process_pending() -> dict[str, int]:
    """Drain the inbox (woken after the commit that stored events; services.wake): pending
    events, oldest passage first, DRAIN_BATCH claimed at a time, for at most
    ``PROCESS_PENDING_BUDGET_SECONDS``; then, if more wait, wake another drain, which queues
    behind whatever else waits (the polling backfill, the access engine) instead of
    holding the worker. One task per burst rather than per event: the broker round trip
    and the task's own overhead cost more than an event that is not ours."""
    cache.delete(WAKE_KEY)
    started = time.monotonic()
    counts: dict[str, int] = {}
    while time.monotonic() - started < PROCESS_PENDING_BUDGET_SECONDS:
        taken = processing.claim_due(limit=DRAIN_BATCH)
        if not taken:
            return counts
        for pk, processed in processing.process_batch(taken).items():
            counts[processed.outcome] = counts.get(processed.outcome, 0) + 1
            if processed.retry_in is not None:
                _wake_later(pk, processed.retry_in)
    wake()
    return counts


@shared_task(base=PeriodicTask, name="propusk.events.tasks.sweep_pending_events")
def sweep_pending_events() -> dict[str, int]:
    """Beat, every PROPUSK_EVENTS_SWEEP_SECONDS: pending events whose wake-up was lost,
    whose worker died or whose retry is due, oldest passage first, at most
    PROPUSK_EVENTS_SWEEP_BATCH a run (the next run takes the rest)."""
    counts: dict[str, int] = {}
    for pk in processing.due_pending(limit=settings.PROPUSK_EVENTS_SWEEP_BATCH):
        processed = processing.process(pk)
        counts[processed.outcome] = counts.get(processed.outcome, 0) + 1
    return counts


@shared_task(base=PeriodicTask, name="propusk.events.tasks.poll_hcp_events")
def poll_hcp_events() -> dict[str, object]:
    """Beat, every PROPUSK_HCP_EVENTS_POLL_SECONDS: the polling backfill (events.polling)."""
    if not settings.HCP_BASE_URL:
        return {"skipped": "no HikCentral configured"}
    from propusk.events.polling import poll
    from propusk.integrations.hikcentral.factory import build_client

    with build_client() as client:
        return poll(client).summary()


@shared_task(base=PeriodicTask, name="propusk.events.tasks.check_hcp_subscription")
def check_hcp_subscription() -> dict[str, object]:
    """Beat, every PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS: HCP's push subscription is
    viewed and made again if it is missing or different (events.subscription)."""
    if not settings.HCP_BASE_URL:
        return {"skipped": "no HikCentral configured"}
    if not settings.PROPUSK_HCP_EVENTS_TOKEN:
        return {"skipped": "no PROPUSK_HCP_EVENTS_TOKEN: the push is not used"}
    if not (settings.PROPUSK_HCP_EVENTS_URL or getattr(settings, "PROPUSK_SITE_URL", "")):
        return {"skipped": "no PROPUSK_HCP_EVENTS_URL or PROPUSK_SITE_URL"}
    from propusk.events.subscription import ensure_subscribed
    from propusk.integrations.hikcentral.factory import build_client

    with build_client() as client:
        return ensure_subscribed(client).summary()


def _wake_later(event_pk: int, seconds: float) -> None:
    try:
        process_event.apply_async((event_pk,), countdown=seconds)
    except Exception:  # the broker is down: the sweep takes the event when it is due
        processing.logger.warning(
            "could not schedule the next try of HCP event %s; the sweep will", event_pk
        )
