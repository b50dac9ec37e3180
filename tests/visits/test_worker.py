"""close_expired_visits through a real Celery worker and the configured broker.

Not eager: the task is published with ``.delay()`` to ``settings.CELERY_BROKER_URL`` (kombu's
filesystem transport by default, Redis when CI sets ``CELERY_BROKER_URL``), consumed by a
worker running in a thread, and its effect is read back from the database.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.celery import app
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.tasks import close_expired_visits

WAIT_SECONDS = 30


def _prepare_broker() -> None:
    """Filesystem transport: its folders must exist. A server broker: drop stale messages."""
    if app.conf.broker_url.startswith("filesystem"):
        for key, value in app.conf.broker_transport_options.items():
            if key.endswith("_folder") or key.startswith("data_folder"):
                Path(value).mkdir(parents=True, exist_ok=True)
    else:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(app.conf.task_default_queue)


def _close_worker_connections(**kwargs) -> None:
    # The worker thread has its own database connections; close them so the test database
    # can be flushed and dropped afterwards (PostgreSQL refuses while they are open).
    connections.close_all()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_closes_expired_visits(make_visit):
    now = timezone.now()
    inside = make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=now - timedelta(hours=4),
        planned_end=now - timedelta(hours=2),
    )
    never_came = make_visit(
        planned_start=now - timedelta(hours=4), planned_end=now - timedelta(hours=2)
    )
    ahead = make_visit(planned_start=now + timedelta(hours=1))
    _prepare_broker()
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ):
            close_expired_visits.delay()
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                closed = Visit.objects.filter(
                    pk__in=[inside.pk, never_came.pk],
                    status__in=[VisitStatus.CHECKED_OUT, VisitStatus.NO_SHOW],
                ).count()
                if closed == 2:
                    break
                time.sleep(0.1)
    finally:
        task_postrun.disconnect(_close_worker_connections)

    assert Visit.objects.get(pk=inside.pk).status == VisitStatus.CHECKED_OUT
    assert Visit.objects.get(pk=never_came.pk).status == VisitStatus.NO_SHOW
    assert Visit.objects.get(pk=ahead.pk).status == VisitStatus.AWAITING
    assert AuditEntry.objects.filter(actor_label="system").count() == 2
