"""What the access-engine benchmarks share (``mass_registration.py``, ``revoke_latency.py``,
``outage.py``): a site of real parts, set up and torn down by the benchmark itself.

Each run gets a PostgreSQL database of its own (copied from a migrated template), the
project's real settings (``propusk.settings``, not the test suite's) with secrets made up for
the run, the HCP simulator (``--quota-rps``, ``--latency-ms``, ``--apply-delay``, our
organisation "Propusk visitors", its access log on so that every call is counted at the
simulator), two or more ``celery -A propusk worker`` processes and one ``celery -A propusk
beat``, all on Redis (broker, cache, the shared HCP rate limiter and circuit breaker). Visits
are registered in the benchmark's own process through the real services
(``visits.services.register_with_visitor``) with generated face portraits and Russian and
Kazakh names and valid IINs. When the run ends every process it started is stopped, its
databases are dropped and its Redis database is emptied.

Environment (each is also an option of the scripts):

    BENCH_DATABASE_URL  postgres://postgres@127.0.0.1:5432/propusk_bench
                        a PostgreSQL database the benchmark creates, with NAME_template
                        beside it, and drops when done; neither may exist beforehand.
    BENCH_REDIS_URL     redis://127.0.0.1:6379/12
                        a Redis database that must be empty (the benchmark refuses one holding
                        keys) and is emptied when done.

Any ``PROPUSK_ACCESS_*`` or ``HCP_*`` tuning variable set in the environment reaches the
workers (e.g. ``PROPUSK_ACCESS_APPLY_CHECK_SECONDS``), and so does ``PROPUSK_LOG_LEVEL``
(``DEBUG``: each HCP call's time and each look at the devices, in the logs ``--keep-logs``
keeps); the HCP connection and the rate (``HCP_RATE_LIMIT_PER_SECOND`` = ``--quota``) are the
benchmark's own. Linux only (/proc).

Run directly, this module only says what it is.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
BIN = Path(sys.executable).parent
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from hcp_simulator.testing import SimulatorHandle, running_simulator  # noqa: E402

ORG_NAME = "Propusk visitors"
APP_KEY = "propusk-bench"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/propusk_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
# What the environment may tune in the workers; everything else they get is the bench's own.
TUNABLE = re.compile(
    r"^(PROPUSK_ACCESS_|PROPUSK_LOG_LEVEL$|HCP_RATE_LIMIT_MAX_WAIT|HCP_CIRCUIT_BREAKER_|HCP_BATCH|HCP_PARALLEL_CALLS$|HCP_RATE_LIMIT_BURST$)"
)
_ACCESS_LOG_CALL = re.compile(r'"POST (/artemis/\S+) HTTP')
_QUOTA_REFUSED = "quota exceeded: "
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- options --------------------------------------------------------------------------------


def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every engine benchmark takes."""
    add = parser.add_argument
    add("--quota", type=float, default=20.0, help="HCP call quota, calls/s (simulator and limiter)")
    add("--latency-ms", type=float, default=30.0, help="simulator latency per call (30)")
    add("--apply-delay", type=float, default=1.0, help="simulator's apply delay, s (1)")
    add(
        "--result-shape",
        choices=("counts", "element-status", "empty"),
        default="counts",
        help="the simulator's applicationResult answer (its default: counts, site-wide)",
    )
    add("--workers", type=int, default=2, help="celery worker processes (2)")
    add("--runs", type=int, default=3, help="runs; medians are reported (3)")
    add("--seed", type=int, default=8, help="random seed (names, faces, moments)")
    add(
        "--keep-logs",
        metavar="DIR",
        help="copy each run's worker, beat and simulator logs to DIR/runN (for a diagnosis)",
    )
    add(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database to create and drop (BENCH_DATABASE_URL)",
    )
    add(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="an empty Redis database, emptied when done (BENCH_REDIS_URL)",
    )


# --- the site -------------------------------------------------------------------------------


