"""Access engine tasks for Celery. Thin: the work is in ``reconciler``; they take no objects,
only drain what the database says is due, so a repeated or lost task changes nothing."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from propusk.access import reconciler, sync
from propusk.access.work import urgent_options
from propusk.celery import PeriodicTask

logger = logging.getLogger(__name__)

# Set while a follow-up run is scheduled to ask HCP whether its changes reached the devices:
# one at a time, however many runs found persons waiting.
FOLLOW_UP_KEY = "propusk:access:apply-check-scheduled"
# Set while a run is scheduled for when the circuit breaker lets a call through again.
PAUSE_KEY = "propusk:access:breaker-follow-up-scheduled"
# Set while a run is scheduled for a revocation refused over HCP's call quota.
QUOTA_RETRY_KEY = "propusk:access:quota-retry-scheduled"
# A run lingers while revocations wait for the devices, at most this many check intervals
# after its last batch (reconciler.reconcile_due_work).
LINGER_CHECKS = 3
# A follow-up scheduled to come at most this much later than the one wanted will do.
FOLLOW_UP_SLACK = 0.05


@shared_task(base=PeriodicTask, name="propusk.access.tasks.reconcile_due")
def reconcile_due() -> dict[str, int]:
    """Reconcile every person whose work is due and check what the devices applied (woken
    after commit, and by beat as the sweep every ``PROPUSK_ACCESS_SWEEP_SECONDS``)."""
    if not settings.HCP_BASE_URL:
        # No HikCentral configured yet: the work waits in the database until one is.
        return asdict(reconciler.ReconcileResult())
    # While revocations wait for the devices the run stays to ask (a few check intervals).
    result = reconciler.reconcile_due_work(
        linger=LINGER_CHECKS * settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS
    )
    if result.revocation_retry_in:
        # A revocation refused over HCP's quota is due again within half a second: run then.
        _follow_up(result.revocation_retry_in, key=QUOTA_RETRY_KEY)
    if result.paused_for:
        # HCP is down: look again when the circuit breaker lets a call through (that call
        # is the probe; its answer makes every waiting person due and wakes a worker).
        _follow_up(result.paused_for, key=PAUSE_KEY)
    elif result.waiting:
        # When the first waiting person may be asked about: a revocation a quarter of the
        # check interval after its last look, so its confirmation comes soon after the devices.
        _follow_up(result.next_check_in or settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS)
    return asdict(result)


@shared_task(base=PeriodicTask, name="propusk.access.tasks.sync_with_hcp")
def sync_with_hcp() -> dict[str, object]:
    """The full sync (beat, every ``PROPUSK_ACCESS_SYNC_MINUTES``): drift in HCP found and
    queued for the reconciler, which a woken worker drains. An incomplete read is logged and
    takes nothing away; the next sync reads again."""
    if not settings.HCP_BASE_URL:
        return {"skipped": "no HikCentral configured"}
    return sync.full_sync().summary()


def _follow_up(seconds: float, *, key: str = FOLLOW_UP_KEY) -> None:
    """Run again in ``seconds`` rather than at the next sweep: to look at the devices, so
    the time to revoke is measured closely, or when the circuit breaker lets a call through.
    One at a time per ``key``: the cache holds the moment of the one scheduled, and another is
    scheduled only to come sooner than it (or when it is past). Two processes racing may both
    schedule one; the checks are claimed in the database, so HCP is asked once. A lost
    follow-up costs one sweep interval."""
    at = time.time() + seconds
    try:
        scheduled = cache.get(key)
        if isinstance(scheduled, int | float) and time.time() <= scheduled <= at + FOLLOW_UP_SLACK:
            return
        cache.set(key, at, timeout=math.ceil(seconds) + 1)
        # Ahead of other queued tasks (Redis): it asks about revocations, or retries one.
        reconcile_due.apply_async(countdown=seconds, **urgent_options())
    except Exception as exc:  # the broker is down: the sweep checks anyway
        cache.delete(key)
        logger.warning(
            "could not schedule the access application check (%s: %s); the sweep will do it",
            type(exc).__name__,
            exc,
        )
