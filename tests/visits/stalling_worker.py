"""A real Celery worker (solo pool, like `make run`'s) that stalls in the middle of a sweep.

Run by tests/visits/test_worker.py as ``python -m tests.visits.stalling_worker`` with the
test's database (DATABASE_URL) and broker (CELERY_BROKER_URL, PROPUSK_VAR_DIR). After
``STALL_AFTER`` visits have been closed and committed it writes the file ``STALLED_MARKER``
and waits, still inside the task, until the test kills it with SIGKILL.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()

    from propusk.access import work
    from propusk.celery import app

    stall_after = int(os.environ["STALL_AFTER"])
    marker = Path(os.environ["STALLED_MARKER"])
    closed = 0

    def stall(*args: Any, **kwargs: Any) -> None:  # called after each closed visit's commit
        nonlocal closed
        closed += 1
        if closed == stall_after:
            marker.write_text(str(os.getpid()), encoding="utf-8")
            threading.Event().wait()  # until SIGKILL

    work.wake_reconciler = stall  # each closed visit wakes the access engine after commit
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
            "--hostname=stalling@%h",
        ]
    )


if __name__ == "__main__":
    main()
