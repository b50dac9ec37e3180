"""The Celery application, and the base of every periodic task.

Workers: ``celery -A propusk worker``; schedules: ``celery -A propusk beat``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task
from celery.signals import setup_logging
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propusk.settings")

logger = logging.getLogger(__name__)

app = Celery("propusk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_through_django(**kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING, whose every handler masks invitation
    tokens and ID numbers (core/logging.py). Without a receiver for this signal Celery would
    replace the root handlers with its own, unmasked ones. The level is PROPUSK_LOG_LEVEL;
    ``--loglevel`` has no effect."""


# "database is locked" (SQLite busy beyond its timeout), a dropped or restarted PostgreSQL
# connection: worth another try. Anything else (a bug, bad data) fails at once.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


class PeriodicTask(Task):
    """Base of every beat task (``@shared_task(base=PeriodicTask, ...)``).

    A beat task is a sweep: it reads the current state from the database and does what is
    due, so running it again is harmless and the next tick repeats it anyway (a message lost
    with a killed worker costs one interval, nothing more; docs/architecture.md). On a
    transient database error it retries with exponential backoff and full jitter (at most
    2, 4, 8, 16, 32 s, so two workers do not retry in step), five times, then fails and
    leaves the work to the next tick.
    """

    autoretry_for = TRANSIENT_DATABASE_ERRORS
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 5
    ignore_result = True

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # The error's class only: its text could quote SQL or connection details.
        logger.warning(
            "%s: transient database error (%s), retry %d of %d",
            self.name,
            type(exc).__name__,
            self.request.retries + 1,
            self.max_retries,
        )
