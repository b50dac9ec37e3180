"""Periodic visit work for Celery beat. Thin: the logic is in ``services``."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from propusk.celery import PeriodicTask
from propusk.visits import services


@shared_task(base=PeriodicTask, name="propusk.visits.tasks.close_expired_visits")
def close_expired_visits() -> dict[str, int]:
    """Close visits whose time is over (idempotent; overlapping runs are safe)."""
    return asdict(services.close_expired_visits())
