"""The periodic sweep through a real Celery worker and the configured broker.

Not eager: the task is published to ``settings.CELERY_BROKER_URL`` (kombu's filesystem
transport by default, Redis when CI sets ``CELERY_BROKER_URL``), consumed by a worker running
in a thread (or in a process of its own, to be killed), and its effect is read back from the
database once the worker reports the task finished (bounded wait). The same tests pass
against RabbitMQ (``CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from celery import Task
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.db.models import Count
from django.utils import timezone
from kombu import Queue

from propusk.audit.models import AuditEntry
from propusk.celery import app
from propusk.visits import services
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.tasks import close_expired_visits

WAIT_SECONDS = 30
PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _prepare_broker() -> None:
    """Filesystem transport: its folders must exist. A server broker: drop stale messages."""
    if app.conf.broker_url.startswith("filesystem"):
        for key, value in app.conf.broker_transport_options.items():
            if key.endswith("_folder") or key.startswith("data_folder"):
                Path(value).mkdir(parents=True, exist_ok=True)
    else:
        with app.connection_for_write() as broker:
            channel = broker.default_channel
            queue = Queue(app.conf.task_default_queue, channel=channel)
            queue.declare()  # RabbitMQ refuses to purge a queue that does not exist yet
            queue.purge()
            if app.conf.broker_url.startswith(("redis", "rediss")):
                # A message of a worker killed in an earlier run (the SIGKILL test below) sits
                # in Redis's unacknowledged set, and a new worker puts it back in the queue
                # once the visibility timeout has passed: it is stale too.
                channel.client.delete(channel.unacked_key, channel.unacked_index_key)


def _run_in_worker(task: Task) -> dict[str, Any]:
    """Send ``task`` (as beat does) and run a worker in a thread until that very message has
    finished (retries included); what the worker reported for it."""
    sent_id = str(uuid.uuid4())  # known before sending: the worker may finish it at once
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def on_postrun(
        task_id: str | None = None, state: str | None = None, retval: Any = None, **kwargs: Any
    ) -> None:
        # Runs in the worker's thread after each run of any task. Close its database
        # connections (PostgreSQL cannot drop the test database while they are open).
        connections.close_all()
        if task_id == sent_id and state != "RETRY":
            outcome.update(task_id=task_id, state=state, retval=retval)
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30
        ):
            task.apply_async(task_id=sent_id)
            assert finished.wait(WAIT_SECONDS), (
                f"the worker did not finish the task within {WAIT_SECONDS} s "
                f"(broker {app.conf.broker_url})"
            )
    finally:
        task_postrun.disconnect(on_postrun)
    return outcome


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

    outcome = _run_in_worker(close_expired_visits)

    assert outcome["state"] == "SUCCESS", outcome
    assert outcome["retval"] == {"checked_out": 1, "no_show": 1}
    assert Visit.objects.get(pk=inside.pk).status == VisitStatus.CHECKED_OUT
    assert Visit.objects.get(pk=never_came.pk).status == VisitStatus.NO_SHOW
    assert Visit.objects.get(pk=ahead.pk).status == VisitStatus.AWAITING
    assert AuditEntry.objects.filter(actor_label="system").count() == 2


def test_worker_retries_the_sweep_after_a_transient_database_error(make_visit, monkeypatch, caplog):
    """The first run meets "database is locked"; the retry goes back through the broker
    (with a countdown) and closes the visit."""
    now = timezone.now()
    never_came = make_visit(
        planned_start=now - timedelta(hours=4), planned_end=now - timedelta(hours=2)
    )
    real_sweep = services.close_expired_visits
    runs: list[str] = []

    def locked_once(**kwargs: Any) -> services.ClosedCounts:
        runs.append("run")
        if len(runs) == 1:
            raise OperationalError("database is locked")
        return real_sweep(**kwargs)

    monkeypatch.setattr(services, "close_expired_visits", locked_once)
    _prepare_broker()
    with caplog.at_level(logging.INFO, logger="propusk.celery"):
        outcome = _run_in_worker(close_expired_visits)

    assert outcome["state"] == "SUCCESS", outcome
    assert outcome["retval"] == {"checked_out": 0, "no_show": 1}
    assert len(runs) == 2
    assert Visit.objects.get(pk=never_came.pk).status == VisitStatus.NO_SHOW
    assert AuditEntry.objects.filter(action="visit.no_show").count() == 1
    assert [r.getMessage() for r in caplog.records if r.name == "propusk.celery"] == [
        "propusk.visits.tasks.close_expired_visits: transient database error "
        "(OperationalError), retry 1 of 5"
    ]


# --- A worker killed in the middle of a sweep ------------------------------------------

STALL_AFTER = 3
EXPIRED = 8


def _database_url() -> str:
    """The test database, for a worker in another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"  # a file (tests/settings.py), absolute
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{credentials}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_stalling_worker(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    marker, log = tmp_path / "stalled", tmp_path / "worker.log"
    env = {
        **os.environ,  # the test's secrets (tests/settings.py put them there)
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": app.conf.broker_url,
        "PROPUSK_VAR_DIR": str(settings.VAR_DIR),  # the filesystem broker's folders
        "STALL_AFTER": str(STALL_AFTER),
        "STALLED_MARKER": str(marker),
    }
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.visits.stalling_worker"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return worker, marker, log


def test_a_sweep_killed_mid_way_is_finished_by_the_next_run(make_visit, tmp_path):
    """SIGKILL to a worker in the middle of ``close_expired_visits`` (solo pool, as in
    `make run`): what it committed stays, the rest waits for the next beat tick, which
    finishes the job; nothing is closed or audited twice. On the filesystem broker the
    killed task's message is gone for good (docs/architecture.md, "Background work")."""
    now = timezone.now()
    visits = [
        make_visit(
            planned_start=now - timedelta(hours=5),
            planned_end=now - timedelta(hours=2, minutes=minutes),
        )
        for minutes in range(EXPIRED)
    ]
    _prepare_broker()
    close_expired_visits.delay()  # a beat tick
    worker, marker, log = _start_stalling_worker(tmp_path)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not marker.exists():
            assert worker.poll() is None, log.read_text(encoding="utf-8", errors="replace")
            assert time.monotonic() < deadline, "the worker did not reach the middle of the sweep"
            time.sleep(0.05)
    finally:
        worker.kill()  # SIGKILL: no clean-up, no acknowledgement, no requeue
        worker.wait(WAIT_SECONDS)

    assert Visit.objects.filter(status=VisitStatus.NO_SHOW).count() == STALL_AFTER
    if app.conf.broker_url.startswith("filesystem"):
        queue = Path(app.conf.broker_transport_options["data_folder_in"])
        assert not list(queue.glob("*.msg")), "the filesystem transport kept the message"

    outcome = _run_in_worker(close_expired_visits)  # the next beat tick

    assert outcome["state"] == "SUCCESS", outcome
    assert Visit.objects.filter(status=VisitStatus.NO_SHOW).count() == EXPIRED
    audited = AuditEntry.objects.filter(action="visit.no_show").order_by().values("target_id")
    per_visit = {row["target_id"]: row["n"] for row in audited.annotate(n=Count("id"))}
    assert per_visit == {str(visit.pk): 1 for visit in visits}