def _stop_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", name):
        raise SystemExit(f"--database-url: {name!r} is not a plain lower-case database name")
    return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Site:
    """One invocation of a benchmark: the template database, the environment, Django."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.database_url: str = args.database_url
        self.name = _database_name(self.database_url)
        self.template = f"{self.name}_template"
        self.admin_url = _with_database(self.database_url, "postgres")
        self.redis_url: str = args.redis_url
        self.var = Path(tempfile.mkdtemp(prefix="propusk-bench-"))
        self.port = _free_port()
        self.app_secret = secrets.token_urlsafe(24)
        self.env = self._environment()
        self._created: list[str] = []
        self._runs = 0

    def _environment(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(
                ("DJANGO_", "PROPUSK_", "HCP_", "DATABASE_", "CELERY_", "CACHE_")
            )
            or TUNABLE.match(name)
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "propusk.settings",
                "PROPUSK_ENV_FILE": os.devnull,
                "PROPUSK_VAR_DIR": str(self.var),
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                "PROPUSK_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "PROPUSK_LOOKUP_HASH_KEY": secrets.token_urlsafe(32),
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": self.redis_url,
                "CACHE_URL": self.redis_url,
                "HCP_RATE_LIMIT_URL": self.redis_url,
                "HCP_BASE_URL": f"http://127.0.0.1:{self.port}",
                "HCP_APP_KEY": APP_KEY,
                "HCP_APP_SECRET": self.app_secret,
                "HCP_ORG_NAME": ORG_NAME,
                "HCP_RATE_LIMIT_PER_SECOND": f"{self.args.quota:g}",
                "PYTHONUNBUFFERED": "1",
                # The workers, beat and the simulator run the code beside this script.
                "PYTHONPATH": os.pathsep.join(
                    [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
            }
        )
        return env

    def __enter__(self) -> Site:
        # Stopped by SIGTERM (or SIGINT, even where a shell started us ignoring it): clean up
        # as on any error - stop the processes, drop the databases, empty Redis.
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGINT, _stop_on_signal)
        try:
            self._check_redis_empty()
            self._create_template()
            os.environ.update(self.env)
            import django

            django.setup()
            # The bench's own process logs nothing below warnings (a line per registration
            # would cost more than the registration); the workers log as configured.
            logging.disable(logging.INFO)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        for name in reversed(self._created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()
        shutil.rmtree(self.var, ignore_errors=True)

    def _admin(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            cursor = conn.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def _check_redis_empty(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = client.dbsize()
        except redis.RedisError as exc:
            raise SystemExit(f"BENCH_REDIS_URL {self.redis_url}: {exc}") from exc
        finally:
            client.close()
        if keys:
            raise SystemExit(
                f"BENCH_REDIS_URL {self.redis_url} holds {keys} keys: give the benchmark an "
                "empty Redis database (it empties it when done)"
            )

    def _create_template(self) -> None:
        existing = {
            row[0]
            for row in self._admin(
                # Both names are checked plain identifiers (_database_name).
                "SELECT datname FROM pg_database WHERE datname IN "  # noqa: S608
                f"('{self.name}', '{self.template}')"
            )
        }
        if existing:
            raise SystemExit(
                f"database(s) {', '.join(sorted(existing))} exist already (a benchmark killed "
                "before its clean-up?): drop them (dropdb) or choose another --database-url"
            )
        self._admin(f'CREATE DATABASE "{self.template}"')
        self._created.append(self.template)
        env = {**self.env, "DATABASE_URL": _with_database(self.database_url, self.template)}
        subprocess.run(
            [sys.executable, str(SRC / "manage.py"), "migrate", "--no-input", "-v", "0"],
            env=env,
            check=True,
        )

    @contextlib.contextmanager
    def run(self, *, persist: bool = False) -> Iterator[Run]:
        """A fresh database, simulator, workers and beat for one run; all gone afterwards.
        ``persist``: the simulator keeps a state file, so that it can be stopped and
        started again (writing it costs the simulator time: only when needed)."""
        from django.db import connections

        connections.close_all()
        self._admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
        self._created.append(self.name)
        self._runs += 1
        run = Run(self, persist=persist)
        try:
            run.start()
            yield run
        finally:
            run.stop()
            if self.args.keep_logs:
                kept = Path(self.args.keep_logs) / f"run{self._runs}"
                kept.mkdir(parents=True, exist_ok=True)
                for log in self.var.glob("*.log"):
                    shutil.copy(log, kept / log.name)
                    log.unlink()
            connections.close_all()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._created.remove(self.name)
            client = redis.Redis.from_url(self.redis_url)
            try:
                client.flushdb()  # it was empty when the benchmark started: every key is ours
            finally:
                client.close()


@dataclass
class CallCount:
    """OpenAPI calls the simulator received (its access log) and refused over quota."""

    by_path: Counter[str] = field(default_factory=Counter)
    quota_refused: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_path.values())

    @property
    def quota_errors(self) -> int:
        return sum(self.quota_refused.values())

    def add(self, other: CallCount) -> None:
        self.by_path.update(other.by_path)
        self.quota_refused.update(other.quota_refused)

    def short(self) -> dict[str, int]:
        """Calls per endpoint, by the last two parts of the path."""
        out: Counter[str] = Counter()
        for path, count in self.by_path.items():
            parent, name = path.split("/")[-2:]
            if name == "elementDownloadDetail":  # .../person/{id}/elementDownloadDetail
                parent = "person"
            out[f"{parent}/{name}"] += count
        return dict(out.most_common())


class Run:
    """The processes of one run: the simulator, the workers and beat."""

    def __init__(self, site: Site, *, persist: bool) -> None:
        self.site = site
        self.persist = persist
        self.env = site.env
        self.workers: list[subprocess.Popen[bytes]] = []
        self.beat: subprocess.Popen[bytes] | None = None
        self.simulator: SimulatorHandle | None = None
        self._sim_stack: contextlib.ExitStack | None = None
        self._earlier_calls = CallCount()  # counted by simulator processes already stopped
        self._simulators = 0
        self._log_offset = 0
        self.state_file = site.var / "hcp-simulator.json"
        self.started_at = time.monotonic()

    # processes

    def start(self) -> None:
        from django.core.management import call_command

        call_command("seed_demo", force=True, stdout=io.StringIO())
        self.start_simulator()
        for index in range(self.site.args.workers):
            self.workers.append(self._celery("worker", index))
        self.beat = self._celery("beat", 0)
        self._wait_for_workers()

    def _celery(self, kind: str, index: int) -> subprocess.Popen[bytes]:
        var = self.site.var
        if kind == "worker":
            arguments = [
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"bench{index + 1}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        else:
            arguments = [
                "beat",
                "--schedule",
                str(var / "celerybeat-schedule"),
                "--pidfile",
                str(var / "celerybeat.pid"),
            ]
        log = (var / f"{kind}{index + 1}.log").open("ab")
        with log:
            return subprocess.Popen(
                [str(BIN / "celery"), "-A", "propusk", *arguments],
                env=self.env,
                cwd=var,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_for_workers(self, timeout: float = 60.0) -> None:
        from propusk.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in [*self.workers, self.beat]:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"a celery process exited at start:\n{self.logs()}")
            if len(app.control.ping(timeout=1.0) or []) >= len(self.workers):
                return
        raise RuntimeError(f"the workers did not answer within {timeout:.0f} s:\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.site.var.glob("*.log"))
        )

    def start_simulator(self) -> SimulatorHandle:
        args = self.site.args
        stack = contextlib.ExitStack()
        self.simulator = stack.enter_context(
            running_simulator(
                app_key=APP_KEY,
                app_secret=self.site.app_secret,
                seed_demo=True,
                apply_delay=args.apply_delay,
                latency_ms=args.latency_ms,
                quota_rps=args.quota,
                state_file=self.state_file if self.persist else None,
                extra_args=[
                    *("--port", str(self.site.port), "--org", ORG_NAME, "--access-log"),
                    *("--application-result-shape", args.result_shape),
                ],
            )
        )
        self._sim_stack = stack
        self._log_offset = 0
        return self.simulator

    def stop_simulator(self) -> None:
        """Stop the simulator (SIGTERM: it writes its state file); the calls it received are
        kept in the count."""
        if self._sim_stack is None:
            return
        assert self.simulator is not None  # noqa: S101 - set with the stack
        self.simulator.process.terminate()
        self.simulator.process.wait(timeout=15)
        self._earlier_calls.add(self.calls())
        self._save_simulator_log()
        with contextlib.suppress(Exception):  # it "crashed": we stopped it on purpose
            self._sim_stack.close()
        self._sim_stack = None
        self.simulator = None

    def stop(self) -> None:
        for process in [*self.workers, self.beat]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, self.beat]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers.clear()
        self.beat = None
        if self._sim_stack is not None:
            self._save_simulator_log()
            self._sim_stack.close()
            self._sim_stack = None
            self.simulator = None

    def _save_simulator_log(self) -> None:
        if self.simulator is not None:
            self._simulators += 1
            path = self.site.var / f"simulator{self._simulators}.log"
            path.write_text(self.simulator.stderr(), encoding="utf-8")

    @property
    def sim(self) -> SimulatorHandle:
        if self.simulator is None:
            raise RuntimeError("the simulator is stopped")
        return self.simulator

    # measurements

    def calls(self, *, until: datetime | None = None) -> CallCount:
        """The OpenAPI calls the simulator(s) of this run received so far (``until``: those
        the running one logged up to that moment, local time)."""
        count = CallCount()
        count.add(self._earlier_calls)
        if self.simulator is not None:
            for line in self.simulator.stderr().splitlines():
                if until is not None and _logged_at(line) > until:
                    break
                call = _ACCESS_LOG_CALL.search(line)
                if call:
                    count.by_path[call.group(1)] += 1
                elif _QUOTA_REFUSED in line:
                    count.quota_refused[line.split(_QUOTA_REFUSED, 1)[1].strip()] += 1
        return count

    def last_call_before(self, path_suffix: str, moment: datetime) -> datetime | None:
        """When the running simulator last logged a call to ``path_suffix`` before ``moment``
        (local time, as its log)."""
        last = None
        for logged, path in self._logged_calls():
            if logged > moment:
                break
            if path.endswith(path_suffix):
                last = logged
        return last

    def _logged_calls(self) -> Iterator[tuple[datetime, str]]:
        if self.simulator is None:
            return
        for line in self.simulator.stderr().splitlines():
            call = _ACCESS_LOG_CALL.search(line)
            if call:
                yield _logged_at(line), call.group(1)

    def first_call_after(self, moment: datetime) -> datetime | None:
        """When the running simulator logged its first OpenAPI call after ``moment`` (local
        time, as its log)."""
        for logged, _ in self._logged_calls():
            if logged >= moment:
                return logged
        return None

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the workers, beat and the simulator (Linux /proc)."""
        out = {"workers": sum(_cpu(p.pid) for p in self.workers)}
        if self.beat is not None:
            out["beat"] = _cpu(self.beat.pid)
        if self.simulator is not None:
            out["simulator"] = _cpu(self.simulator.process.pid)
        out["bench"] = _cpu(os.getpid())
        return {name: round(value, 1) for name, value in out.items()}

    def state(self) -> dict[str, Any]:
        return self.sim.control.state()

    def turnstile_lets_in(self, person_code: str, door: str = "1") -> bool:
        """Present the person's face at a door (the simulator's passages; safe from another
        thread: a connection of its own). Decided on what that door's device holds."""
        response = httpx.post(
            f"{self.sim.base_url}/simulator/v1/passages",
            json={"personCode": person_code, "doorIndexCode": door, "direction": "in"},
            timeout=30,
        )
        response.raise_for_status()
        return bool(response.json()["granted"])


