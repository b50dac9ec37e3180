"""Notification tasks. They take ids and read the state from the outbox, so a task run twice
or lost changes nothing: a row is sent only by the worker that claimed it while due, and the
sweep picks up whatever no task got to."""

from __future__ import annotations

import logging

from celery import shared_task

from propusk.celery import PeriodicTask
from propusk.notifications import delivery, services

logger = logging.getLogger(__name__)


@shared_task(base=PeriodicTask, name="propusk.notifications.tasks.deliver", acks_late=True)
def deliver(delivery_id: int) -> str:
    """Send one delivery if due; on a failure that may pass, schedule its retry."""
    outcome = delivery.attempt(delivery_id)
    if outcome.status == "retry" and outcome.retry_in is not None:
        try:
            deliver.apply_async((delivery_id,), countdown=outcome.retry_in)
        except Exception as exc:  # the broker is down: the sweep retries it when due
            logger.warning(
                "could not schedule the retry of notification delivery %s (%s)",
                delivery_id,
                type(exc).__name__,
            )
    return outcome.status


@shared_task(base=PeriodicTask, name="propusk.notifications.tasks.send_due")
def send_due() -> int:
    """The sweep (beat, every ``PROPUSK_NOTIFY_SWEEP_SECONDS``): one task per overdue
    delivery, so a channel that is down holds up no other."""
    ids = delivery.overdue_ids()
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)


@shared_task(base=PeriodicTask, name="propusk.notifications.tasks.purge_old")
def purge_old() -> int:
    """Beat, every ten minutes: notifications past ``PROPUSK_NOTIFY_RETENTION_DAYS`` are
    deleted (a sweep like the others: a lost run costs one interval)."""
    return services.purge_old()
