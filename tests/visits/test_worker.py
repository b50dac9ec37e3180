"""close_expired_visits through a real Celery worker and the configured broker.

Not eager: the task is published with ``.delay()`` to ``settings.CELERY_BROKER_URL`` (kombu's
filesystem transport by default, Redis when CI sets ``CELERY_BROKER_URL``), consumed by a
worker running in a thread, and its effect is read back from the database once the worker
reports the task finished (bounded wait). The same test passes against RabbitMQ
(``CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//``).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.utils import timezone
from kombu import Queue

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
            queue = Queue(app.conf.task_default_queue, channel=connection.default_channel)
            queue.declare()  # RabbitMQ refuses to purge a queue that does not exist yet
            queue.purge()


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
    finished = threading.Event()
    outcome: dict[str, object] = {}

    def on_postrun(task_id=None, state=None, retval=None, **kwargs) -> None:
        # Runs in the worker's thread. Close its database connections (PostgreSQL cannot
        # drop the test database while they are open), then tell the test the task is done.
        # The test does not read the database while the task runs: SQLite's shared in-memory
        # test database refuses a write that overlaps a read from another connection.
        connections.close_all()
        outcome.update(task_id=task_id, state=state, retval=retval)
        finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30
        ):
            sent = close_expired_visits.delay()
            assert finished.wait(WAIT_SECONDS), (
                f"the worker did not run the task within {WAIT_SECONDS} s "
                f"(broker {app.conf.broker_url})"
            )
    finally:
        task_postrun.disconnect(on_postrun)

    assert outcome["task_id"] == sent.id
    assert outcome["state"] == "SUCCESS", outcome
    assert outcome["retval"] == {"checked_out": 1, "no_show": 1}
    assert Visit.objects.get(pk=inside.pk).status == VisitStatus.CHECKED_OUT
    assert Visit.objects.get(pk=never_came.pk).status == VisitStatus.NO_SHOW
    assert Visit.objects.get(pk=ahead.pk).status == VisitStatus.AWAITING
    assert AuditEntry.objects.filter(actor_label="system").count() == 2
