"""SQLite with several writers: IMMEDIATE transactions, a busy timeout, WAL (core/env.py).

Without them, a transaction that read and then wrote while another one was writing failed at
once with "database is locked" (HTTP 500 on the desk's buttons and the public form).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from propusk.accounts.models import Department
from propusk.core.env import Env
from tests.concurrency import run_together

SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20.0,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}

only_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite settings")


def make(**values: str) -> Env:
    return Env({"PROPUSK_ENV_FILE": "/dev/null", **values})


@pytest.mark.parametrize(
    "url", ["sqlite:////srv/propusk/var/propusk.sqlite3", "sqlite:///relative.sqlite3"]
)
def test_every_sqlite_database_waits_for_other_writers(url):
    assert make().db("DATABASE_URL", url)["OPTIONS"] == SQLITE_OPTIONS
    assert make(DATABASE_URL=url).db("DATABASE_URL", "")["OPTIONS"] == SQLITE_OPTIONS


def test_postgres_gets_none_of_it():
    config = make(DATABASE_URL="postgres://u:p@db:5432/propusk").db("DATABASE_URL", "")
    assert not set(config.get("OPTIONS", {})) & set(SQLITE_OPTIONS)


def test_the_busy_timeout_is_configurable():
    env = make(PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS="45")
    assert env.db("DATABASE_URL", "sqlite:////tmp/x.sqlite3")["OPTIONS"]["timeout"] == 45.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [("soon", "is not a number"), ("0", "more than 0"), ("-5", "more than 0"), ("601", "600")],
)
def test_a_bad_busy_timeout_stops_the_process_naming_the_variable(raw, message):
    env = make(PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS=raw)
    with pytest.raises(ImproperlyConfigured, match=message) as error:
        env.db("DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    assert "PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS" in str(error.value)


@only_sqlite
@pytest.mark.django_db
def test_the_test_database_is_a_file_opened_like_make_run():
    """A file, so every thread and process opens its own connection to the same data."""
    assert Path(connection.settings_dict["NAME"]).is_file()
    assert getattr(connection, "transaction_mode", None) == "IMMEDIATE"
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 20_000
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_writer_that_read_first_waits_for_the_other_writer_instead_of_failing():
    """Thread one writes and holds its transaction open; thread two, in its own transaction,
    reads and then writes. With deferred transactions thread two failed at once."""
    written = threading.Event()

    def first() -> int:
        with transaction.atomic():
            Department.objects.create(name="Faculty of Physics")
            written.set()
            threading.Event().wait(0.5)  # still holding the write
        return 1

    def second() -> int:
        assert written.wait(10)
        with transaction.atomic():
            seen = Department.objects.count()
            Department.objects.create(name="Faculty of Chemistry")
        return seen

    outcomes = run_together(first, second)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert Department.objects.count() == 2
    if connection.vendor == "sqlite":
        # IMMEDIATE: the second transaction began only once the first had committed.
        assert outcomes[1] == 1
