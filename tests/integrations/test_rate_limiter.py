"""The shared HCP rate limiter, on both backends (a file under flock, Redis with Lua).

First on a fake clock (no sleeping): the bucket, the priorities' reserves, the maximum wait.
Then in real processes: several acquiring at once never exceed burst + rate x elapsed, and
under saturation revocations are served ahead of grants, grants ahead of syncs.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from hikcentral import TransientError
from propusk.integrations.hikcentral.limiter import RateLimitWaitExceeded, SharedRateLimiter
from propusk.integrations.hikcentral.shared_state import SharedStateUnavailable

from .conftest import FakeClock, SharedState, forget, make_shared_state

# fork: the children start at once (no re-import); they share nothing but the shared state.
FORK = multiprocessing.get_context("fork")


def limiter(
    shared: SharedState,
    *,
    rate: float,
    burst: int,
    max_wait: float = 30.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SharedRateLimiter:
    return SharedRateLimiter.from_url(
        shared.url,
        rate=rate,
        burst=burst,
        max_wait=max_wait,
        key_prefix=shared.key_prefix,
        clock=clock,
        sleep=sleep,
    )


# --- on a fake clock ---------------------------------------------------------------------


class WouldWait(Exception):
    """Raised by a fake sleep: the caller would have had to wait."""


def test_a_new_bucket_lets_the_burst_through_then_one_call_per_interval(shared, clock):
    hcp = limiter(shared, rate=10, burst=4, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        hcp.acquire(priority="revoke")
    assert clock.sleeps == []

    started = clock.now
    for _ in range(10):
        hcp.acquire(priority="revoke")
    # Ten more calls at 10 per second: one second, slept in waits of a tenth each.
    assert clock.now - started == pytest.approx(1.0)
    assert clock.sleeps == pytest.approx([0.1] * 10)


def test_an_idle_bucket_fills_up_to_the_burst_and_no_more(shared, clock):
    hcp = limiter(shared, rate=10, burst=4, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        hcp.acquire(priority="revoke")
    clock.advance(3600)
    for _ in range(4):
        hcp.acquire(priority="revoke")
    assert clock.sleeps == []
    hcp.acquire(priority="revoke")
    assert clock.sleeps == pytest.approx([0.1])


def test_each_priority_leaves_its_reserve_in_the_bucket(shared, clock):
    """Burst 8: a sync leaves 6 tokens (three quarters), a grant 4 (half), a revocation
    none."""
    hcp = limiter(shared, rate=10, burst=8, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        hcp.acquire(priority="sync")  # 8 -> 6
    for _ in range(2):
        hcp.acquire(priority="grant")  # 6 -> 4
    for _ in range(4):
        hcp.acquire(priority="revoke")  # 4 -> 0
    assert clock.sleeps == []

    # Empty: each waits until its own threshold is there, revocations the least.
    waits = {}
    for priority in ("revoke", "grant", "sync"):
        clock.sleeps.clear()
        hcp.acquire(priority=priority)
        waits[priority] = sum(clock.sleeps)
        clock.advance(10)  # full again
        for _ in range(8):
            hcp.acquire(priority="revoke")  # and empty
    assert waits == pytest.approx({"revoke": 0.1, "grant": 0.5, "sync": 0.7})


def test_normal_is_a_grant_and_an_unknown_priority_is_the_lowest(shared, clock):
    hcp = limiter(shared, rate=10, burst=8, clock=clock, sleep=clock.sleep)
    waits = {}
    for priority in ("normal", "grant", "inventory-export", "sync"):
        clock.advance(10)
        for _ in range(8):
            hcp.acquire(priority="revoke")
        clock.sleeps.clear()
        hcp.acquire(priority=priority)
        waits[priority] = sum(clock.sleeps)
    assert waits["normal"] == pytest.approx(waits["grant"]) == pytest.approx(0.5)
    assert waits["inventory-export"] == pytest.approx(waits["sync"]) == pytest.approx(0.7)


def test_a_grant_starved_by_revocations_gives_up_after_the_maximum_wait(shared, clock):
    """Another process takes every token as it comes (a revocation each time this one
    sleeps): the grant sleeps until its threshold is due, asks again, and after the maximum
    wait raises a transient error - having slept, not spun."""

    def would_wait(seconds: float) -> None:
        raise WouldWait

    other = limiter(shared, rate=10, burst=4, clock=clock, sleep=would_wait)

    def take_every_token() -> None:
        while True:
            try:
                other.acquire(priority="revoke")
            except WouldWait:
                return

    def sleep_while_others_revoke(seconds: float) -> None:
        clock.sleep(seconds)
        take_every_token()  # whatever came in meanwhile

    hcp = limiter(
        shared, rate=10, burst=4, max_wait=2.0, clock=clock, sleep=sleep_while_others_revoke
    )
    take_every_token()

    started = clock.now
    with pytest.raises(RateLimitWaitExceeded) as raised:
        hcp.acquire(priority="grant")
    assert isinstance(raised.value, TransientError)
    assert raised.value.retryable
    assert not raised.value.may_have_applied
    assert "grant" in str(raised.value)
    assert clock.now - started <= 2.0 + 1e-6
    # Each sleep waited for the grant's two tokens (0.2 s): a handful of asks, no busy loop.
    assert 5 <= len(clock.sleeps) <= 10
    assert min(clock.sleeps) >= 0.1


def test_a_wait_longer_than_the_maximum_is_refused_at_once(shared, clock):
    hcp = limiter(shared, rate=1, burst=2, max_wait=1.5, clock=clock, sleep=clock.sleep)
    hcp.acquire(priority="revoke")
    hcp.acquire(priority="revoke")
    with pytest.raises(RateLimitWaitExceeded):
        hcp.acquire(priority="sync")  # needs 2 tokens: 2 s away
    assert clock.sleeps == []
    # Nothing was taken: a revocation still gets the first token as it comes.
    hcp.acquire(priority="revoke")
    assert clock.sleeps == pytest.approx([1.0])


def test_a_process_whose_clock_is_behind_waits_and_never_mints_calls(shared, clock):
    ahead = limiter(shared, rate=10, burst=4, clock=clock, sleep=clock.sleep)
    behind_clock = FakeClock(now=clock.now - 5)
    behind = limiter(shared, rate=10, burst=4, clock=behind_clock, sleep=behind_clock.sleep)
    for _ in range(4):
        ahead.acquire(priority="revoke")
    behind.acquire(priority="revoke")
    # It waits its 5 seconds of lag plus one interval; the bucket was not refilled by them.
    assert sum(behind_clock.sleeps) == pytest.approx(5.1)
    assert clock.sleeps == []


def test_unreadable_file_state_starts_from_an_empty_bucket(tmp_path, clock, caplog):
    shared = make_shared_state("file", tmp_path)
    hcp = limiter(shared, rate=10, burst=4, clock=clock, sleep=clock.sleep)
    hcp.acquire(priority="revoke")
    (tmp_path / "hcp-throttle" / "bucket").write_bytes(b"not a bucket")
    with caplog.at_level(logging.WARNING):
        hcp.acquire(priority="revoke")
    assert "unreadable" in caplog.text
    assert clock.sleeps == pytest.approx([0.1])  # empty, not full: never lets more out


def test_the_state_files_are_private(tmp_path, clock):
    shared = make_shared_state("file", tmp_path)
    limiter(shared, rate=10, burst=4, clock=clock).acquire(priority="revoke")
    directory = tmp_path / "hcp-throttle"
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "bucket").stat().st_mode & 0o777 == 0o600


def test_an_unreachable_redis_is_a_transient_error_and_nothing_is_sent(clock):
    hcp = SharedRateLimiter.from_url(
        "redis://:s3cret-password@127.0.0.1:1/0", rate=10, burst=4, max_wait=1.0, clock=clock
    )
    with pytest.raises(SharedStateUnavailable) as raised:
        hcp.acquire(priority="revoke")
    assert raised.value.retryable
    assert "127.0.0.1:1" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_bad_parameters_are_refused(tmp_path):
    url = (tmp_path / "state").as_uri()
    with pytest.raises(ValueError, match="burst"):
        SharedRateLimiter.from_url(url, rate=10, burst=1, max_wait=1)
    with pytest.raises(ValueError, match="rate"):
        SharedRateLimiter.from_url(url, rate=0, burst=4, max_wait=1)
    with pytest.raises(ValueError, match="max_wait"):
        SharedRateLimiter.from_url(url, rate=10, burst=4, max_wait=0)


# --- real processes ------------------------------------------------------------------------


def _acquire_in_child(
    shared: SharedState,
    rate: float,
    burst: int,
    priority: str,
    count: int,
    start: Event,
    results: Connection,
) -> None:
    try:
        hcp = limiter(shared, rate=rate, burst=burst)
        results.send(("ready", priority, []))
        start.wait(10)
        moments = []
        for _ in range(count):
            hcp.acquire(priority=priority)
            moments.append(time.time())
        results.send(("ok", priority, moments))
    except Exception as exc:  # reported to the test, which fails with it
        results.send(("error", priority, repr(exc)))


def run_processes(
    shared: SharedState,
    *,
    rate: float,
    burst: int,
    plan: list[tuple[str, int]],
    before_start: Callable[[], None] | None = None,
) -> list[tuple[float, str]]:
    """One process per (priority, count) of ``plan``, all released at once once every one is
    ready (``before_start`` runs just before that); every grant as (moment, priority), in
    order."""
    start = FORK.Event()
    receiver, sender = FORK.Pipe(duplex=False)
    children = [
        FORK.Process(
            target=_acquire_in_child, args=(shared, rate, burst, priority, count, start, sender)
        )
        for priority, count in plan
    ]
    for child in children:
        child.start()
    for _ in children:  # a slow start on a loaded machine must not look like a late caller
        if not receiver.poll(30):
            pytest.fail("a limiter process did not start in 30 s")
        status, priority, payload = receiver.recv()
        assert status == "ready", payload
    if before_start is not None:
        before_start()
    start.set()
    grants: list[tuple[float, str]] = []
    try:
        for _ in children:
            if not receiver.poll(30):
                pytest.fail("a limiter process did not finish in 30 s")
            status, priority, payload = receiver.recv()
            assert status == "ok", payload
            grants.extend((moment, priority) for moment in payload)
    finally:
        for child in children:
            child.join(5)
            if child.is_alive():
                child.kill()
    return sorted(grants)


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_processes_together_never_exceed_burst_plus_rate_times_elapsed(backend, tmp_path):
    shared = make_shared_state(backend, tmp_path)
    rate, burst = 100.0, 5
    try:
        grants = run_processes(shared, rate=rate, burst=burst, plan=[("revoke", 20)] * 4)
    finally:
        forget(shared)
    moments = [moment for moment, _ in grants]
    assert len(moments) == 80
    # Moments are taken after acquire() returns, so a process paused just then shifts one:
    # a slack of 2 calls plus 30 ms worth. One bucket per process would reach 4x the rate.
    slack = 2 + rate * 0.03
    worst = max(
        (last - first + 1) - (burst + rate * (moments[last] - moments[first]))
        for first in range(len(moments))
        for last in range(first, len(moments))
    )
    assert worst <= slack, f"{worst:.1f} calls over burst + rate x elapsed"
    # 80 calls at 100/s with 5 saved up cannot take less than 0.75 s.
    assert moments[-1] - moments[0] >= (80 - burst) / rate - 0.03


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_under_saturation_revocations_go_first_then_grants_then_syncs(backend, tmp_path):
    """An empty bucket and processes of each priority waiting at once: revocations take every
    token as it comes; grants only start when they are done, syncs after the grants."""
    shared = make_shared_state(backend, tmp_path)
    rate, burst = 40.0, 8
    try:
        drain = limiter(shared, rate=rate, burst=burst)

        def empty_the_bucket() -> None:
            for _ in range(burst):
                drain.acquire(priority="revoke")

        grants = run_processes(
            shared,
            rate=rate,
            burst=burst,
            plan=[("sync", 4), ("grant", 4), ("grant", 4), ("revoke", 4), ("revoke", 4)],
            before_start=empty_the_bucket,
        )
    finally:
        forget(shared)
    order = [priority for _, priority in grants]
    last_revoke = max(i for i, priority in enumerate(order) if priority == "revoke")
    last_grant = max(i for i, priority in enumerate(order) if priority == "grant")
    # A process paused at the wrong moment may let one lower call slip ahead.
    assert order[:last_revoke].count("grant") + order[:last_revoke].count("sync") <= 1, order
    assert order[:last_grant].count("sync") <= 1, order


def test_the_file_backend_directory_is_created_on_first_use(tmp_path: Path) -> None:
    url = (tmp_path / "var" / "hcp-throttle").as_uri()
    SharedRateLimiter.from_url(url, rate=10, burst=4, max_wait=1).acquire(priority="grant")
    assert (tmp_path / "var" / "hcp-throttle" / "bucket").stat().st_size == 16
