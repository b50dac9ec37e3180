"""The security dashboard under load: 2,000 people inside and passages arriving at 50 a second.

A site is filled in a database of the benchmark's own (a temporary SQLite file, or with
``--database-url postgres://...`` a PostgreSQL database it creates and drops): ``--inside``
visitors checked in (nine in ten through the turnstile, with their entry passage; the rest at
the desk), ``--history`` finished visits of the days before (with their access times to
revoke), and enough expected visitors for the arrivals. Names are Russian and Kazakh, the
project's real settings (``propusk.settings``) run with secrets made up for the run, pages are
served through Django's test client (the whole middleware stack, no network).

1. ``first_page_ms``: the dashboard's first page (``/dashboard/``) for a security officer,
   ``--pages`` times with nothing else running; the median of the server time.
2. ``update_*``: for ``--seconds`` seconds, ``--writers`` threads (the event workers) take
   door events at ``--rate`` a second - each an expected visitor's entry: the event stored
   in the inbox and handled by the real passage handler (passage, check-in, audit, the host
   told) - while a poller thread fetches the live partial (``/dashboard/live/``) every
   ``--poll-ms`` (the page's own period, ``dashboard.views.POLL_MILLISECONDS``; like the
   page, every ``FULL_EVERY``th poll whole and the others quick, ``?parts=quick``). The delay
   of a passage is from the moment it was due at the door (its place in the schedule, so a
   writer that falls behind counts against it) to the end of the first poll whose answer
   shows the visitor inside; ``update_p95`` is its 95th percentile in seconds. Passages never
   seen by the end are reported as ``missing`` (and count as not updated).

Goals (issue 10): ``first_page_ms`` <= 300 and ``update_p95`` <= 2. The last line printed is
one JSON object:

    {"bench": "dashboard", "first_page_ms": ..., "update_p95": ..., ...}

Run: ``.venv/bin/python bench/dashboard.py [--database-url postgres://postgres@127.0.0.1/propusk_dash_bench]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FAMILY = [
    ("Нурланов", "Нурланова"),
    ("Сейткали", "Сейткали"),
    ("Жумабаев", "Жумабаева"),
    ("Ахметов", "Ахметова"),
    ("Касымов", "Касымова"),
    ("Иванов", "Иванова"),
    ("Оспанов", "Оспанова"),
    ("Тлеубаев", "Тлеубаева"),
    ("Смирнов", "Смирнова"),
    ("Бекмуханбетов", "Бекмуханбетова"),
]
GIVEN_MEN = ["Ерлан", "Нурлан", "Арман", "Данияр", "Алексей", "Тимур", "Бауыржан", "Ильяс"]
GIVEN_WOMEN = ["Айгерим", "Динара", "Әлия", "Жанар", "Мария", "Асель", "Гүлнар", "Дана"]
DOORS = [("1", "Главный вход, турникет 1"), ("2", "Главный вход, турникет 2"), ("5", "Корпус Б")]
INSIDE_KEY = re.compile(rb'data-key="inside-(\d+)"')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --- the database -----------------------------------------------------------------------------


def _postgres_admin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name == "propusk":
        raise SystemExit(f"--database-url: use a database of the benchmark's own, not {name!r}")
    return urlunsplit(parts._replace(path="/postgres")), name


def create_database(url: str) -> None:
    import psycopg

    admin, name = _postgres_admin(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists:
            raise SystemExit(f"database {name} exists: drop it or choose another")
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    admin, name = _postgres_admin(url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure(var_dir: Path, database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "propusk.settings",
            "PROPUSK_ENV_FILE": os.devnull,
            "PROPUSK_VAR_DIR": str(var_dir),
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
            "PROPUSK_FIELD_ENCRYPTION_KEYS": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
            "PROPUSK_LOOKUP_HASH_KEY": "bench-only-lookup-hash-key",
            "PROPUSK_LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": "filesystem://",
            "DJANGO_ALLOWED_HOSTS": "testserver",  # the test client's host name
        }
    )
    # The filesystem broker's folders: tasks queued by the handler pile up there unread.
    (var_dir / "celery" / "queue").mkdir(parents=True, exist_ok=True)
    (var_dir / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    import django

    django.setup()  # no setup_test_environment(): its template instrumentation costs time


# --- the site ---------------------------------------------------------------------------------


def person_name(rng: random.Random) -> tuple[str, str]:
    family = rng.choice(FAMILY)
    if rng.random() < 0.5:
        return family[0], rng.choice(GIVEN_MEN)
    return family[1], rng.choice(GIVEN_WOMEN)


def fill(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """Bulk-made rows (the services would take minutes for thousands of visits; what the
    dashboard reads is the same rows)."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from hikcentral.push import GRANTED_BY_FACE
    from propusk.access.models import AccessLevelPolicy
    from propusk.events.models import Direction, EventSource, EventState, HcpEvent
    from propusk.passages.models import Passage
    from propusk.visitors.models import Visitor
    from propusk.visits.models import Visit, VisitKind, VisitStatus

    now = timezone.now()
    policy = AccessLevelPolicy.objects.create(
        key="bench-guests", name="Гости", hcp_access_level_ids=["1"], late_leave_minutes=15
    )
    hosts = []
    for n in range(40):
        family, given = person_name(rng)
        hosts.append(
            User.objects.create_user(
                username=f"host{n}", password=None, first_name=given, last_name=family
            )
        )
    host_group = Group.objects.get(name="host")
    host_group.user_set.add(*hosts)
    security = User.objects.create_user(username="security", password=None)
    security.groups.add(Group.objects.get(name="security"))

    total_arrivals = int(args.rate * args.seconds * 1.2) + 50
    visitors = []
    for n in range(args.inside + args.history + total_arrivals):
        family, given = person_name(rng)
        visitors.append(
            Visitor(
                family_name=family,
                given_name=given,
                phone=f"+7701{n:07d}",
                photo=f"bench/{n}.jpg",  # a name only: the pages link it, nobody fetches it
                consent_given_at=now,
            )
        )
    Visitor.objects.bulk_create(visitors, batch_size=1000)
    visitors = list(Visitor.objects.order_by("pk"))

    def visit(visitor: Visitor, **fields: Any) -> Visit:
        return Visit(
            kind=VisitKind.GUEST,
            visitor=visitor,
            host=rng.choice(hosts),
            access_policy=policy,
            purpose="Встреча",
            **fields,
        )

    inside = [
        visit(
            v,
            status=VisitStatus.CHECKED_IN,
            planned_start=now - timedelta(hours=3),
            planned_end=now
            + timedelta(hours=rng.choice([-1] + [2, 4, 6] * 10)),  # 1 in 31 overstays
            checked_in_at=now - timedelta(minutes=rng.randint(5, 170)),
        )
        for v in visitors[: args.inside]
    ]
    history = []
    for v in visitors[args.inside : args.inside + args.history]:
        start = now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 8))
        end = start + timedelta(hours=2)
        history.append(
            visit(
                v,
                status=VisitStatus.CHECKED_OUT,
                planned_start=start,
                planned_end=end,
                checked_in_at=start + timedelta(minutes=5),
                checked_out_at=end,
                access_should_end_at=end,
                access_revoked_at=end + timedelta(seconds=rng.randint(3, 40)),
            )
        )
    arrivals = [
        visit(
            v,
            status=VisitStatus.AWAITING,
            planned_start=now - timedelta(minutes=10),
            planned_end=now + timedelta(hours=3),
        )
        for v in visitors[args.inside + args.history :]
    ]
    Visit.objects.bulk_create(inside + history + arrivals, batch_size=1000)

    # The entry passages of nine in ten of the people inside.
    counter = itertools.count(1)
    events, entries = [], []
    for v in Visit.objects.filter(status=VisitStatus.CHECKED_IN).select_related("visitor"):
        if rng.random() < 0.1:
            continue
        code, door = rng.choice(DOORS)
        events.append(
            HcpEvent(
                event_id=f"bench-in-{next(counter)}",
                event_type=GRANTED_BY_FACE,
                happened_at=v.checked_in_at or now,
                door_index_code=code,
                door_name=door,
                person_code=v.visitor.person_code,
                direction=Direction.IN,
                source=EventSource.PUSH,
                state=EventState.DONE,
            )
        )
        entries.append((v, code, door))
    HcpEvent.objects.bulk_create(events, batch_size=1000)
    stored = {e.event_id: e for e in HcpEvent.objects.filter(event_id__startswith="bench-in-")}
    Passage.objects.bulk_create(
        [
            Passage(
                event=stored[event.event_id],
                visit=v,
                visitor=v.visitor,
                happened_at=event.happened_at,
                door_index_code=code,
                door_name=door,
                direction=Direction.IN,
                granted=True,
            )
            for event, (v, code, door) in zip(events, entries, strict=True)
        ],
        batch_size=1000,
    )
    return {
        "security": security,
        "arrivals": list(
            Visit.objects.filter(status=VisitStatus.AWAITING)
            .select_related("visitor")
            .order_by("pk")
        ),
    }


