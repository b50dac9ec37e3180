"""Mass registration: a burst of new visitors with faces reaching the doors under HCP's quota.

Each run (bench/_engine.py: a fresh PostgreSQL database, Redis, the HCP simulator with
``--quota-rps 20 --latency-ms 30 --apply-delay 1``, ``--workers`` celery worker processes and
beat, the rate limiter at the quota) registers ``--visitors`` (500) walk-in guests at once
through ``visits.services.register_with_visitor`` from ``--threads`` (2) desk threads, then
waits until every visitor's person is on every door of its access level (``_engine.wait_devices``:
the engine's database is polled, the simulator's state read once its work is done).
Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL (see bench/_engine.py).

Figures per run, and their medians over ``--runs`` (3):

- ``seconds``: from the first registration to every person applied on the devices (when the
  simulator applied the last reapplication: its logged time plus the apply delay, checked in
  its state); ``register_seconds``: the burst itself;
- ``hcp_calls``: OpenAPI calls the simulator received meanwhile (its access log), also per
  endpoint; ``calls_per_visitor``; ``quota_errors``: calls the simulator refused over quota;
  ``calls_after``: calls after that moment (the engine asking whether the devices applied);
- ``efficiency`` = (``hcp_calls`` / quota) / ``seconds``: the share of the quota's time used;
- ``lost``: visitors never applied (within ``--timeout``); ``duplicated``: person codes HCP
  holds more than once; ``user_errors``: registrations that failed (a quota error reaching a
  user would be one); ``work_errors``: work rows left failed or with an error.

Goals (issue 8): calls_per_visitor <= 1.2, efficiency >= 0.8, no quota error reaching a user,
none lost. One JSON line last:

    {"bench": "mass_registration", "visitors": 500, "quota": 20, ..., "runs": [...]}

Quick run: ``python bench/mass_registration.py --visitors 100 --runs 1``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from typing import Any

import _engine

KEYS = (
    "seconds",
    "register_seconds",
    "hcp_calls",
    "calls_per_visitor",
    "quota_errors",
    "efficiency",
    "lost",
    "duplicated",
    "user_errors",
    "work_errors",
)


def one_run(site: _engine.Site, args: argparse.Namespace, number: int) -> dict[str, Any]:
    from django.db.models import Q

    from propusk.access.models import AccessWork, WorkState

    with site.run() as run:
        registrar = _engine.Registrar(args.seed)
        visitors = [registrar.visitor(index) for index in range(args.visitors)]
        calls_before = run.calls().total  # none: the engine has had nothing to do
        since = _engine.local_now()
        started = time.monotonic()
        registered, user_errors = _engine.register_many(registrar, visitors, threads=args.threads)
        for error in user_errors[:5]:
            print(f"  registration refused: {error}")
        registered_seconds = time.monotonic() - started
        codes = [visit.person_code for visit in registered]
        applied, seconds = _engine.wait_devices(run, codes, since=since, timeout=args.timeout)
        calls = run.calls(until=since + timedelta(seconds=seconds))
        later = run.calls().total - calls.total
        cpu = run.cpu_seconds()
        duplicated = sum(
            1 for persons in _engine.persons_by_code(run.state()).values() if len(persons) > 1
        )
        work_errors = AccessWork.objects.filter(
            ~Q(last_error_code="") | Q(state=WorkState.FAILED)
        ).count()
        if len(applied) < len(codes):
            print(run.logs())
        hcp_calls = calls.total - calls_before
    result = {
        "seconds": round(seconds, 2),
        "register_seconds": round(registered_seconds, 2),
        "hcp_calls": hcp_calls,
        "calls_per_visitor": round(hcp_calls / args.visitors, 3),
        "quota_errors": calls.quota_errors,
        "efficiency": round((hcp_calls / args.quota) / seconds, 3),
        "lost": args.visitors - len(applied),
        "duplicated": duplicated,
        "user_errors": len(user_errors),
        "work_errors": work_errors,
        "calls_by_endpoint": calls.short(),
        "calls_after": later,
        "cpu_seconds": cpu,
    }
    print(
        f"run {number}: {result['seconds']:.1f} s (burst {result['register_seconds']:.1f} s), "
        f"{hcp_calls} calls = {result['calls_per_visitor']:.2f}/visitor, "
        f"efficiency {result['efficiency']:.2f}, quota errors {result['quota_errors']}, "
        f"lost {result['lost']}, duplicated {duplicated}, work errors {work_errors}"
    )
    print(f"  calls: {result['calls_by_endpoint']}; then {later} more (confirmations)")
    print(f"  cpu s: {cpu}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _engine.add_site_arguments(parser)
    parser.add_argument("--visitors", type=int, default=500, help="visitors in the burst (500)")
    parser.add_argument("--threads", type=int, default=2, help="desk threads registering (2)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting for the doors after (600 s)"
    )
    args = parser.parse_args()
    print(
        f"mass registration: {args.visitors} visitors, quota {args.quota:g}/s, latency "
        f"{args.latency_ms:g} ms, apply delay {args.apply_delay:g} s, {args.workers} workers, "
        f"{args.runs} run(s)"
    )
    with _engine.Site(args) as site:
        runs = [one_run(site, args, number + 1) for number in range(args.runs)]
    summary = _engine.medians(runs, KEYS)
    print(f"median of {len(runs)}: {summary}")
    print(
        json.dumps(
            {
                "bench": "mass_registration",
                "visitors": args.visitors,
                "quota": args.quota,
                "latency_ms": args.latency_ms,
                "apply_delay": args.apply_delay,
                "workers": args.workers,
                "commit": _engine.git_commit(),
                **summary,
                "runs": runs,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
