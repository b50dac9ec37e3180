"""HCP outage: visits change while HikCentral is down; how soon after it returns is all well?

Each run (bench/_engine.py: a fresh PostgreSQL database, Redis, the HCP simulator with
``--quota-rps 20 --latency-ms 30 --apply-delay 1``, ``--workers`` celery worker processes and
beat, the rate limiter and circuit breaker on Redis):

1. set-up, not measured: three quarters of ``--changes`` (100) walk-in guests registered and
   on the doors, a third of those checked in;
2. HCP goes down for ``--down`` (60) seconds: ``--down-by stop`` (default) stops the simulator
   process (connections refused; it keeps its site in a state file and starts again on the same
   port), ``--down-by fault`` makes it reset every connection (a ``drop`` fault on every path);
3. meanwhile, at random moments, ``--changes`` visits change through the visit services: a
   quarter new walk-in registrations, a quarter cancellations, a quarter check-outs, a quarter
   window changes (every other one extended by an hour, the others shortened by half an hour);
4. HCP comes back; the simulator is polled every second until every visitor involved is
   exactly as the database wants it (one person in our organisation with the wanted validity,
   access levels and face, on every door; or no access at all, off every door).

Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL (see bench/_engine.py). Figures per run and
their medians over ``--runs`` (3): ``seconds`` from HCP's return to convergence; ``lost``
(visitors not converged within ``--timeout``); ``duplicated`` (person codes HCP holds more than
once); ``user_errors`` (changes refused at the desk: HCP being down must not show there);
``due_after_return_max`` (how long after HCP's return the last pending work row was due, by its
backoff) and ``attempts_max``. Goal (issue 8): seconds <= 30, lost 0, duplicated 0. One JSON
line last:

    {"bench": "outage", "changes": 100, "down": 60, "seconds": ..., "runs": [...]}

Quick run: ``python bench/outage.py --changes 40 --down 20 --runs 1``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import timedelta
from typing import Any

import _engine

KEYS = (
    "seconds",
    "lost",
    "duplicated",
    "user_errors",
    "due_after_return_max",
    "attempts_max",
    "pending_at_return",
    "breaker_retry_after",
    "first_call_after_return",
)


Change = tuple[str, Any]  # ("register", newcomer index) or (kind, _engine.Registered)


def _set_up(
    run: _engine.Run, registrar: _engine.Registrar, args: argparse.Namespace, rng: random.Random
) -> tuple[list[str], list[Change]]:
    """Visits on the doors (a third checked in); the changes to make, in a random order."""
    from propusk.visits import services
    from propusk.visits.models import Visit

    quarter = args.changes // 4
    existing, errors = _engine.register_many(
        registrar, [registrar.visitor(i) for i in range(args.changes - quarter)], threads=2
    )
    if errors:
        raise SystemExit(f"set-up registration refused: {errors[0]}")
    rng.shuffle(existing)
    to_check_out = existing[quarter : 2 * quarter]
    for visit in to_check_out:
        services.check_in(visit=Visit.objects.get(pk=visit.visit_id), actor=registrar.reception)
    codes = [visit.person_code for visit in existing]
    applied, _ = _engine.wait_devices(run, codes, since=_engine.local_now(), timeout=args.timeout)
    if len(applied) < len(codes) or not _engine.wait_idle(timeout=args.timeout):
        print(run.logs())
        raise SystemExit("set-up: the visits did not all reach the doors")
    changes: list[Change] = [
        *(("register", len(existing) + i) for i in range(args.changes - 3 * quarter)),
        *(("cancel", visit) for visit in existing[:quarter]),
        *(("check_out", visit) for visit in to_check_out),
        *(("reschedule", visit) for visit in existing[2 * quarter :]),
    ]
    rng.shuffle(changes)
    return codes, changes


def _change(registrar: _engine.Registrar, kind: str, target: Any, position: int) -> str | None:
    """Make one change at the desk; the new visitor's person code for a registration."""
    from propusk.visits import services
    from propusk.visits.models import Visit

    if kind == "register":
        return registrar.register(registrar.visitor(target)).person_code
    visit = Visit.objects.get(pk=target.visit_id)
    if kind == "cancel":
        services.cancel(visit=visit, actor=registrar.reception, reason="Отменено")
    elif kind == "check_out":
        services.check_out(visit=visit, actor=registrar.reception)
    else:
        shift = timedelta(minutes=60 if position % 2 else -30)
        services.change_window(
            visit=visit,
            planned_start=None,
            planned_end=visit.planned_end + shift,
            actor=registrar.reception,
        )
    return None


