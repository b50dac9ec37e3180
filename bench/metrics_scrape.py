"""How long a Prometheus scrape of ``/metrics`` takes on a large site.

A site is filled in a database of the benchmark's own (a temporary SQLite file, or with
``--database-url postgres://...`` a PostgreSQL database it creates and drops) with bulk-made
rows (``bulk_create``; the services would take an hour for this much): ``--visits`` visits
(most finished months ago with their time to revoke, some inside, expected, cancelled, a few
revocations not yet confirmed), ``--events`` HCP events in the inbox over half a year (a few
pending and failed), a passage for one event in ten, HCP persons, access work, notifications
with their deliveries and incidents. Names are Russian and Kazakh. The HCP call counts (kept
in the shared state, here its directory) get a series for every endpoint of the client, with
several outcomes each, and durations in every bucket.

Then ``/metrics`` is fetched ``--scrapes`` times through Django's test client (the whole
middleware stack, no network) with the bearer token and the cache off
(``PROPUSK_METRICS_CACHE_SECONDS=0``: every scrape reads the database), after one warm-up.
``scrape_ms`` is the median wall time, ``scrape_cpu_ms`` the median CPU time of the process
(it leaves out waiting for the database's own process and for a CPU on a shared machine).
The slowest queries of one scrape are printed (``--explain``: with PostgreSQL's plans).

Goal: ``scrape_ms`` <= 100 at the default size. The last line printed is one JSON object:

    {"bench": "metrics_scrape", "scrape_ms": ..., ...}

Run: ``.venv/bin/python bench/metrics_scrape.py [--database-url
postgres://postgres@127.0.0.1:5432/propusk_bench_metrics] [--explain]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TOKEN = secrets.token_urlsafe(32)  # made up for the run
FAMILY = [
    ("Нурланов", "Нурланова"),
    ("Сейткали", "Сейткали"),
    ("Жумабаев", "Жумабаева"),
    ("Ахметов", "Ахметова"),
    ("Касымов", "Касымова"),
    ("Иванов", "Иванова"),
    ("Оспанов", "Оспанова"),
    ("Тлеубаев", "Тлеубаева"),
    ("Сәрсенбаев", "Сәрсенбаева"),
    ("Бекмуханбетов", "Бекмуханбетова"),
]
GIVEN = ["Ерлан", "Нурлан", "Арман", "Данияр", "Айгерим", "Динара", "Әлия", "Жанар", "Гүлнар"]
DOORS = [("1", "Главный вход, турникет 1"), ("2", "Главный вход, турникет 2"), ("5", "Корпус Б")]
BATCH = 5000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
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
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "PROPUSK_METRICS_TOKEN": TOKEN,
            "PROPUSK_METRICS_CACHE_SECONDS": "0",
        }
    )
    (var_dir / "celery" / "queue").mkdir(parents=True, exist_ok=True)
    (var_dir / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    import django

    django.setup()


# --- the site ---------------------------------------------------------------------------------


def fill(args: argparse.Namespace, rng: random.Random) -> dict[str, int]:  # noqa: PLR0915
    from django.contrib.auth.models import User
    from django.utils import timezone

    from hikcentral.push import GRANTED_BY_FACE
    from propusk.access.models import (
        AccessLevelPolicy,
        AccessWork,
        ApplyState,
        HcpPerson,
        WorkPriority,
        WorkState,
    )
    from propusk.events.models import (
        Direction,
        EventSource,
        EventState,
        HcpEvent,
        PollCursor,
    )
    from propusk.events.polling import CURSOR_NAME
    from propusk.notifications.kinds import Channel, Kind
    from propusk.notifications.models import Delivery, DeliveryStatus, Notification
    from propusk.passages.models import (
        Incident,
        IncidentKind,
        IncidentState,
        Passage,
        PictureState,
    )
    from propusk.visitors.models import Visitor
    from propusk.visits.models import Visit, VisitKind, VisitStatus

    now = timezone.now()
    policy = AccessLevelPolicy.objects.create(
        key="bench-guests", name="Гости", hcp_access_level_ids=["1"]
    )
    hosts = []
    for n in range(50):
        family, given = rng.choice(FAMILY)[n % 2], rng.choice(GIVEN)
        hosts.append(
            User.objects.create_user(
                username=f"host{n}", password=None, first_name=given, last_name=family
            )
        )

    Visitor.objects.bulk_create(
        [
            Visitor(
                family_name=rng.choice(FAMILY)[n % 2],
                given_name=rng.choice(GIVEN),
                phone=f"+7701{n:07d}",
                photo=f"bench/{n}.jpg",
                consent_given_at=now,
            )
            for n in range(args.visits)
        ],
        batch_size=BATCH,
    )
    visitors = list(Visitor.objects.order_by("pk").only("pk", "person_code"))

    def visit(visitor: Visitor, status: str, start: Any, **fields: Any) -> Visit:
        return Visit(
            kind=VisitKind.GUEST,
            visitor=visitor,
            host=rng.choice(hosts),
            access_policy=policy,
            purpose="Встреча",
            status=status,
            planned_start=start,
            planned_end=start + timedelta(hours=2),
            **fields,
        )

    visits = []
    for n, visitor in enumerate(visitors):
        share = n / len(visitors)
        if share < 0.02:  # inside
            visits.append(
                visit(
                    visitor,
                    VisitStatus.CHECKED_IN,
                    now - timedelta(hours=1),
                    checked_in_at=now - timedelta(minutes=50),
                )
            )
        elif share < 0.06:  # expected, today and the next weeks
            start = now + timedelta(minutes=rng.randint(10, 60 * 24 * 30))
            visits.append(visit(visitor, VisitStatus.AWAITING, start))
        elif share < 0.08:  # cancelled before they came
            start = now - timedelta(days=rng.randint(1, 180))
            visits.append(visit(visitor, VisitStatus.CANCELLED, start, cancelled_at=start))
        elif share < 0.0802:  # access ended, HCP not confirmed yet (some overdue)
            end = now - timedelta(seconds=rng.randint(1, 120))
            visits.append(
                visit(
                    visitor,
                    VisitStatus.CHECKED_OUT,
                    end - timedelta(hours=2),
                    checked_out_at=end,
                    access_should_end_at=end,
                )
            )
        else:  # finished, over half a year, with their time to revoke
            end = now - timedelta(seconds=rng.randint(60, 180 * 86400))
            visits.append(
                visit(
                    visitor,
                    VisitStatus.CHECKED_OUT,
                    end - timedelta(hours=2),
                    checked_out_at=end,
                    access_should_end_at=end,
                    access_revoked_at=end + timedelta(seconds=rng.lognormvariate(1.0, 0.8)),
                )
            )
    Visit.objects.bulk_create(visits, batch_size=BATCH)

    persons = []
    for n, visitor in enumerate(visitors[: args.visits * 6 // 10]):
        state = ApplyState.APPLIED
        if n % 1000 == 1:
            state = ApplyState.WAITING
        elif n % 5000 == 2:
            state = ApplyState.FAILED
        persons.append(
            HcpPerson(
                person_code=visitor.person_code,
                visitor_id=visitor.pk,
                person_id=str(100000 + n),
                apply_state=state,
                apply_requested_at=now - timedelta(seconds=rng.randint(1, 3600)),
                reconciled_at=now - timedelta(seconds=rng.randint(1, 86400 * 180)),
                face_rejected_reason="faceScore too low" if n % 3000 == 3 else "",
            )
        )
    HcpPerson.objects.bulk_create(persons, batch_size=BATCH)

    AccessWork.objects.bulk_create(
        [
            AccessWork(
                person_code=visitor.person_code,
                visitor_id=visitor.pk,
                priority=rng.choice(list(WorkPriority)),
                state=WorkState.FAILED if n % 50 == 0 else WorkState.PENDING,
                due_at=now + timedelta(seconds=rng.randint(-30, 86400)),
            )
            for n, visitor in enumerate(visitors[:300])
        ]
    )

    counter = itertools.count(1)
    span = 180 * 86400
    events = []
    for n in range(args.events):
        received = now - timedelta(seconds=span * (1 - n / args.events))
        state = EventState.DONE if n % 3 else EventState.IGNORED
        if n >= args.events - 40:
            state = EventState.PENDING
        elif n % 100000 == 7:
            state = EventState.FAILED
        code, door = rng.choice(DOORS)
        events.append(
            HcpEvent(
                event_id=f"bench-{next(counter)}",
                event_type=GRANTED_BY_FACE,
                happened_at=received - timedelta(seconds=1),
                received_at=received,
                door_index_code=code,
                door_name=door,
                person_code=f"S{n % 20000:07d}",
                direction=Direction.IN if n % 2 else Direction.OUT,
                source=EventSource.PUSH if n % 10 < 7 else EventSource.POLL,
                state=state,
            )
        )
        if len(events) == BATCH:
            HcpEvent.objects.bulk_create(events)
            events = []
    HcpEvent.objects.bulk_create(events)
    PollCursor.objects.create(name=CURSOR_NAME, read_until=now - timedelta(seconds=50))

    # A passage for one event in ten (ours), the newest with their pictures being fetched.
    passages = []
    for event in HcpEvent.objects.filter(pk__in=range(1, args.events + 1, 10)).only(
        "pk", "happened_at", "door_index_code"
    ):
        passages.append(
            Passage(
                event_id=event.pk,
                happened_at=event.happened_at,
                door_index_code=event.door_index_code,
                direction=Direction.IN,
                granted=True,
                picture_state=PictureState.STORED,
            )
        )
        if len(passages) == BATCH:
            Passage.objects.bulk_create(passages)
            passages = []
    Passage.objects.bulk_create(passages)
    newest = Passage.objects.order_by("-pk").values_list("pk", flat=True)[:30]
    Passage.objects.filter(pk__in=list(newest)).update(picture_state=PictureState.PENDING)

    kinds = list(IncidentKind)
    Incident.objects.bulk_create(
        [
            Incident(
                key=f"bench-{n}",
                kind=kinds[n % len(kinds)],
                happened_at=now - timedelta(hours=n),
                last_seen_at=now - timedelta(hours=n),
                state=IncidentState.OPEN if n < 20 else IncidentState.RESOLVED,
            )
            for n in range(args.visits // 20)
        ],
        batch_size=BATCH,
    )

    notifications = Notification.objects.bulk_create(
        [
            Notification(
                recipient=hosts[n % len(hosts)],
                kind=Kind.GUEST_ARRIVED,
                key=f"bench-{n}",
                params={"visit_id": n},
            )
            for n in range(args.visits // 2)
        ],
        batch_size=BATCH,
    )
    deliveries = []
    for n, notification in enumerate(notifications):
        for channel in (Channel.EMAIL, Channel.TELEGRAM):
            status = DeliveryStatus.SENT
            if n >= len(notifications) - 10:
                status = DeliveryStatus.PENDING
            elif n % 2000 == 5:
                status = DeliveryStatus.FAILED
            deliveries.append(
                Delivery(
                    notification=notification,
                    channel=channel,
                    status=status,
                    next_attempt_at=now - timedelta(seconds=5),
                )
            )
    Delivery.objects.bulk_create(deliveries, batch_size=BATCH)
    return {
        "hcp_call_series": fill_hcp_calls(rng),
        "visits": Visit.objects.count(),
        "events": HcpEvent.objects.count(),
        "passages": Passage.objects.count(),
        "hcp_persons": HcpPerson.objects.count(),
        "deliveries": Delivery.objects.count(),
    }


def fill_hcp_calls(rng: random.Random) -> int:
    """Every endpoint called, ending in several ways: the call counts' series (counter)."""
    from hikcentral.client import Paths
    from propusk.integrations.hikcentral.call_metrics import DURATION_BUCKETS, build_call_store

    store = build_call_store()
    outcomes = ["ok", "hcp_not_found", "timeout", "quota", "hcp_busy", "circuit_open"]
    series = set()
    for endpoint in Paths.all():
        for outcome in outcomes[: rng.randint(2, len(outcomes))]:
            for bound in (*DURATION_BUCKETS, 12.0):
                seconds = None if outcome == "circuit_open" else bound * 0.9
                store.add(endpoint, outcome, seconds)
            series.add((endpoint, outcome))
    return len(series)


