"""Event intake under load: how many HCP pushes a second the webhook accepts and stores, and
how long from a passage at the turnstile until the host's notification is recorded.

A site of real parts (bench/_engine.py: PostgreSQL, Redis, the HCP simulator, Celery workers
and beat) plus the web application under a real server: uvicorn's WSGI interface
(``uvicorn --interface wsgi propusk.wsgi:application``, ``--web-workers`` processes; `make
run` uses Django's runserver, which is for development only; uvicorn is already a locked
dependency - the simulator's server). The simulator is subscribed to the webhook by the real
``hcp_events subscribe``.

For ``--duration`` seconds (30):

- ``--senders`` threads (8) push OnEventNotify bodies at the webhook over loopback, one event
  per request as HCP does: granted face passages of people who are not visitors (staff and
  students, most of a real turnstile's traffic; the passage handler answers IGNORED), each a
  new eventId. ``events_per_s`` is how many of them were stored (answered 200 and in the
  inbox) per second of the window. Each sender keeps one connection open and uses the
  standard library's http.client: the generator runs on the same cores as what it measures
  (HCP does not), and httpx cost about 1.5 ms of CPU a request, more than the server.
- meanwhile ``--visitors`` (20) walk-in guests registered through the real services (their
  faces enrolled in the simulator by the access engine beforehand) pass the simulator's
  entrance turnstile one every ``duration / visitors`` seconds; the simulator pushes each
  passage to the webhook; the passage handler checks the visit in and notifies the host.
  ``p95`` is the 95th percentile of the seconds from the passage until the host's
  notification row (``notifications.Notification``, kind guest_arrived) was created.

Prints progress to stderr and one JSON line last. Environment as bench/_engine.py;
defaults here: BENCH_DATABASE_URL .../propusk_bench_events, BENCH_REDIS_URL .../11.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _engine import (
    BIN,
    Registrar,
    Run,
    Site,
    _free_port,
    add_site_arguments,
    applied_codes,
    git_commit,
    percentile,
    register_many,
    wait_devices,
)

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/propusk_bench_events"
REDIS_URL = "redis://127.0.0.1:6379/11"
SITE_OFFSET = "+05:00"


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_site_arguments(parser)
    parser.set_defaults(
        database_url=os.environ.get("BENCH_DATABASE_URL", DATABASE_URL),
        redis_url=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        runs=1,
        latency_ms=5.0,
        apply_delay=0.5,
    )
    add = parser.add_argument
    add("--duration", type=float, default=30.0, help="seconds of load (30)")
    add("--senders", type=int, default=8, help="concurrent push connections (8)")
    add("--web-workers", type=int, default=2, help="web server worker processes (2)")
    add(
        "--server",
        choices=("gunicorn", "uvicorn"),
        default="gunicorn",
        help="the WSGI server (gunicorn: gthread workers; uvicorn: --interface wsgi)",
    )
    add("--threads", type=int, default=4, help="gunicorn threads per worker (4)")
    add("--visitors", type=int, default=20, help="guests passing during the load (20)")
    add(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait after the load for every event to be processed (300)",
    )
    return parser.parse_args(argv)


class WebServer:
    """The web application under uvicorn (WSGI), in the run's environment."""

    def __init__(
        self, site: Site, port: int, workers: int, server: str = "gunicorn", threads: int = 4
    ) -> None:
        self.site = site
        self.server = server
        self.threads = threads
        self.port = port
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.log = site.var / "web.log"

    def command(self) -> list[str]:
        if self.server == "gunicorn":
            return [
                str(BIN / "gunicorn"),
                *("--workers", str(self.workers), "--worker-class", "gthread"),
                *("--threads", str(self.threads), "--bind", f"127.0.0.1:{self.port}"),
                *("--log-level", "warning", "propusk.wsgi:application"),
            ]
        return [
            str(BIN / "uvicorn"),
            *("--interface", "wsgi", "--workers", str(self.workers)),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--no-access-log", "--log-level", "warning", "propusk.wsgi:application"),
        ]

    def describe(self) -> str:
        return " ".join(Path(self.command()[0]).name.split() + self.command()[1:-1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.site.env,
                cwd=self.site.var,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the web server exited:\n" + self.log.read_text()[-3000:])
            try:
                httpx.get(f"{self.url}/hcp/events/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the web server did not answer within 60 s")

    def cpu_seconds(self, *, precise: bool = False) -> float:
        """CPU time of the server and its worker processes so far (Linux /proc)."""
        if self.process is None:
            return 0.0
        pids = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            pids.extend(int(pid) for pid in task.read_text().split())
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total if precise else round(total, 1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def prepare(site: Site, *, web_port: int, token: str) -> None:
    """What the web process, the workers and beat need beyond the engine's environment."""
    site.env.update(
        {
            "PROPUSK_HCP_EVENTS_TOKEN": token,
            "PROPUSK_HCP_EVENTS_URL": f"http://127.0.0.1:{web_port}",
            "HCP_UTC_OFFSET": SITE_OFFSET,
            # Messages are recorded and "sent" nowhere: the figure is the notification row.
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        }
    )


def subscribe() -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("hcp_events", "subscribe", stdout=out)
    return out.getvalue().strip()


def push_body(event_id: str, person_code: str, when: datetime) -> bytes:
    at = when.isoformat(timespec="seconds")
    return json.dumps(
        {
            "method": "OnEventNotify",
            "params": {
                "ability": "event_acs",
                "sendTime": at,
                "events": [
                    {
                        "eventId": event_id,
                        "eventType": 196893,
                        "happenTime": at,
                        "srcIndex": "1",
                        "srcName": "Main entrance turnstile 1",
                        "srcType": "door",
                        "status": 0,
                        "timeout": 0,
                        "data": {
                            "personId": person_code[1:],
                            "personCode": person_code,
                            "personName": "Staff Member",
                            "personType": "1",
                            "cardNo": "",
                            "picUri": f"/pic?{event_id}",
                            "checkInAndOutType": 1,
                            "readerIndexCode": "1-entry",
                            "readerName": "Entry reader",
                        },
                    }
                ],
            },
        }
    ).encode()


class Load:
    """``senders`` threads pushing new events until ``stop`` is set."""

    def __init__(self, url: str, senders: int) -> None:
        self.url = url
        self.senders = senders
        self.stop = threading.Event()
        self.accepted: list[str] = []
        self.refused = 0
        self.errors = 0
        self.lock = threading.Lock()

    def _send(self, slot: int) -> None:
        # http.client on one kept-alive connection rather than httpx: the load generator
        # shares the two cores with what it measures (HCP does not), and httpx cost about
        # 1.5 ms of CPU a request here, more than the web server's answer.
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10.0)
        headers = {"Content-Type": "application/json"}
        number = 0
        try:
            while not self.stop.is_set():
                number += 1
                event_id = f"load-{slot}-{number}-{uuid.uuid4().hex[:8]}"
                body = push_body(event_id, f"S{slot:02d}{number % 500:05d}", datetime.now(UTC))
                try:
                    connection.request("POST", parts.path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()  # reconnects on the next request
                    with self.lock:
                        self.errors += 1
                    continue
                with self.lock:
                    if response.status == 200:
                        self.accepted.append(event_id)
                    else:
                        self.refused += 1
        finally:
            connection.close()

    def run(self, duration: float) -> float:
        threads = [threading.Thread(target=self._send, args=(i,)) for i in range(self.senders)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(duration)
        self.stop.set()
        for thread in threads:
            thread.join()
        return time.monotonic() - started


def passages(run: Run, codes: list[str], duration: float, moments: dict[str, float]) -> None:
    """Each registered guest passes the entrance once, spread over the load."""
    gap = duration / max(1, len(codes))
    for code in codes:
        moments[code] = time.time()
        if not run.turnstile_lets_in(code):
            moments[code] = -1.0  # refused: no notification expected
        time.sleep(gap)


def notified_after(
    visits: dict[str, int], moments: dict[str, float]
) -> tuple[list[float], list[float], list[float]]:
    """Seconds from each passage to the host's notification, and its two parts: until the
    pushed event was stored, and from stored to notified (waiting + processing)."""
    from propusk.events.models import HcpEvent
    from propusk.notifications.models import Notification

    total, stored, processed = [], [], []
    for code, visit_id in visits.items():
        moment = moments.get(code, -1.0)
        if moment < 0:
            continue
        row = (
            Notification.objects.filter(visit_id=visit_id, kind="guest_arrived")
            .order_by("created_at")
            .first()
        )
        event = HcpEvent.objects.filter(person_code=code).order_by("received_at").first()
        if row is not None:
            total.append(row.created_at.timestamp() - moment)
            if event is not None:
                stored.append(event.received_at.timestamp() - moment)
                processed.append((row.created_at - event.received_at).total_seconds())
    return total, stored, processed


def one_run(site: Site, args: argparse.Namespace, web: WebServer) -> dict[str, Any]:
    from propusk.events.models import EventState, HcpEvent

    with site.run() as run:
        web.start()
        try:
            print("  subscribed:", subscribe(), file=sys.stderr)
            registrar = Registrar(args.seed)
            people = [registrar.visitor(index) for index in range(args.visitors)]
            registered, errors = register_many(registrar, people, threads=2)
            if errors:
                print(f"  registration errors: {errors[:3]}", file=sys.stderr)
            codes = [item.person_code for item in registered]
            since = datetime.now()  # noqa: DTZ005 - compared with local log times
            on_devices, _ = wait_devices(run, codes, judge=applied_codes, since=since, timeout=120)
            print(f"  {len(on_devices)}/{len(codes)} guests on the devices", file=sys.stderr)

            token = site.env["PROPUSK_HCP_EVENTS_TOKEN"]
            load = Load(f"{web.url}/hcp/events/{token}/", args.senders)
            moments: dict[str, float] = {}
            walker = threading.Thread(
                target=passages, args=(run, sorted(on_devices), args.duration, moments)
            )
            web_cpu_before = web.cpu_seconds(precise=True)
            workers_cpu_before = run.cpu_seconds()["workers"]
            walker.start()
            elapsed = load.run(args.duration)
            walker.join()
            web_cpu = web.cpu_seconds(precise=True) - web_cpu_before
            stored = HcpEvent.objects.filter(event_id__in=load.accepted).count()
            print(
                f"  load: {len(load.accepted)} accepted, {stored} stored in {elapsed:.1f} s; "
                f"{load.refused} refused, {load.errors} connection errors",
                file=sys.stderr,
            )
            # Wait for the processing to drain (the guests' notifications come through it).
            drained_at = None
            deadline = time.monotonic() + args.drain_timeout
            started_wait = time.monotonic()
            while time.monotonic() < deadline:
                if not HcpEvent.objects.filter(state=EventState.PENDING).exists():
                    drained_at = time.monotonic() - started_wait
                    break
                time.sleep(0.5)
            workers_cpu = run.cpu_seconds()["workers"] - workers_cpu_before
            visits = {item.person_code: item.visit_id for item in registered}
            latencies, to_store, to_process = notified_after(visits, moments)
            expected = sum(1 for code in on_devices if moments.get(code, -1.0) >= 0)
            processed = HcpEvent.objects.exclude(state=EventState.PENDING).count()
            return {
                "events_per_s": round(stored / elapsed, 1),
                "accepted": len(load.accepted),
                "stored": stored,
                "refused": load.refused,
                "connection_errors": load.errors,
                "p95": round(percentile(latencies, 0.95), 3) if latencies else None,
                "p50": round(percentile(latencies, 0.5), 3) if latencies else None,
                "notified": len(latencies),
                "latencies": sorted(round(value, 2) for value in latencies),
                "passage_to_stored_p95": round(percentile(to_store, 0.95), 3) if to_store else None,
                "stored_to_notified_p95": (
                    round(percentile(to_process, 0.95), 3) if to_process else None
                ),
                "passages": expected,
                "processed": processed,
                # CPU per push in the web server during the load, and per processed event in
                # the workers from the load's start until drained (both: this machine's
                # contention inflates them).
                "web_cpu_ms_per_push": round(1000 * web_cpu / max(1, len(load.accepted)), 2),
                "worker_cpu_ms_per_event": (
                    round(1000 * workers_cpu / max(1, processed), 2) if args.workers else None
                ),
                "drain_after_load_s": round(drained_at, 1) if drained_at is not None else None,
                "cpu_seconds": {**run.cpu_seconds(), "web": web.cpu_seconds()},
            }
        finally:
            web.stop()


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    web_port = _free_port()
    token = secrets.token_urlsafe(32)
    site = Site(args)
    prepare(site, web_port=web_port, token=token)
    results = []
    with site:
        web = WebServer(site, web_port, args.web_workers, args.server, args.threads)
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}", file=sys.stderr)
            result = one_run(site, args, web)
            print(f"  {result}", file=sys.stderr)
            results.append(result)
    keys = ("events_per_s", "p95", "p50", "drain_after_load_s")
    summary: dict[str, Any] = {
        "benchmark": "event_intake",
        "server": WebServer(site, web_port, args.web_workers, args.server, args.threads).describe(),
        "duration_s": args.duration,
        "senders": args.senders,
        "workers": args.workers,
        "visitors": args.visitors,
        "commit": git_commit(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": results,
    }
    for key in keys:
        values = sorted(r[key] for r in results if r.get(key) is not None)
        summary[key] = values[len(values) // 2] if values else None
    summary["goals"] = {"events_per_s": ">= 300", "p95": "<= 2"}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
