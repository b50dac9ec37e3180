"""The shared HCP rate limiter under load: achieved calls/s against the quota, per backend.

Four processes hammer one limiter (``SharedRateLimiter``) for a few seconds, each call a
revocation with probability ``--revoke-share`` (10 %) and a grant otherwise, on the file
backend (flock, one machine) and on Redis (Lua). The bucket is first brought down to what it
holds under saturation (the grants' reserve), so the figure is the sustained rate, not the
saved-up burst. Each backend runs ``--runs`` times (3); printed are
the medians of: calls per second, that as a share of the quota, and the time a revocation and a
grant waited in ``acquire()`` (p50, p99, max, in ms). Then one JSON line last:

    {"bench": "hcp_rate_limit", "quota_per_second": ..., "backends": {"file": {...}, ...}}

A backend that cannot run (no Redis at ``--redis-url``) is reported as ``null`` with the reason.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import redis  # noqa: E402

from propusk.integrations.hikcentral.limiter import (  # noqa: E402
    RESERVE_FRACTION,
    Priority,
    SharedRateLimiter,
)

FORK = multiprocessing.get_context("fork")


def _hammer(
    url: str, key_prefix: str, args: argparse.Namespace, start: Event, results: Connection
) -> None:
    seed = args.seed
    limiter = SharedRateLimiter.from_url(
        url, rate=args.quota, burst=args.burst, max_wait=60, key_prefix=key_prefix
    )
    chooser = random.Random(seed)
    waits: dict[str, list[float]] = {"revoke": [], "grant": []}
    start.wait(30)
    deadline = time.time() + args.seconds
    while True:
        priority = "revoke" if chooser.random() < args.revoke_share else "grant"
        asked = time.time()
        limiter.acquire(priority=priority)
        granted = time.time()
        if granted > deadline:
            break
        waits[priority].append(granted - asked)
    results.send(waits)


def one_run(url: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    key_prefix = f"propusk-bench:{uuid.uuid4().hex}:"
    try:
        # Measure the sustained rate, not the burst saved up while idle: bring the bucket down
        # to what it holds under saturation by grants, their reserve.
        drain = SharedRateLimiter.from_url(
            url, rate=args.quota, burst=args.burst, max_wait=60, key_prefix=key_prefix
        )
        for _ in range(args.burst - int(args.burst * RESERVE_FRACTION[Priority.GRANT])):
            drain.acquire(priority="revoke")
        start = FORK.Event()
        receiver, sender = FORK.Pipe(duplex=False)
        children = []
        for index in range(args.processes):
            child_args = argparse.Namespace(**vars(args), seed=run * 100 + index)
            children.append(
                FORK.Process(target=_hammer, args=(url, key_prefix, child_args, start, sender))
            )
        for child in children:
            child.start()
        start.set()
        waits: dict[str, list[float]] = {"revoke": [], "grant": []}
        for _ in children:
            for priority, values in receiver.recv().items():
                waits[priority].extend(values)
        for child in children:
            child.join()
    finally:
        if url.startswith("redis"):
            client = redis.Redis.from_url(url)
            client.delete(key_prefix + "bucket")
    calls = len(waits["revoke"]) + len(waits["grant"])
    return {
        "calls_per_second": calls / args.seconds,
        "revoke_wait_ms": _percentiles(waits["revoke"]),
        "grant_wait_ms": _percentiles(waits["grant"]),
        "revocations": len(waits["revoke"]),
        "grants": len(waits["grant"]),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "p50": round(ordered[len(ordered) // 2] * 1000, 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def backend(
    name: str, url_of_run: Callable[[int], str], args: argparse.Namespace
) -> dict[str, Any]:
    """``url_of_run(run)``: a fresh bucket for each run."""
    runs = [one_run(url_of_run(run), args, run) for run in range(args.runs)]
    rates = [run["calls_per_second"] for run in runs]
    median_rate = statistics.median(rates)

    def median_of(kind: str, key: str) -> float:
        return round(statistics.median(run[kind][key] for run in runs), 1)

    result = {
        "calls_per_second": round(median_rate, 2),
        "of_quota": round(median_rate / args.quota, 3),
        "runs_calls_per_second": [round(rate, 2) for rate in rates],
        "revoke_wait_ms": {key: median_of("revoke_wait_ms", key) for key in ("p50", "p99", "max")},
        "grant_wait_ms": {key: median_of("grant_wait_ms", key) for key in ("p50", "p99", "max")},
        "revocations_per_run": statistics.median(run["revocations"] for run in runs),
        "grants_per_run": statistics.median(run["grants"] for run in runs),
    }
    print(
        f"{name:>5}: {result['calls_per_second']:.1f} calls/s of {args.quota:g} "
        f"({result['of_quota']:.1%}; runs {result['runs_calls_per_second']}); "
        f"wait revoke p50/p99 {result['revoke_wait_ms']['p50']}/"
        f"{result['revoke_wait_ms']['p99']} ms, grant p50/p99 "
        f"{result['grant_wait_ms']['p50']}/{result['grant_wait_ms']['p99']} ms"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quota", type=float, default=50.0, help="calls per second (50)")
    parser.add_argument("--burst", type=int, default=None, help="saved-up calls (the quota)")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="per run (3)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--revoke-share", type=float, default=0.1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    if args.burst is None:
        args.burst = max(2, round(args.quota))
    print(
        f"{args.processes} processes, {args.seconds:g} s x {args.runs} runs per backend, "
        f"quota {args.quota:g}/s, burst {args.burst}, {args.revoke_share:.0%} revocations"
    )
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="propusk-bench-") as directory:
        results["file"] = backend(
            "file", lambda run: (Path(directory) / f"run-{run}").as_uri(), args
        )
    try:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        results["redis"] = None
        skipped["redis"] = f"no Redis at {args.redis_url}: {type(exc).__name__}"
        print(f"redis: skipped ({skipped['redis']})")
    else:
        results["redis"] = backend("redis", lambda run: args.redis_url, args)
    print(
        json.dumps(
            {
                "bench": "hcp_rate_limit",
                "quota_per_second": args.quota,
                "burst": args.burst,
                "processes": args.processes,
                "seconds": args.seconds,
                "runs": args.runs,
                "revoke_share": args.revoke_share,
                "backends": results,
                "skipped": skipped,
            }
        )
    )


if __name__ == "__main__":
    main()