# --- the measurement --------------------------------------------------------------------------


def scrape_once(client: Any) -> bytes:
    response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    if response.status_code != 200:
        raise SystemExit(f"/metrics answered {response.status_code}")
    return bytes(response.content)


def slowest_queries(client: Any, explain: bool) -> list[tuple[float, str]]:
    """Each query of one scrape, timed around its execution (ms), slowest first."""
    from django.db import connection

    timed: list[tuple[float, str]] = []

    def timer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append(
                (
                    (time.perf_counter() - started) * 1000,
                    sql % tuple(repr(str(p)) for p in (params or ())) if params else sql,
                )
            )

    with connection.execute_wrapper(timer):
        scrape_once(client)
    timed.sort(reverse=True)
    for ms, sql in timed[:6]:
        print(f"{ms:7.2f} ms  {sql[:160]}", file=sys.stderr)
        if explain and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                for (line,) in cursor.fetchall():
                    print(f"            {line}", file=sys.stderr)
    print(f"{len(timed)} queries in one scrape", file=sys.stderr)
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=50000, help="visits (50000)")
    parser.add_argument("--events", type=int, default=500000, help="HCP events (500000)")
    parser.add_argument("--scrapes", type=int, default=30, help="scrapes timed (30)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--explain", action="store_true", help="print the slowest plans")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to create and drop (default: a temporary SQLite file)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="propusk-metrics-bench-") as tmp:
        var_dir = Path(tmp)
        url = args.database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}"
        if args.database_url:
            create_database(url)
        try:
            configure(var_dir, url)
            from django.core.management import call_command
            from django.db import connection
            from django.test import Client

            call_command("migrate", verbosity=0)
            began = time.perf_counter()
            sizes = fill(args, random.Random(args.seed))
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE")
            print(f"site filled in {time.perf_counter() - began:.1f} s: {sizes}", file=sys.stderr)
            client = Client()
            body = scrape_once(client)  # warm-up
            queries = slowest_queries(client, args.explain)
            wall, cpu = [], []
            for _ in range(args.scrapes):
                started, started_cpu = time.perf_counter(), time.process_time()
                scrape_once(client)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
            vendor = connection.vendor
        finally:
            from django.db import connections

            connections.close_all()
            if args.database_url:
                drop_database(url)

    scrape_ms = round(statistics.median(wall), 1)
    result = {
        "bench": "metrics_scrape",
        "database": vendor,
        **sizes,
        "scrapes": args.scrapes,
        "queries": len(queries),
        "scrape_ms": scrape_ms,
        "scrape_ms_p90": round(percentile(wall, 0.9), 1),
        "scrape_cpu_ms": round(statistics.median(cpu), 1),
        "slowest_query_ms": round(queries[0][0], 2),
        "body_bytes": len(body),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "goal": {"scrape_ms": 100},
        "met": scrape_ms <= 100,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