def one_run(site: _engine.Site, args: argparse.Namespace, number: int) -> dict[str, Any]:
    from django.db.models import Max

    from propusk.access.models import AccessWork, WorkState
    from propusk.core.time import now
    from propusk.integrations.hikcentral.breaker import build_circuit_breaker

    rng = random.Random(args.seed * 17 + number)
    with site.run(persist=args.down_by == "stop") as run:
        registrar = _engine.Registrar(args.seed)
        codes, changes = _set_up(run, registrar, args, rng)
        moments = sorted(rng.uniform(0, max(0.0, args.down - 5)) for _ in changes)
        went_down = time.monotonic()
        _go_down(run, args.down_by)
        user_errors: list[str] = []
        for position, (moment, (kind, target)) in enumerate(zip(moments, changes, strict=True)):
            time.sleep(max(0.0, went_down + moment - time.monotonic()))
            try:
                code = _change(registrar, kind, target, position)
            except Exception as exc:  # what the desk would see
                user_errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                continue
            if code is not None:
                codes.append(code)
        time.sleep(max(0.0, went_down + args.down - time.monotonic()))
        _come_back(run, args.down_by)
        returned_at, returned_local = now(), _engine.local_now()
        breaker = build_circuit_breaker().state()
        pending = AccessWork.objects.filter(state=WorkState.PENDING)
        at_return = pending.aggregate(due=Max("due_at"), attempts=Max("attempts"))
        pending_at_return = pending.count()
        converged, seconds = _engine.wait_devices(
            run, codes, judge=_engine.converged_codes, since=returned_local, timeout=args.timeout
        )
        first_call = run.first_call_after(returned_local)
        duplicated = sum(
            1 for persons in _engine.persons_by_code(run.state()).values() if len(persons) > 1
        )
        failed = AccessWork.objects.filter(state=WorkState.FAILED).count()
        calls = run.calls()
        if len(converged) < len(codes):
            print(run.logs())
    due_after = (at_return["due"] - returned_at).total_seconds() if at_return["due"] else 0.0
    result = {
        "seconds": round(seconds, 1),
        "lost": len(codes) - len(converged),
        "duplicated": duplicated,
        "user_errors": len(user_errors),
        "pending_at_return": pending_at_return,
        "due_after_return_max": round(due_after, 1),
        "attempts_max": at_return["attempts"] or 0,
        "failed_work": failed,
        "breaker_at_return": breaker.state,
        "breaker_retry_after": (
            round((breaker.retry_at - returned_at).total_seconds(), 1)
            if breaker.retry_at and breaker.state == "open"
            else 0.0
        ),
        "first_call_after_return": (
            round((first_call - returned_local).total_seconds(), 1) if first_call else None
        ),
        "visitors": len(codes),
        "hcp_calls": calls.total,
        "quota_errors": calls.quota_errors,
    }
    for error in user_errors[:5]:
        print(f"  refused at the desk: {error}")
    print(
        f"run {number}: converged {result['seconds']} s after HCP returned; lost "
        f"{result['lost']} of {len(codes)}, duplicated {duplicated}, desk errors "
        f"{len(user_errors)}; at the return {pending_at_return} work rows pending, the last due "
        f"{result['due_after_return_max']} s later, attempts up to {result['attempts_max']}; "
        f"circuit breaker {breaker.state} (probe in {result['breaker_retry_after']} s), first "
        f"call to HCP {result['first_call_after_return']} s after its return"
    )
    return result


def _go_down(run: _engine.Run, how: str) -> None:
    if how == "stop":
        run.stop_simulator()
    else:
        run.sim.control.add_fault("drop")


def _come_back(run: _engine.Run, how: str) -> None:
    if how == "stop":
        run.start_simulator()
    else:
        run.sim.control.clear_faults()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _engine.add_site_arguments(parser)
    parser.add_argument("--changes", type=int, default=100, help="visits changed (100)")
    parser.add_argument("--down", type=float, default=60.0, help="HCP down this long (60 s)")
    parser.add_argument(
        "--down-by",
        choices=("stop", "fault"),
        default="stop",
        help="stop the simulator (default) or make it drop every connection",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after (600 s)"
    )
    args = parser.parse_args()
    if args.changes < 4:
        parser.error("--changes must be at least 4")
    print(
        f"outage: HCP down {args.down:g} s ({args.down_by}) while {args.changes} visits change; "
        f"quota {args.quota:g}/s, latency {args.latency_ms:g} ms, apply delay "
        f"{args.apply_delay:g} s, {args.workers} workers, {args.runs} run(s)"
    )
    with _engine.Site(args) as site:
        runs = [one_run(site, args, number + 1) for number in range(args.runs)]
    summary = _engine.medians(runs, KEYS)
    print(f"median of {len(runs)}: {summary}")
    print(
        json.dumps(
            {
                "bench": "outage",
                "changes": args.changes,
                "down": args.down,
                "down_by": args.down_by,
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
