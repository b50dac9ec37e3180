"""Backfill after a receiver outage: the webhook is down while ``--passages`` (1,000)
passages happen at the simulator's turnstiles; once it is back, how many of them are in the
inbox after one poll interval, and how many were stored or processed twice.

A site of real parts as bench/event_intake.py (PostgreSQL, Redis, the HCP simulator, Celery
workers and beat, the web application under uvicorn's WSGI interface), the simulator
subscribed by ``hcp_events subscribe``, beat polling door/events every ``--poll-seconds``
(PROPUSK_HCP_EVENTS_POLL_SECONDS, 30). The passages are faces the turnstiles do not
recognise, spread over the doors; the simulator keeps at most 500 undelivered pushes per
destination (HCP's buffer; the oldest dropped), so push alone cannot bring back 1,000: the
polling backfill must.

``recovered_fraction``: the passages in the inbox ``--poll-seconds`` after the web server is
back (goal 1.0). ``duplicates``: inbox rows beyond one per eventId plus events processed more
than once (a passage of the handler's recorded twice; goal 0). Also: how many came back by
push and by poll, how many pushes arrived for events polled already (deduplicated), and when
every event was processed.

Prints progress to stderr and one JSON line last. Environment as bench/_engine.py;
defaults here: BENCH_DATABASE_URL .../propusk_bench_events, BENCH_REDIS_URL .../11.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _engine import Site, _free_port, add_site_arguments, git_commit
from event_intake import DATABASE_URL, REDIS_URL, WebServer, prepare, subscribe


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_site_arguments(parser)
    parser.set_defaults(
        database_url=os.environ.get("BENCH_DATABASE_URL", DATABASE_URL),
        redis_url=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        runs=1,
        latency_ms=5.0,
    )
    add = parser.add_argument
    add("--passages", type=int, default=1000, help="passages while the receiver is down (1000)")
    add("--poll-seconds", type=float, default=30.0, help="the poll interval (30)")
    add("--web-workers", type=int, default=2, help="uvicorn worker processes (2)")
    return parser.parse_args(argv)


def one_run(site: Site, args: argparse.Namespace, web: WebServer) -> dict[str, Any]:
    from django.db.models import Count

    from propusk.events.models import EventSource, EventState, HcpEvent

    with site.run() as run:
        web.start()
        try:
            print("  subscribed:", subscribe(), file=sys.stderr)
            # One passage while up: the push path works.
            first = run.sim.control.passage("1", unknown_face=True).event_id
            deadline = time.monotonic() + 30
            while not HcpEvent.objects.filter(event_id=first).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the first push did not arrive:\n" + run.logs())
                time.sleep(0.1)

            web.stop()
            down_at = time.monotonic()
            doors = ("1", "2", "3", "4")
            ids = []
            with httpx.Client(base_url=run.sim.base_url + "/simulator/v1", timeout=30) as sim:
                for number in range(args.passages):
                    body = {
                        "doorIndexCode": doors[number % len(doors)],
                        "direction": "in" if number % 2 == 0 else "out",
                        "unknownFace": True,
                    }
                    response = sim.post("/passages", json=body)
                    response.raise_for_status()
                    ids.append(response.json()["eventId"])
            push = run.sim.control.state()["push"]
            print(
                f"  down {time.monotonic() - down_at:.1f} s; {len(ids)} passages; simulator "
                f"queue {push[0]['buffered']} buffered, {push[0]['dropped']} dropped",
                file=sys.stderr,
            )

            web.start()
            back_at = time.monotonic()
            time.sleep(args.poll_seconds)
            wanted = set(ids)
            stored = set(
                HcpEvent.objects.filter(event_id__in=ids).values_list("event_id", flat=True)
            )
            recovered = len(stored & wanted) / len(wanted)
            print(
                f"  {len(stored)} of {len(wanted)} in the inbox {args.poll_seconds:g} s after "
                "the receiver came back",
                file=sys.stderr,
            )

            # Then until everything is in and processed (for the record).
            all_in_s = None
            processed_s = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                rows = HcpEvent.objects.filter(event_id__in=ids)
                if all_in_s is None and rows.count() == len(wanted):
                    all_in_s = time.monotonic() - back_at
                if all_in_s is not None and not rows.filter(state=EventState.PENDING).exists():
                    processed_s = time.monotonic() - back_at
                    break
                time.sleep(1.0)
            rows = HcpEvent.objects.filter(event_id__in=ids)
            row_duplicates = rows.count() - rows.values("event_id").distinct().count()
            processed_twice = _passages_recorded_twice(ids)
            by_source = dict(
                rows.values_list("source").annotate(n=Count("pk")).values_list("source", "n")
            )
            push_after = run.sim.control.state()["push"][0]
            return {
                "recovered_fraction": round(recovered, 4),
                "duplicates": row_duplicates + processed_twice,
                "recovered_after_poll_interval": len(stored & wanted),
                "passages": len(wanted),
                "by_push": by_source.get(EventSource.PUSH, 0),
                "by_poll": by_source.get(EventSource.POLL, 0),
                "pushes_delivered_total": push_after["delivered"],
                "pushes_dropped_by_hcp": push_after["dropped"],
                "all_in_after_s": round(all_in_s, 1) if all_in_s is not None else None,
                "all_processed_after_s": round(processed_s, 1) if processed_s else None,
                "states": dict(
                    rows.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
                ),
                "cpu_seconds": run.cpu_seconds(),
            }
        finally:
            web.stop()


def _passages_recorded_twice(event_ids: list[str]) -> int:
    """Events the passage handler recorded more than once (passages.Passage per event)."""
    from django.db.models import Count

    try:
        from propusk.passages.models import Passage
    except ImportError:  # the passage handler is not installed: nothing can be doubled there
        return 0
    return (
        Passage.objects.filter(event__event_id__in=event_ids)
        .values("event_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    web_port = _free_port()
    site = Site(args)
    prepare(site, web_port=web_port, token=secrets.token_urlsafe(32))
    site.env["PROPUSK_HCP_EVENTS_POLL_SECONDS"] = f"{args.poll_seconds:g}"
    results = []
    with site:
        web = WebServer(site, web_port, args.web_workers)
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}", file=sys.stderr)
            result = one_run(site, args, web)
            print(f"  {result}", file=sys.stderr)
            results.append(result)
    summary: dict[str, Any] = {
        "benchmark": "backfill",
        "passages": args.passages,
        "poll_seconds": args.poll_seconds,
        "workers": args.workers,
        "commit": git_commit(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": results,
        "recovered_fraction": min(r["recovered_fraction"] for r in results),
        "duplicates": max(r["duplicates"] for r in results),
        "goals": {"recovered_fraction": 1.0, "duplicates": 0},
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
