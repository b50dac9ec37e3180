"""What counting the calls to HCP (``call_metrics``) costs each call, per backend.

For the file backend (flock) and Redis (one MULTI/EXEC round trip): ``record_us``, the time of
one recording (``CallRecorder.__call__`` with a duration: the count, the bucket and the sum),
over ``--calls`` recordings (2000) in one process; and ``call_ms`` / ``call_ms_counted``, a
call to the simulator over HTTP (``version()``, ``--http-calls`` of each kind, 300) without
and with the recorder, in alternating rounds of 25 (the median round; the first kind of each
pair alternates too). Each figure is the
median of ``--runs`` runs (5).
Then one JSON line last:

    {"bench": "hcp_call_metrics", "backends": {"file": {...}, "redis": {...}}}

A backend that cannot run (no Redis at ``--redis-url``) is reported as ``null`` with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import redis  # noqa: E402

from hcp_simulator.testing import SimulatorHandle, running_simulator  # noqa: E402
from hikcentral import HikCentralClient, HikCentralConfig  # noqa: E402
from hikcentral.client import Paths  # noqa: E402
from propusk.integrations.hikcentral.call_metrics import (  # noqa: E402
    CallRecorder,
    build_call_store,
)


def recording_us(url: str, key_prefix: str, calls: int) -> float:
    recorder = CallRecorder(build_call_store(url, key_prefix=key_prefix))
    started = time.perf_counter()
    for number in range(calls):
        recorder(Paths.PERSON_ADD, "ok", 0.004 * (number % 50))
    return (time.perf_counter() - started) / calls * 1e6


ROUND = 25  # calls in a row of one kind; the two kinds alternate, round after round


def http_call_ms(sim: SimulatorHandle, recorder: CallRecorder, calls: int) -> tuple[float, float]:
    """Per call (ms), the median over rounds: without counting, and with it."""
    config = HikCentralConfig(
        base_url=sim.base_url,
        app_key=sim.app_key,
        app_secret=sim.app_secret,
        utc_offset=timezone(timedelta(hours=5)),
    )
    plain: list[float] = []
    counted: list[float] = []
    with (
        HikCentralClient(config) as bare,
        HikCentralClient(config, call_observer=recorder) as observed,
    ):
        bare.version()  # the connections
        observed.version()
        kinds = [(bare, plain), (observed, counted)]
        for _ in range(max(1, calls // ROUND)):
            kinds.reverse()  # neither kind always goes first
            for client, times in kinds:
                started = time.perf_counter()
                for _ in range(ROUND):
                    client.version()
                times.append((time.perf_counter() - started) / ROUND * 1000)
    return statistics.median(plain), statistics.median(counted)


def run_backend(url: str, sim: SimulatorHandle, args: argparse.Namespace) -> dict[str, Any]:
    key_prefix = f"propusk-bench:{uuid.uuid4().hex}:"
    try:
        record, plain, counted = [], [], []
        for _ in range(args.runs):
            record.append(recording_us(url, key_prefix, args.calls))
            recorder = CallRecorder(build_call_store(url, key_prefix=key_prefix))
            without, with_counting = http_call_ms(sim, recorder, args.http_calls)
            plain.append(without)
            counted.append(with_counting)
    finally:
        if url.startswith("redis"):
            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(match=key_prefix + "*"))
            if keys:
                client.delete(*keys)
    result = {
        "record_us": round(statistics.median(record), 1),
        "record_us_runs": [round(x, 1) for x in record],
        "call_ms": round(statistics.median(plain), 3),
        "call_ms_counted": round(statistics.median(counted), 3),
    }
    backend = "redis" if url.startswith("redis") else "file"
    print(
        f"{backend:5}: one recording {result['record_us']} us (median of {args.runs}); "
        f"a call {result['call_ms']} ms, counted {result['call_ms_counted']} ms",
        file=sys.stderr,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--http-calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    backends: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="propusk-call-metrics-") as tmp,
        running_simulator() as sim,
    ):
        backends["file"] = run_backend((Path(tmp) / "state").as_uri(), sim, args)
        try:
            redis.Redis.from_url(args.redis_url, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            backends["redis"] = None
            print(f"redis: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
        else:
            backends["redis"] = run_backend(args.redis_url, sim, args)
    result = {
        "bench": "hcp_call_metrics",
        "runs": args.runs,
        "backends": backends,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
