"""Every beat task is a repeated sweep that retries transient database errors.

A sweep's message may be lost with a killed worker (the filesystem broker keeps nothing) or
meet "database is locked" / a dropped connection: the retry and the next tick must cover both.
The retry through a real worker and broker is in tests/visits/test_worker.py.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from celery.schedules import schedule as celery_schedule
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from propusk.celery import PeriodicTask, app
from propusk.visits import services
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.tasks import close_expired_visits

BEAT_TASKS = sorted(str(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values())


def test_the_beat_schedule_has_the_sweeps():
    assert {
        "propusk.visitors.tasks.sweep_pending_photos",
        "propusk.visits.tasks.close_expired_visits",
    } <= set(BEAT_TASKS)


@pytest.mark.parametrize("name", BEAT_TASKS)
def test_every_beat_task_retries_transient_database_errors_a_bounded_number_of_times(name):
    importlib.import_module(name.rpartition(".")[0])  # registers the task, as a worker does
    task = app.tasks[name]
    assert isinstance(task, PeriodicTask)
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.retry_jitter is True
    assert 0 < task.max_retries <= 10
    assert task.retry_backoff_max <= 60


# The access engine's full sync with HCP (hourly by default, docs/access-engine.md) is not a
# sweep: a lost run loses no work of ours, it only finds drift made by hand in HCP one interval
# later. Every other beat task is.
SWEEPS = [entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if name != "sync-access"]


@pytest.mark.parametrize("entry", SWEEPS, ids=[str(entry["task"]) for entry in SWEEPS])
def test_every_beat_task_repeats_often_enough_to_replace_a_lost_run(entry):
    """A lost message costs one interval: no sweep waits more than ten minutes."""
    every = entry["schedule"]
    seconds = every.seconds if isinstance(every, celery_schedule) else every
    assert 0 < seconds <= 10 * 60


@pytest.fixture
def expired_visit(make_visit: Callable[..., Visit]) -> Visit:
    now = timezone.now()
    return make_visit(planned_start=now - timedelta(hours=4), planned_end=now - timedelta(hours=2))


def _failing(times: int, error: Exception, runs: list[int]) -> Callable[..., services.ClosedCounts]:
    real = services.close_expired_visits

    def sweep(**kwargs: Any) -> services.ClosedCounts:
        runs.append(1)
        if len(runs) <= times:
            raise error
        return real(**kwargs)

    return sweep


@pytest.mark.parametrize(
    "error",
    [OperationalError("database is locked"), InterfaceError("connection already closed")],
    ids=["locked", "connection-lost"],
)
def test_a_transient_error_is_retried_and_the_sweep_finishes(
    expired_visit, monkeypatch, caplog, error
):
    runs: list[int] = []
    monkeypatch.setattr(services, "close_expired_visits", _failing(1, error, runs))

    with caplog.at_level(logging.INFO, logger="propusk.celery"):
        result = close_expired_visits.apply()  # eager: the retry runs at once

    assert result.successful(), result.traceback
    assert result.get() == {"checked_out": 0, "no_show": 1}
    assert len(runs) == 2
    assert Visit.objects.get(pk=expired_visit.pk).status == VisitStatus.NO_SHOW
    warnings = [r for r in caplog.records if r.name == "propusk.celery"]
    assert [r.getMessage() for r in warnings] == [
        "propusk.visits.tasks.close_expired_visits: transient database error "
        f"({type(error).__name__}), retry 1 of 5"
    ]
    assert warnings[0].levelno == logging.WARNING


def test_retries_are_bounded_then_the_task_fails_and_changes_nothing(expired_visit, monkeypatch):
    runs: list[int] = []
    locked = OperationalError("database is locked")
    monkeypatch.setattr(services, "close_expired_visits", _failing(100, locked, runs))

    result = close_expired_visits.apply()

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert len(runs) == 1 + close_expired_visits.max_retries
    assert Visit.objects.get(pk=expired_visit.pk).status == VisitStatus.AWAITING


def test_any_other_error_is_not_retried(expired_visit, monkeypatch):
    runs: list[int] = []
    monkeypatch.setattr(services, "close_expired_visits", _failing(1, ValueError("bug"), runs))

    result = close_expired_visits.apply()

    assert result.failed()
    assert isinstance(result.result, ValueError)
    assert len(runs) == 1
