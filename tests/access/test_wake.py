"""Waking a worker after commit: a revocation's wake-up goes ahead of the tasks already queued
(Redis: priority 0, every other task at 3), so the time to revoke does not wait behind a
backlog of event processing and picture downloads; a grant's goes like any task."""

from __future__ import annotations

from typing import Any

import pytest

from propusk.access import tasks
from propusk.access.work import request_reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    settings.HCP_BASE_URL = "https://hcp.example.kz"
    settings.PROPUSK_ACCESS_WAKE_PRIORITY = 0
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.reconcile_due, "apply_async", lambda **kw: calls.append(kw))
    monkeypatch.setattr(tasks.reconcile_due, "delay", lambda: calls.append({}))
    return calls


def test_a_revocation_wakes_a_worker_ahead_of_other_tasks(
    sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request_reconcile(
            person_code="V7K2M9Q4W1XZ", visitor_id=None, reason="visit cancelled", revoke=True
        )
    assert sent == [{"priority": 0}]


def test_a_grant_wakes_a_worker_like_any_task(
    sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request_reconcile(person_code="V3H8N5B2C6DT", visitor_id=None, reason="visit registered")
    assert sent == [{}]


def test_the_redis_broker_serves_the_wake_ups_first() -> None:
    """The settings for a Redis broker: tasks at 3, the wake-ups at 0 (served first)."""
    import importlib
    import os

    from propusk import settings as project_settings

    previous = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/13"
    try:
        redis_settings = importlib.reload(project_settings)
        assert redis_settings.CELERY_TASK_DEFAULT_PRIORITY == 3
        assert redis_settings.PROPUSK_ACCESS_WAKE_PRIORITY == 0
    finally:
        if previous is None:
            os.environ.pop("CELERY_BROKER_URL")
        else:
            os.environ["CELERY_BROKER_URL"] = previous
        importlib.reload(project_settings)
