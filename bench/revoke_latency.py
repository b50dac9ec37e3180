"""Time to revoke under load: visits cancelled and checked out while a registration burst runs.

Each run (bench/_engine.py: a fresh PostgreSQL database, Redis, the HCP simulator with
``--quota-rps 20 --latency-ms 30 --apply-delay 1``, ``--workers`` celery worker processes and
beat, the rate limiter at the quota):

1. set-up, not measured: ``--active`` (1000) walk-in guests are registered and applied on the
   doors; half of the ``--revocations`` (200) chosen at random among them are checked in;
2. measured: a burst of ``--burst`` (500) new visitors is registered from two desk threads
   while, at ``--revocations`` random moments over ``--window`` (60) seconds, the chosen visits
   are cancelled (those not checked in) or checked out (those checked in), through
   ``visits.services.cancel`` / ``check_out``;
3. the engine records the time to revoke on each visit: ``access_revoked_at`` (HCP reports the
   devices hold a state read after the end) minus ``access_should_end_at`` (the end). Every
   revoked visitor is also checked at the simulator: no door may still hold them.

Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL (see bench/_engine.py). Figures per run and
their medians over ``--runs`` (3): ``p50``, ``p99``, ``max`` time to revoke (s); ``unrevoked``
(no ``access_revoked_at`` within ``--timeout``); ``still_on_doors`` (a door still holds a
revoked person); the split of each revocation into ``to_hcp`` (the end to HCP accepting the
revocation, ``HcpPerson.revoked_at``) and ``to_confirmed`` (from there to
``access_revoked_at``), p50/p99; ``burst_seconds`` and ``burst_lost`` for the new visitors.
Goal (issue 8): p99 <= 2 s. One JSON line last:

    {"bench": "revoke_latency", "active": 1000, "revocations": 200, "p50": ..., "runs": [...]}

Quick run: ``python bench/revoke_latency.py --active 200 --revocations 40 --burst 100 --runs 1``.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from datetime import datetime
from typing import Any

import _engine

KEYS = (
    "p50",
    "p99",
    "max",
    "unrevoked",
    "still_on_doors",
    "to_hcp_p50",
    "to_hcp_p99",
    "to_confirmed_p50",
    "to_confirmed_p99",
    "to_reapplied_p50",
    "to_reapplied_p99",
    "looked_p50",
    "looked_p99",
    "doors_p50",
    "doors_p99",
    "doors_max",
    "doors_after_confirmed_max",
    "burst_seconds",
    "burst_lost",
    "setup_seconds",
)


def _set_up(
    run: _engine.Run, registrar: _engine.Registrar, args: argparse.Namespace, rng: random.Random
) -> tuple[list[_engine.Registered], set[int]]:
    """``--active`` visits on the doors; the ones to end, half of them checked in."""
    from propusk.visits import services
    from propusk.visits.models import Visit

    active, errors = _engine.register_many(
        registrar, [registrar.visitor(i) for i in range(args.active)], threads=2
    )
    if errors:
        raise SystemExit(f"set-up registration refused: {errors[0]}")
    chosen = rng.sample(active, args.revocations)
    checked_in = {visit.visit_id for visit in chosen[: args.revocations // 2]}
    for visit_id in sorted(checked_in):
        services.check_in(visit=Visit.objects.get(pk=visit_id), actor=registrar.reception)
    applied, _ = _engine.wait_devices(
        run,
        [visit.person_code for visit in active],
        since=_engine.local_now(),
        timeout=args.timeout,
    )
    if len(applied) < len(active) or not _engine.wait_idle(timeout=args.timeout):
        print(run.logs())
        raise SystemExit("set-up: the active visits did not all reach the doors")
    return chosen, checked_in


def one_run(site: _engine.Site, args: argparse.Namespace, number: int) -> dict[str, Any]:
    from propusk.visits import services
    from propusk.visits.models import Visit

    rng = random.Random(args.seed * 31 + number)
    with site.run() as run:
        registrar = _engine.Registrar(args.seed)
        setup_started = time.monotonic()
        chosen, checked_in = _set_up(run, registrar, args, rng)
        setup_seconds = time.monotonic() - setup_started

        burst_visitors = [
            registrar.visitor(i) for i in range(args.active, args.active + args.burst)
        ]
        moments = sorted(rng.uniform(0, args.window) for _ in chosen)
        burst: dict[str, Any] = {}

        def register_burst() -> None:
            burst["visits"], burst["errors"] = _engine.register_many(
                registrar, burst_visitors, threads=2
            )

        watcher = DoorWatcher(run, [visit.person_code for visit in chosen])
        since = _engine.local_now()
        started = time.monotonic()
        desk = threading.Thread(target=register_burst)
        desk.start()
        watcher.start()
        for moment, visit in zip(moments, chosen, strict=True):
            time.sleep(max(0.0, started + moment - time.monotonic()))
            current = Visit.objects.get(pk=visit.visit_id)
            if visit.visit_id in checked_in:
                services.check_out(visit=current, actor=registrar.reception)
            else:
                services.cancel(visit=current, actor=registrar.reception, reason="Встреча отменена")
            watcher.ended(visit.person_code)
        desk.join()
        if burst["errors"]:
            raise SystemExit(f"burst registration refused: {burst['errors'][0]}")
        revoked_ids = [visit.visit_id for visit in chosen]
        deadline = time.monotonic() + args.timeout
        while (
            Visit.objects.filter(pk__in=revoked_ids, access_revoked_at__isnull=True).exists()
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        watcher.finish(timeout=args.timeout)
        burst_codes = [visit.person_code for visit in burst["visits"]]
        burst_applied, burst_seconds = _engine.wait_devices(
            run, burst_codes, since=since, timeout=args.timeout
        )
        figures = _revocation_figures(revoked_ids, watcher.off_at)
        persons = _engine.persons_by_code(run.state())
        still_on_doors = sum(
            1
            for visit in chosen
            if any(not _engine.off_devices(person) for person in persons.get(visit.person_code, []))
        )
        calls = run.calls()
        cpu = run.cpu_seconds()
    result = {
        **figures,
        "still_on_doors": still_on_doors,
        "burst_seconds": round(burst_seconds, 2),
        "burst_lost": len(burst_codes) - len(burst_applied),
        "setup_seconds": round(setup_seconds, 1),
        "hcp_calls": calls.total,
        "quota_errors": calls.quota_errors,
        "cpu_seconds": cpu,
    }
    print(
        f"run {number}: time to revoke p50 {result['p50']} s, p99 {result['p99']} s, max "
        f"{result['max']} s (to HCP p50/p99 {result['to_hcp_p50']}/{result['to_hcp_p99']} s, "
        f"then to confirmed {result['to_confirmed_p50']}/{result['to_confirmed_p99']} s: "
        f"to reapplied {result['to_reapplied_p50']}/{result['to_reapplied_p99']} s, "
        f"reapplied to confirmed {result['looked_p50']}/{result['looked_p99']} s); "
        f"gone from the doors p50/p99/max {result['doors_p50']}/{result['doors_p99']}/"
        f"{result['doors_max']} s; unrevoked {result['unrevoked']}, still on doors "
        f"{still_on_doors}; burst applied in {result['burst_seconds']} s, lost "
        f"{result['burst_lost']}; set-up {setup_seconds:.0f} s"
    )
    print(f"  calls: {calls.total} ({calls.short()}), quota errors {calls.quota_errors}")
    print(f"  cpu s: {cpu}")
    return result


class DoorWatcher(threading.Thread):
    """Presents each ended visitor's face at the entrance turnstile every quarter second
    (the simulator's passages) until it refuses them: when the doors really stop them, beside
    what the engine records. Cheap for the simulator, unlike reading its whole state."""

    def __init__(self, run: _engine.Run, codes: list[str]) -> None:
        super().__init__(daemon=True)
        self.run_ = run
        self.waiting = set(codes)
        self.ended_codes: set[str] = set()
        self.off_at: dict[str, datetime] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def ended(self, code: str) -> None:
        with self.lock:
            self.ended_codes.add(code)

    def run(self) -> None:
        from django.utils import timezone

        try:
            while self.waiting and not self.stop.is_set():
                with self.lock:
                    ended = sorted(self.ended_codes & self.waiting)
                for code in ended:
                    if not self.run_.turnstile_lets_in(code):
                        self.off_at[code] = timezone.now()
                        self.waiting.discard(code)
                self.stop.wait(0.25)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, *, timeout: float) -> None:
        self.join(timeout)
        self.stop.set()
        self.join()
        if self.error is not None:
            raise self.error


def _revocation_figures(visit_ids: list[int], off_at: dict[str, datetime]) -> dict[str, Any]:
    from propusk.access.models import HcpPerson
    from propusk.visits.models import Visit

    visits = list(Visit.objects.filter(pk__in=visit_ids).select_related("visitor"))
    persons = {
        code: (revoked_at, requested_at, applied_at)
        for code, revoked_at, requested_at, applied_at in HcpPerson.objects.filter(
            person_code__in=[visit.visitor.person_code for visit in visits]
        ).values_list("person_code", "revoked_at", "apply_requested_at", "applied_at")
    }
    total, to_hcp, to_confirmed, doors = [], [], [], []
    to_reapplied, looked = [], []
    after_confirmed: list[tuple[float, str]] = []
    slowest: list[tuple[float, str, str]] = []
    for visit in visits:
        end, confirmed = visit.access_should_end_at, visit.access_revoked_at
        off = off_at.get(visit.visitor.person_code)
        if end is not None and off is not None:
            doors.append((off - end).total_seconds())
        if end is None or confirmed is None:
            continue
        if off is not None:
            # The door refused later than HCP confirmed: the watcher's quarter-second rounds
            # (each a request per waiting face), or a confirmation before the devices had it.
            after_confirmed.append(((off - confirmed).total_seconds(), visit.visitor.person_code))
        total.append((confirmed - end).total_seconds())
        in_hcp, requested, applied = persons.get(visit.visitor.person_code, (None, None, None))
        slowest.append(
            (
                total[-1],
                visit.visitor.person_code,
                " -> ".join(
                    moment.astimezone().strftime("%H:%M:%S.%f")[:-3] if moment else "-"
                    for moment in (end, in_hcp, requested, applied)
                ),
            )
        )
        if in_hcp is not None:
            to_hcp.append((in_hcp - end).total_seconds())
            to_confirmed.append((confirmed - in_hcp).total_seconds())
            if (
                requested is not None
                and applied is not None
                and in_hcp <= requested <= applied
                and applied == confirmed
            ):
                # The run's start to HCP accepting the reapplication, then to the look that
                # found it applied (the devices' apply delay included). Not when the person
                # was reapplied again since (a validity end deferred while revocations
                # waited), before or after its confirmation: its moments are then that later
                # reapplication's.
                to_reapplied.append((requested - in_hcp).total_seconds())
                looked.append((applied - requested).total_seconds())

    # For a diagnosis with --keep-logs: the slowest, with their moments (local time, as the
    # logs): the end, the run that revoked it began, HCP accepted the reapplication, confirmed.
    for seconds, code, moments in sorted(slowest, reverse=True)[:3]:
        print(f"  slowest: {code} {seconds:.2f} s: {moments}")
    late = sorted(after_confirmed, reverse=True)[:3]
    print(
        "  the door refused after the confirmation, the latest: "
        + ", ".join(f"{code} {seconds:+.2f} s" for seconds, code in late)
    )

    def pct(values: list[float], share: float) -> float | None:
        return round(_engine.percentile(values, share), 2) if values else None

    return {
        "p50": pct(total, 0.5),
        "p99": pct(total, 0.99),
        "max": round(max(total), 2) if total else None,
        "unrevoked": len(visit_ids) - len(total),
        "to_hcp_p50": pct(to_hcp, 0.5),
        "to_hcp_p99": pct(to_hcp, 0.99),
        "to_confirmed_p50": pct(to_confirmed, 0.5),
        "to_confirmed_p99": pct(to_confirmed, 0.99),
        "to_reapplied_p50": pct(to_reapplied, 0.5),
        "to_reapplied_p99": pct(to_reapplied, 0.99),
        "looked_p50": pct(looked, 0.5),
        "looked_p99": pct(looked, 0.99),
        "doors_p50": pct(doors, 0.5),
        "doors_p99": pct(doors, 0.99),
        "doors_max": round(max(doors), 2) if doors else None,
        "doors_after_confirmed_max": (
            round(max(seconds for seconds, _ in after_confirmed), 2) if after_confirmed else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _engine.add_site_arguments(parser)
    parser.add_argument("--active", type=int, default=1000, help="active visits (1000)")
    parser.add_argument("--revocations", type=int, default=200, help="visits ended (200)")
    parser.add_argument("--window", type=float, default=60.0, help="over this long (60 s)")
    parser.add_argument("--burst", type=int, default=500, help="new visitors meanwhile (500)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting after (600 s)"
    )
    args = parser.parse_args()
    if not 0 < args.revocations <= args.active:
        parser.error("--revocations must be between 1 and --active")
    print(
        f"revoke latency: {args.active} active visits, {args.revocations} ended over "
        f"{args.window:g} s during a burst of {args.burst}; quota {args.quota:g}/s, latency "
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
                "bench": "revoke_latency",
                "active": args.active,
                "revocations": args.revocations,
                "window": args.window,
                "burst": args.burst,
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
