"""Periodic visitor work for Celery beat. Thin: the logic is in ``pending_photos`` and
``retention``."""

from __future__ import annotations

from celery import shared_task

from propusk.celery import PeriodicTask
from propusk.visitors import pending_photos, retention


@shared_task(base=PeriodicTask, name="propusk.visitors.tasks.sweep_pending_photos")
def sweep_pending_photos() -> int:
    """Delete faces kept for a form with errors once their token has expired.

    ``keep`` sweeps too, but only when another form fails: without this task a face left by
    a visitor who gave up would stay until then.
    """
    return pending_photos.sweep()


@shared_task(base=PeriodicTask, name="propusk.visitors.tasks.purge_personal_data")
def purge_personal_data() -> dict[str, object]:
    """Beat, every ten minutes: faces past ``PROPUSK_FACE_RETENTION_DAYS`` deleted, visitors
    past ``PROPUSK_VISITOR_DATA_RETENTION_DAYS`` anonymised (``retention.purge_personal_data``:
    idempotent, safe to run twice at once; two queries when nothing is due)."""
    return retention.purge_personal_data().as_dict()
