"""The shared limiter and breaker in the HCP client, against the simulator over real HTTP.

Four worker processes calling HCP at once stay under its call quota only with the shared
limiter (without it, as before, they run into it); a failing HCP opens the breaker, after which
nothing reaches HCP until the probe.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import timedelta, timezone
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import (
    CircuitBreaker,
    HCPBusy,
    HCPRateLimited,
    HCPServerError,
    HikCentralClient,
    HikCentralConfig,
    RateLimiter,
)
from propusk.integrations.hikcentral.breaker import (
    CircuitOpen,
    SharedCircuitBreaker,
    build_circuit_breaker,
)
from propusk.integrations.hikcentral.factory import build_client
from propusk.integrations.hikcentral.limiter import SharedRateLimiter

from .conftest import FakeClock

pytestmark = pytest.mark.simulator

FORK = multiprocessing.get_context("fork")
QUOTA_PER_SECOND = 40.0
VERSION_PATH = "/api/common/v1/version"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(quota_rps=QUOTA_PER_SECOND) as sim:
        yield sim


@pytest.fixture
def hcp_site(simulator: SimulatorHandle) -> SimulatorHandle:
    simulator.control.reset()
    return simulator


def make_client(
    sim: SimulatorHandle,
    *,
    rate_limiter: RateLimiter | None = None,
    circuit_breaker: CircuitBreaker | None = None,
) -> HikCentralClient:
    config = HikCentralConfig(
        base_url=sim.base_url,
        app_key=sim.app_key,
        app_secret=sim.app_secret,
        utc_offset=timezone(timedelta(hours=5)),
        connect_timeout=5.0,
        read_timeout=5.0,
    )
    return HikCentralClient(config, rate_limiter=rate_limiter, circuit_breaker=circuit_breaker)


def _call_hcp(
    sim: SimulatorHandle, limiter_url: str | None, calls: int, start: Event, results: Connection
) -> None:
    try:
        limiter = None
        if limiter_url is not None:
            # The site's quota is 40/s: the limiter is set below it, as docs/hikcentral.md says.
            limiter = SharedRateLimiter.from_url(limiter_url, rate=30, burst=5, max_wait=30)
        quota_errors = 0
        with make_client(sim, rate_limiter=limiter) as client:
            start.wait(10)
            for _ in range(calls):
                try:
                    client.version()
                except HCPRateLimited:
                    quota_errors += 1
        results.send(("ok", quota_errors))
    except Exception as exc:  # reported to the test, which fails with it
        results.send(("error", repr(exc)))


def quota_errors_of_four_processes(
    sim: SimulatorHandle, *, limiter_url: str | None, calls: int
) -> int:
    start = FORK.Event()
    receiver, sender = FORK.Pipe(duplex=False)
    children = [
        FORK.Process(target=_call_hcp, args=(sim, limiter_url, calls, start, sender))
        for _ in range(4)
    ]
    for child in children:
        child.start()
    start.set()
    total = 0
    try:
        for _ in children:
            if not receiver.poll(60):
                pytest.fail("a worker process did not finish in 60 s")
            status, payload = receiver.recv()
            assert status == "ok", payload
            total += payload
    finally:
        for child in children:
            child.join(5)
            if child.is_alive():
                child.kill()
    return total


def test_four_processes_sharing_the_limiter_stay_under_the_hcp_quota(
    hcp_site: SimulatorHandle, tmp_path: Path
) -> None:
    limited = quota_errors_of_four_processes(
        hcp_site, limiter_url=(tmp_path / "hcp-throttle").as_uri(), calls=10
    )
    assert limited == 0

    # The same processes without it - the old code - run into HCP's quota.
    unlimited = quota_errors_of_four_processes(hcp_site, limiter_url=None, calls=25)
    assert unlimited > 0


class CountingLimiter:
    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner
        self.calls = 0

    def acquire(self, *, priority: str) -> None:
        self.calls += 1
        self.inner.acquire(priority=priority)


def test_a_failing_hcp_opens_the_breaker_and_nothing_reaches_it_until_the_probe(
    hcp_site: SimulatorHandle, tmp_path: Path
) -> None:
    url = (tmp_path / "hcp-throttle").as_uri()
    clock = FakeClock()
    breaker = SharedCircuitBreaker.from_url(
        url, failures=3, cooldown=30, probe_timeout=60, clock=clock
    )
    limiter = CountingLimiter(SharedRateLimiter.from_url(url, rate=30, burst=5, max_wait=30))
    control = hcp_site.control
    with make_client(hcp_site, rate_limiter=limiter, circuit_breaker=breaker) as client:
        control.add_fault("http", path=VERSION_PATH, count=3, status=503)
        for _ in range(3):
            with pytest.raises(HCPServerError):
                client.version()
        assert breaker.state().state == "open"

        # A rule that would answer the next call that reaches HCP: it must stay unused.
        control.add_fault("code", path=VERSION_PATH, count=1, code="6", msg="Server busy")
        with pytest.raises(CircuitOpen) as refused:
            client.version()
        assert refused.value.retry_after == pytest.approx(2)  # the first cool-down, short
        assert [rule["count"] for rule in control.faults()["rules"]] == [1]
        assert limiter.calls == 3  # no token spent on the refused call

        clock.advance(30)
        with pytest.raises(HCPBusy):
            client.version()  # the probe reached HCP (and used up the rule): open again
        assert control.faults()["rules"] == []
        with pytest.raises(CircuitOpen):
            client.version()

        clock.advance(30)
        assert client.version().soft_version  # the probe: HCP answers
        assert breaker.state().state == "closed"
        client.version()
    assert limiter.calls == 6


def test_clients_from_the_factory_share_one_breaker(
    hcp_site: SimulatorHandle, settings: Any
) -> None:
    """Every client build_client() makes (one per worker process) uses the shared limiter and
    breaker: failures seen by one pause the others."""
    settings.HCP_BASE_URL = hcp_site.base_url
    settings.HCP_APP_KEY = hcp_site.app_key
    settings.HCP_APP_SECRET = hcp_site.app_secret
    settings.HCP_CIRCUIT_BREAKER_FAILURES = 2
    with build_client() as first, build_client() as second:
        second.version()
        hcp_site.control.add_fault("http", path=VERSION_PATH, count=2, status=502)
        for _ in range(2):
            with pytest.raises(HCPServerError):
                first.version()
        with pytest.raises(CircuitOpen):
            second.version()
    assert build_circuit_breaker().state().state == "open"
