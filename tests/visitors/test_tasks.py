"""Periodic visitor work: a face kept for a form with errors does not outlive its hour."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

from propusk.visitors import pending_photos
from propusk.visitors.tasks import sweep_pending_photos
from tests.factories import make_jpeg


def _age(token: str, seconds: int) -> Path:
    path = pending_photos._path_from_token(token)
    assert path is not None
    assert path.exists()
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_an_abandoned_pending_photo_is_deleted_without_another_upload():
    # The visitor gave up after a form error: no later upload will trigger a sweep, so
    # the periodic task must remove the face once its token can no longer be used.
    stale = pending_photos.keep(make_jpeg())
    fresh = pending_photos.keep(make_jpeg())
    stale_path = _age(stale, pending_photos.MAX_AGE_SECONDS + 60)

    assert sweep_pending_photos() >= 1

    assert not stale_path.exists()
    assert pending_photos.load(fresh) is not None


def test_the_sweep_is_scheduled():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "propusk.visitors.tasks.sweep_pending_photos" in tasks
