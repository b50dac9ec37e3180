"""Running calls at the same moment in threads, each with its own database connection.

The tests that use this need a database with concurrent writers: PostgreSQL, or SQLite in a
file (tests/settings.py makes the SQLite test database a file; an in-memory one is shared by
all threads through one cache and cannot show what a real server does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.test import Client

from tests.conftest import PASSWORD

JOIN_SECONDS = 60


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Start the calls at the same moment; their results or exceptions, in the calls' order."""
    start = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait()
            outcomes[index] = call()
        except BaseException as exc:  # collected for the test to inspect
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive(), f"a concurrent call did not finish in {JOIN_SECONDS} s"
    return outcomes


def signed_in_client(username: str) -> Client:
    """A browser of its own (its own session) signed in as ``username``."""
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client
