"""HCP calls side by side: a few at once from one process (``HCP_PARALLEL_CALLS``).

Each call still takes its token from the one rate limiter and passes the one circuit breaker:
running them side by side only lets their answers' latency overlap, it sends nothing more.
The access engine uses it where a revocation waits for several independent calls (a
revocation batch's look-ups and validity ends, the per-person looks at the devices): five
look-ups one after another cost five round trips before the devices are told.

The threads only call HCP - the caller does every database write itself, with the answers -
and are made in the process that uses them (after a worker's fork, never inherited). A hook a
call may set off (the circuit breaker closing wakes the queued work: database writes) is
wrapped with :func:`in_caller`: from such a thread it runs in the caller's, once the answers
are in.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings

__all__ = ["Outcome", "in_caller", "side_by_side"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.Lock()
_pools: dict[int, tuple[int, ThreadPoolExecutor]] = {}
# In a pool thread running a call: the hooks it set off, to run in the caller's thread.
_local = threading.local()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A call's answer, or the exception it raised (raised again by :meth:`get`)."""

    value: T | None = None
    error: Exception | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def side_by_side(calls: Sequence[Callable[[], T]]) -> list[Outcome[T]]:
    """Run ``calls`` at most ``HCP_PARALLEL_CALLS`` at a time; their outcomes, in order.

    The first call goes alone, in the caller's thread: after an outage it is the circuit
    breaker's probe, and calls beside it would be refused while it is in flight (and wait
    for the next probe); its answer closes the circuit for the others. Then the rest go side
    by side (with the setting at 1, one after another, here). An exception is kept in its
    outcome, never lost; anything other than an ``Exception`` (an interrupt) is raised."""
    limit = settings.HCP_PARALLEL_CALLS
    if len(calls) <= 2 or limit <= 1:
        return [_run(call) for call in calls]
    first = _run(calls[0])
    pool = _pool(limit)
    futures = [pool.submit(_in_pool, call) for call in calls[1:]]
    # Every answer is waited for (result() raises an interrupt the thread met) before the
    # hooks run, each once.
    done = [future.result() for future in futures]
    hooks: list[Callable[[], object]] = []
    for _, set_off in done:
        hooks.extend(hook for hook in set_off if hook not in hooks)
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("HCP call hook %r failed (run after the calls side by side)", hook)
    return [first, *(outcome for outcome, _ in done)]


def in_caller(hook: Callable[[], object]) -> Callable[[], None]:
    """``hook``, run at once in an ordinary thread; set off by a call running side by side,
    run in the thread that called :func:`side_by_side` once every answer is in."""

    def run_or_defer() -> None:
        deferred: list[Callable[[], object]] | None = getattr(_local, "deferred", None)
        if deferred is None:
            hook()
        else:
            deferred.append(hook)

    return run_or_defer


def _run(call: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(value=call())
    except Exception as exc:
        return Outcome(error=exc)


def _in_pool(call: Callable[[], T]) -> tuple[Outcome[T], list[Callable[[], object]]]:
    _local.deferred = []
    try:
        return _run(call), _local.deferred
    finally:
        _local.deferred = None


def _pool(limit: int) -> ThreadPoolExecutor:
    """This process's pool (a forked child makes its own; a changed limit a new one)."""
    pid = os.getpid()
    with _lock:
        held = _pools.get(pid)
        if held is not None and held[0] == limit:
            return held[1]
        pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="hcp-call")
        _pools[pid] = (limit, pool)
    if held is not None:
        held[1].shutdown(wait=False)
    return pool