def local_now() -> datetime:
    """The local wall time, naive, as the simulator's log writes it."""
    return datetime.now()  # noqa: DTZ005 - compared with the log's local times only


def _logged_at(line: str) -> datetime:
    """The local time of a line of the simulator's log (``2026-01-31 09:00:00,123 ...``);
    lines without one (a traceback) count as logged at the start."""
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")  # noqa: DTZ007 - local
    except ValueError:
        return datetime.min  # noqa: DTZ901 - compared with local times only


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- what the devices hold ------------------------------------------------------------------


def persons_by_code(state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for person in state["persons"]:
        if not person.get("deleted"):
            found.setdefault(person["personCode"], []).append(person)
    return found


def on_devices(person: dict[str, Any]) -> bool:
    """Every door of the person's access levels holds what HCP holds for it."""
    doors = person["doors"].values()
    return bool(doors) and all(door["status"] == "applied" for door in doors)


def off_devices(person: dict[str, Any]) -> bool:
    """No door holds (or waits for) anything of the person."""
    return not person["doors"] and not person["accessLevels"]


def applied_codes(state: dict[str, Any], codes: Sequence[str]) -> set[str]:
    """Of ``codes``, the persons HCP holds once and whose doors all applied them."""
    persons = persons_by_code(state)
    return {
        code for code in codes if len(persons.get(code, ())) == 1 and on_devices(persons[code][0])
    }


def converged_codes(state: dict[str, Any], codes: Sequence[str]) -> set[str]:
    """Of ``codes``, those whose HCP person is exactly as the database wants it now: one
    person in our organisation with the wanted validity (to the second), access levels and
    face, on every door - or, when no access is wanted, no person holding any (validity over,
    no level, gone from every door)."""
    from propusk.access.desired import desired_state
    from propusk.core.time import now

    ours = {org["orgIndexCode"] for org in state["orgs"] if org["orgName"] == ORG_NAME}
    site_now = datetime.fromisoformat(state["now"])
    persons = persons_by_code(state)
    done = set()
    for code in codes:
        held = persons.get(code, [])
        wanted = desired_state(code, now=now()).person
        if wanted is None:
            if all(
                off_devices(person) and datetime.fromisoformat(person["endTime"]) <= site_now
                for person in held
            ):
                done.add(code)
            continue
        if len(held) != 1:
            continue
        person = held[0]
        grant = wanted.grant
        if (
            person["orgIndexCode"] in ours
            and datetime.fromisoformat(person["beginTime"]) == grant.begin.replace(microsecond=0)
            and datetime.fromisoformat(person["endTime"]) == grant.end.replace(microsecond=0)
            and set(person["accessLevels"]) == set(grant.access_level_ids)
            and person["hasFace"] == bool(wanted.face_version)
            and on_devices(person)
        ):
            done.add(code)
    return done


# --- visitors -------------------------------------------------------------------------------

FAMILY_NAMES = (
    ("Ахметов", "Ахметова"),
    ("Жумабаев", "Жумабаева"),
    ("Касымов", "Касымова"),
    ("Серикбаев", "Серикбаева"),
    ("Нурланов", "Нурланова"),
    ("Абдрахманов", "Абдрахманова"),
    ("Сулейменов", "Сулейменова"),
    ("Тулегенов", "Тулегенова"),
    ("Бекмуханов", "Бекмуханова"),
    ("Омаров", "Омарова"),
    ("Есенов", "Есенова"),
    ("Иванов", "Иванова"),
    ("Смирнов", "Смирнова"),
    ("Кузнецов", "Кузнецова"),
    ("Попов", "Попова"),
    ("Ким", "Ким"),
)
MALE_NAMES = ("Ерлан", "Марат", "Нурлан", "Данияр", "Асхат", "Арман", "Тимур", "Бауыржан",
              "Санжар", "Алексей", "Дмитрий", "Руслан")  # fmt: skip
FEMALE_NAMES = ("Айгерим", "Динара", "Салтанат", "Асель", "Жанна", "Мадина", "Гульнара",
                "Алия", "Томирис", "Анна", "Екатерина", "Камила")  # fmt: skip


BIRTH_DAYS = 14_600  # birth dates over 40 years: one per visitor index below this


def iin_for(index: int, *, female: bool) -> str:
    """A valid IIN (birth date, century and sex digit, serial, check digit), unique per
    ``index`` below ``BIRTH_DAYS``: each index has its own birth date (7919 is prime, so
    ``index * 7919 mod BIRTH_DAYS`` takes every value once)."""
    from propusk.visitors.national_id import iin_check_digit

    born = date(1965, 1, 1) + timedelta(days=index * 7919 % BIRTH_DAYS)
    sex = (3 if born.year < 2000 else 5) + (1 if female else 0)
    for serial in range(index % 1000, index % 1000 + 20):
        first = f"{born:%y%m%d}{sex}{serial:04d}"
        check = iin_check_digit(first)
        if check is not None:
            return f"{first}{check}"
    raise AssertionError("twenty serials without a check digit")  # about 1 in 11 has none


def _colour(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def portrait(index: int, *, female: bool, seed: int) -> bytes:
    """A generated head-and-shoulders portrait (480 x 600 JPEG), different for every index:
    scikit-image's sample portrait is not installed here, and a photo of a real person has no
    place in the repository."""
    rng = random.Random(seed * 1_000_003 + index)
    width, height = 480, 600
    background = _colour(rng, 150, 235)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    skin = (rng.randint(190, 240), rng.randint(140, 190), rng.randint(110, 160))
    shade = (skin[0] - 40, skin[1] - 40, skin[2] - 40)
    hair = _colour(rng, 10, 90)
    cloth = _colour(rng, 20, 200)
    cx, cy = width // 2 + rng.randint(-15, 15), 250 + rng.randint(-15, 15)
    fw, fh = rng.randint(150, 175), rng.randint(200, 225)
    draw.ellipse((cx - 230, 470, cx + 230, 820), fill=cloth)  # shoulders
    top, side = cy - fh // 2 - 30, fw // 2 + 18
    draw.ellipse((cx - side, top, cx + side, cy + fh // 2), fill=hair)
    if female:  # long hair, down to the shoulders behind the neck
        draw.rectangle((cx - side, cy, cx + side, cy + fh // 2 + 110), fill=hair)
    draw.rectangle((cx - 40, cy + fh // 2 - 20, cx + 40, 500), fill=skin)  # neck
    draw.ellipse((cx - fw // 2, cy - fh // 2, cx + fw // 2, cy + fh // 2), fill=skin)
    eye_y, eye_dx = cy - 20 + rng.randint(-5, 5), rng.randint(34, 44)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        draw.ellipse((ex - 16, eye_y - 8, ex + 16, eye_y + 8), fill=(250, 250, 250))
        draw.ellipse((ex - 7, eye_y - 7, ex + 7, eye_y + 7), fill=hair)
        draw.line((ex - 18, eye_y - 20, ex + 18, eye_y - 22), fill=hair, width=5)  # brow
    draw.line((cx, eye_y + 5, cx - 8, cy + 35), fill=shade, width=3)
    mouth_y = cy + 60 + rng.randint(-5, 5)
    draw.arc((cx - 32, mouth_y - 14, cx + 32, mouth_y + 14), 20, 160, fill=(150, 60, 60), width=4)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass(frozen=True)
class Registered:
    visit_id: int
    person_code: str


class Registrar:
    """Registers walk-in guest visits as reception does at the desk: a new visitor with a
    face, a valid IIN and a two-hour visit to the demo host, through the real services."""

    def __init__(self, seed: int) -> None:
        from django.contrib.auth.models import User

        from propusk.access.models import AccessLevelPolicy

        self.seed = seed
        self.reception = User.objects.get(username="reception")
        self.host = User.objects.get(username="host")
        self.policy = AccessLevelPolicy.objects.get(key="guest")

    def visitor(self, index: int) -> Any:
        from propusk.visitors.services import VisitorData

        rng = random.Random(self.seed * 7919 + index)
        female = rng.random() < 0.5
        family = rng.choice(FAMILY_NAMES)[1 if female else 0]
        given = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        return VisitorData(
            family_name=family,
            given_name=given,
            middle_name="",
            phone=f"+7 70{rng.randint(0, 8)} {rng.randint(100, 999)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}",
            email="",
            national_id=iin_for(index, female=female),
            photo_jpeg=portrait(index, female=female, seed=self.seed),
            consent=True,
        )

    def register(self, data: Any, *, minutes: int = 120) -> Registered:
        """Register ``data`` (``visitor(index)``) with a walk-in visit of ``minutes``."""
        from propusk.core.time import now
        from propusk.visits import services
        from propusk.visits.models import Visit, VisitKind

        def walk_in(visitor: Any) -> Visit:
            return services.register_walk_in(
                kind=VisitKind.GUEST,
                visitor=visitor,
                host=self.host,
                planned_end=now() + timedelta(minutes=minutes),
                access_policy=self.policy,
                actor=self.reception,
                purpose="Конференция",
            )

        visit = services.register_with_visitor(visitor=data, actor=self.reception, register=walk_in)
        return Registered(visit.pk, visit.visitor.person_code)


def register_many(
    registrar: Registrar, visitors: Sequence[Any], *, threads: int = 1
) -> tuple[list[Registered], list[str]]:
    """Register ``visitors`` (``VisitorData``) from ``threads`` threads, each with its own
    database connection: the visits registered (in order) and the errors the desk saw."""
    from django.db import connection

    results: dict[int, Registered] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def work(slot: int) -> None:
        try:
            for index in range(slot, len(visitors), threads):
                try:
                    done = registrar.register(visitors[index])
                except Exception as exc:  # what the desk would see; counted, and printed
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    results[index] = done
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return [results[index] for index in sorted(results)], errors


def engine_done(codes: Sequence[str]) -> bool:
    """The engine has nothing left to tell HCP about ``codes``: no work due (pending, or
    leased by a worker) or waiting to retry after an error, and no reapplication owed. Read
    from the database alone (work kept for a window's end hours ahead does not count)."""
    from django.db.models import Q

    from propusk.access.models import AccessWork, HcpPerson, WorkState
    from propusk.core.time import now

    due = AccessWork.objects.filter(
        Q(due_at__lte=now()) | ~Q(last_error_code=""),
        person_code__in=codes,
        state=WorkState.PENDING,
    )
    owed = HcpPerson.objects.filter(person_code__in=codes, needs_reapply=True)
    return not due.exists() and not owed.exists()


def wait_devices(
    run: Run,
    codes: Sequence[str],
    *,
    judge: Callable[[dict[str, Any], Sequence[str]], set[str]] = applied_codes,
    since: datetime,
    timeout: float,
) -> tuple[set[str], float]:
    """Wait until the devices hold what ``judge`` wants for every code; the codes that pass
    and the seconds from ``since`` (local time) until the devices got there.

    The simulator's full state costs it about a millisecond per person to answer, and its one
    event loop serves no HCP call meanwhile: polled every half second it would slow the very
    engine being measured. So the database is polled (``engine_done``), then the state is read
    once the apply delay has passed; the devices got there when the simulator applied the last
    reapplication it received (logged time + apply delay). Read again every 2 s if not yet."""
    deadline = time.monotonic() + timeout
    passing: set[str] = set()
    while time.monotonic() < deadline and not engine_done(codes):
        time.sleep(0.2)
    while True:
        time.sleep(run.site.args.apply_delay + 0.2)
        looked = local_now()
        passing = judge(run.state(), codes)
        if len(passing) == len(codes) or time.monotonic() > deadline:
            break
        time.sleep(1.8)
    last = run.last_call_before("auth/reapplication", looked)
    got_there = looked
    if last is not None and last >= since:
        got_there = min(looked, last + timedelta(seconds=run.site.args.apply_delay))
    return passing, (got_there - since).total_seconds()


def wait_idle(*, timeout: float, poll: float = 0.5) -> bool:
    """Wait until the engine has nothing due (no pending work due now, nobody waiting for the
    devices); False if it still had after ``timeout``."""
    from django.db.models import Q

    from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkState
    from propusk.core.time import now

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        due = AccessWork.objects.filter(
            Q(state=WorkState.PENDING, due_at__lte=now()) | Q(leased_until__gt=now())
        ).exists()
        if not due and not HcpPerson.objects.filter(apply_state=ApplyState.WAITING).exists():
            return True
        time.sleep(poll)
    return False


# --- figures --------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5, 0.99...)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def medians(runs: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    return out


def git_commit() -> str:
    """The commit measured (with "+" when the checkout has changes)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head + ("+" if dirty else "")


if __name__ == "__main__":
    print("bench/_engine.py: the access-engine benchmarks' shared helpers; nothing to measure.")