# --- the measurements ---------------------------------------------------------------------------


def client_for(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def first_page(security: Any, pages: int) -> tuple[list[float], list[float]]:
    """Wall time and this thread's CPU time of each page, ms (the CPU time leaves out the
    waits for a machine shared with other work, and for PostgreSQL's own process)."""
    client = client_for(security)
    client.get("/dashboard/")  # warm: templates compiled, the user's session and roles
    wall, cpu = [], []
    for _ in range(pages):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get("/dashboard/")
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"/dashboard/ answered {response.status_code}")
    return wall, cpu


def under_load(  # noqa: PLR0915 - one measurement, its threads kept together
    args: argparse.Namespace, security: Any, arrivals: list[Any]
) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from hikcentral.push import GRANTED_BY_FACE
    from propusk.events.models import Direction, EventSource, HcpEvent
    from propusk.passages.handler import handle_event
    from propusk.passages.models import Passage
    from propusk.visits.models import Visit, VisitStatus

    count = int(args.rate * args.seconds)
    if count > len(arrivals):
        raise SystemExit("not enough expected visitors made for this rate and duration")
    due: dict[int, float] = {}  # visit pk -> when the passage was due (monotonic)
    seen: dict[int, float] = {}
    handled: list[float] = []
    errors: list[str] = []
    polls: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    stop = threading.Event()
    next_index = itertools.count()

    def writer() -> None:
        try:
            while True:
                index = next(next_index)
                if index >= count:
                    return
                at = start + index / args.rate
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                visit = arrivals[index]
                code, door = DOORS[index % len(DOORS)]
                began = time.perf_counter()
                with transaction.atomic():
                    event = HcpEvent.objects.create(
                        event_id=f"bench-live-{index}",
                        event_type=GRANTED_BY_FACE,
                        happened_at=timezone.now(),
                        door_index_code=code,
                        door_name=door,
                        person_code=visit.visitor.person_code,
                        direction=Direction.IN,
                        source=EventSource.PUSH,
                    )
                    if args.writer == "insert":
                        # What the handler leaves for the dashboard: the passage, the visit in.
                        Passage.objects.create(
                            event=event,
                            visit=visit,
                            visitor=visit.visitor,
                            happened_at=event.happened_at,
                            door_index_code=code,
                            door_name=door,
                            direction=Direction.IN,
                            granted=True,
                        )
                        Visit.objects.filter(pk=visit.pk).update(
                            status=VisitStatus.CHECKED_IN, checked_in_at=event.happened_at
                        )
                if args.writer == "handler":
                    handle_event(event)
                with lock:
                    due[visit.pk] = at
                    handled.append(time.perf_counter() - began)
        except Exception as exc:  # reported in the result, the run goes on without it
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        finally:
            connection.close()

    def poller() -> None:
        """As the page's script: every ``full_every``th poll whole, the others quick."""
        client = client_for(security)
        ticks = itertools.count(1)
        try:
            while not stop.is_set():
                began = time.perf_counter()
                quick = next(ticks) % args.full_every != 0
                response = client.get("/dashboard/live/", {"parts": "quick"} if quick else {})
                ended = time.monotonic()
                polls.append((time.perf_counter() - began) * 1000)
                keys = {int(pk) for pk in INSIDE_KEY.findall(response.content)}
                with lock:
                    for pk in keys:
                        if pk in due and pk not in seen:
                            seen[pk] = ended
                stop.wait(max(0.0, args.poll_ms / 1000 - (time.perf_counter() - began)))
        finally:
            connection.close()

    writers = [threading.Thread(target=writer) for _ in range(args.writers)]
    polling = threading.Thread(target=poller)
    polling.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    finished = time.monotonic()
    time.sleep(args.poll_ms / 1000 * 2 + 1)  # the last passages' polls
    stop.set()
    polling.join()

    delays = [seen[pk] - at for pk, at in due.items() if pk in seen]
    missing = len(due) - len(delays)
    return {
        "passages": len(due),
        "achieved_rate": round(len(due) / max(1e-9, finished - start), 1),
        "handle_ms_median": round(statistics.median(handled) * 1000, 1) if handled else None,
        "update_p50": round(percentile(delays, 0.5), 2) if delays else None,
        # A passage never seen counts as not updated in time (infinitely late).
        "update_p95": round(percentile(delays + [float("inf")] * missing, 0.95), 2)
        if due
        else None,
        "update_max": round(max(delays), 2) if delays else None,
        "missing": missing,
        "polls": len(polls),
        "partial_ms_median": round(statistics.median(polls), 1) if polls else None,
        "partial_ms_p95": round(percentile(polls, 0.95), 1) if polls else None,
        "writer_errors": errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inside", type=int, default=2000, help="people inside (2000)")
    parser.add_argument("--history", type=int, default=20000, help="finished visits (20000)")
    parser.add_argument("--rate", type=float, default=50.0, help="passages per second (50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load (20)")
    parser.add_argument("--writers", type=int, default=2, help="event worker threads (2)")
    parser.add_argument(
        "--writer",
        choices=("insert", "handler"),
        default="insert",
        help="insert: each passage written as the handler leaves it (event, passage, visit "
        "checked in) - the dashboard's delay alone; handler: the real passage handler "
        "(audit, notifications, access work too) - its throughput counts as well",
    )
    parser.add_argument("--poll-ms", type=int, default=None, help="poll period (the page's)")
    parser.add_argument("--pages", type=int, default=15, help="first pages timed (15)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to create and drop (default: a temporary SQLite file)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="propusk-dashboard-bench-") as tmp:
        var_dir = Path(tmp)
        url = args.database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}"
        if args.database_url:
            create_database(url)
        try:
            configure(var_dir, url)
            from django.core.management import call_command

            from propusk.dashboard.views import FULL_EVERY, POLL_MILLISECONDS

            if args.poll_ms is None:
                args.poll_ms = POLL_MILLISECONDS
            args.full_every = FULL_EVERY
            call_command("migrate", verbosity=0)
            began = time.perf_counter()
            site = fill(args, random.Random(args.seed))
            print(f"site filled in {time.perf_counter() - began:.1f} s", file=sys.stderr)
            pages, pages_cpu = first_page(site["security"], args.pages)
            print(
                f"first page: median {statistics.median(pages):.0f} ms "
                f"(CPU {statistics.median(pages_cpu):.0f} ms), "
                f"min {min(pages):.0f}, max {max(pages):.0f}",
                file=sys.stderr,
            )
            load = under_load(args, site["security"], site["arrivals"])
            print(json.dumps(load, ensure_ascii=False), file=sys.stderr)
        finally:
            from django.db import connections

            connections.close_all()
            if args.database_url:
                drop_database(url)

    first_page_ms = round(statistics.median(pages), 1)
    result = {
        "bench": "dashboard",
        "database": "postgresql" if args.database_url else "sqlite",
        "inside": args.inside,
        "history": args.history,
        "rate": args.rate,
        "seconds": args.seconds,
        "writers": args.writers,
        "writer": args.writer,
        "poll_ms": args.poll_ms,
        "first_page_ms": first_page_ms,
        "first_page_ms_max": round(max(pages), 1),
        "first_page_cpu_ms": round(statistics.median(pages_cpu), 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        **load,
        "goals": {"first_page_ms": 300, "update_p95": 2},
    }
    result["met"] = bool(
        first_page_ms <= 300 and load["update_p95"] is not None and load["update_p95"] <= 2
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
