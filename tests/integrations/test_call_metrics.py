"""The counts of HCP calls in the shared state (``call_metrics``), on both backends: real calls
to the simulator over HTTP move them, processes add up, labels stay bounded, and a broken
store never fails or noticeably slows a call."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import time
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import (
    HCPNotFound,
    HCPRateLimited,
    HCPServerError,
    HikCentralClient,
    HikCentralConfig,
)
from hikcentral.client import Paths
from propusk.integrations.hikcentral.breaker import CircuitOpen, SharedCircuitBreaker
from propusk.integrations.hikcentral.call_metrics import (
    DURATION_BUCKETS,
    RETRY_SECONDS,
    CallCounts,
    CallRecorder,
    FileCallStore,
    bucket_index,
    build_call_store,
    counts_from_fields,
)
from propusk.integrations.hikcentral.shared_state import SharedStateUnavailable

from .conftest import FakeClock, SharedState

pytestmark = pytest.mark.simulator

FORK = multiprocessing.get_context("fork")
VERSION = Paths.VERSION
BY_CODE = Paths.PERSON_BY_CODE


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(seed_demo=True) as sim:
        yield sim


@pytest.fixture
def hcp_site(simulator: SimulatorHandle) -> SimulatorHandle:
    simulator.control.reset()
    return simulator


def make_client(sim: SimulatorHandle, recorder: CallRecorder, **kwargs: object) -> HikCentralClient:
    config = HikCentralConfig(
        base_url=sim.base_url,
        app_key=sim.app_key,
        app_secret=sim.app_secret,
        utc_offset=timezone(timedelta(hours=5)),
        connect_timeout=2.0,
        read_timeout=2.0,
    )
    return HikCentralClient(config, call_observer=recorder, **kwargs)  # type: ignore[arg-type]


def recorder_for(shared: SharedState) -> CallRecorder:
    return CallRecorder(build_call_store(shared.url, key_prefix=shared.key_prefix))


def test_real_calls_move_the_counts(hcp_site: SimulatorHandle, shared: SharedState) -> None:
    recorder = recorder_for(shared)
    store = build_call_store(shared.url, key_prefix=shared.key_prefix)
    assert store.read().calls == {}
    with make_client(hcp_site, recorder) as client:
        for _ in range(3):
            client.version()
        with pytest.raises(HCPNotFound):
            client.get_person_by_code("V4404")
        hcp_site.control.add_fault("code", path=BY_CODE, count=1, code="0x02401009")
        with pytest.raises(HCPRateLimited):
            client.get_person_by_code("V4404")
    counts = store.read()
    assert counts.calls == {
        (VERSION, "ok"): 3,
        (BY_CODE, "hcp_not_found"): 1,
        (BY_CODE, "quota"): 1,
    }
    assert counts.durations[VERSION].count == 3
    assert counts.durations[BY_CODE].count == 2
    assert 0 < counts.durations[VERSION].total < 3 * 2.0
    cumulative = counts.durations[VERSION].cumulative()
    assert cumulative[-1] == (float("inf"), 3)
    assert [bound for bound, _ in cumulative[:-1]] == [float(b) for b in DURATION_BUCKETS]


def test_a_refused_call_is_counted_without_a_duration(
    hcp_site: SimulatorHandle, shared: SharedState, clock: FakeClock
) -> None:
    breaker = SharedCircuitBreaker.from_url(
        shared.url,
        failures=1,
        cooldown=30,
        probe_timeout=5,
        key_prefix=shared.key_prefix,
        clock=clock,
    )
    recorder = recorder_for(shared)
    hcp_site.control.add_fault("http", path=VERSION, count=1, status=503)
    with make_client(hcp_site, recorder, circuit_breaker=breaker) as client:
        with pytest.raises(HCPServerError):
            client.version()
        with pytest.raises(CircuitOpen):
            client.version()
    counts = build_call_store(shared.url, key_prefix=shared.key_prefix).read()
    assert counts.calls == {(VERSION, "http_error"): 1, (VERSION, "circuit_open"): 1}
    assert counts.durations[VERSION].count == 1  # only the request that was sent


def _record_many(url: str, key_prefix: str, calls: int) -> None:
    recorder = CallRecorder(build_call_store(url, key_prefix=key_prefix))
    for number in range(calls):
        recorder(VERSION, "ok", 0.003 * (number % 7))
        recorder(BY_CODE, "hcp_not_found", None)


def test_processes_add_up(shared: SharedState) -> None:
    processes = [
        FORK.Process(target=_record_many, args=(shared.url, shared.key_prefix, 200))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    counts = build_call_store(shared.url, key_prefix=shared.key_prefix).read()
    assert counts.calls == {(VERSION, "ok"): 800, (BY_CODE, "hcp_not_found"): 800}
    assert counts.durations[VERSION].count == 800
    assert counts.durations[VERSION].total == pytest.approx(
        4 * sum(0.003 * (n % 7) for n in range(200))
    )
    assert BY_CODE not in counts.durations


def test_labels_are_bounded(shared: SharedState) -> None:
    recorder = recorder_for(shared)
    recorder("/api/resource/v1/person/V000123/personInfo", "ok", 0.01)
    recorder(VERSION, "Ахметов 950302450127", 0.01)
    counts = build_call_store(shared.url, key_prefix=shared.key_prefix).read()
    assert counts.calls == {("other", "ok"): 1, (VERSION, "error"): 1}


def test_fields_not_written_here_are_ignored() -> None:
    counts = counts_from_fields(
        {
            f"c|{VERSION}|ok": "4",
            "c|/api/resource/v1/person/V000123/personInfo|ok": "1",
            f"c|{VERSION}|950302450127": "1",
            f"b|{VERSION}|99": "1",
            f"b|{VERSION}|2": "4",
            f"s|{VERSION}": "0.2",
            f"s|{VERSION}x": "0.2",
            "junk": "x",
        }
    )
    assert counts.calls == {(VERSION, "ok"): 4}
    assert counts.durations[VERSION].buckets[2] == 4
    assert counts.durations[VERSION].total == pytest.approx(0.2)


def test_bucket_bounds_include_their_value() -> None:
    assert bucket_index(0.0) == 0
    assert bucket_index(0.01) == 0
    assert bucket_index(0.0101) == 1
    assert bucket_index(10) == len(DURATION_BUCKETS) - 1
    assert bucket_index(10.5) == len(DURATION_BUCKETS)


def test_a_damaged_file_counts_from_zero(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "calls"
    path.write_bytes(b'{"c|/api/common/v1/version|ok": 3, "trunc')
    store = FileCallStore(path)
    with caplog.at_level(logging.WARNING):
        store.add(VERSION, "ok", 0.02)
    assert store.read().calls == {(VERSION, "ok"): 1}
    assert "unreadable" in caplog.text


# --- a broken store ----------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def broken_state(backend: str, tmp_path: Path, silent_port: int) -> str:
    if backend == "redis-refusing":
        return "redis://127.0.0.1:1/0"  # nothing listens there: connection refused
    if backend == "redis-hung":
        return f"redis://127.0.0.1:{silent_port}/0"
    directory = tmp_path / "state"
    (directory / "calls").mkdir(parents=True)  # a directory where the file should be
    return directory.as_uri()


@pytest.mark.parametrize("backend", ["file", "redis-refusing", "redis-hung"])
def test_a_broken_store_never_fails_a_call(
    hcp_site: SimulatorHandle,
    tmp_path: Path,
    backend: str,
    silent_server: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    url = broken_state(backend, tmp_path, silent_server)
    recorder = CallRecorder(build_call_store(url), clock=clock)
    with make_client(hcp_site, recorder) as client, caplog.at_level(logging.WARNING):
        started = time.monotonic()
        for _ in range(20):
            assert client.version().soft_version
        elapsed = time.monotonic() - started
        warnings = [r for r in caplog.records if "call metrics not recorded" in r.getMessage()]
        assert len(warnings) == 1  # once, not per call
        assert "; 1 call(s) not counted" in warnings[0].getMessage()
        # One try of the store (a hung Redis: its 0.25 s timeout), then none for a while.
        assert elapsed < 1.5
        # After the pause the store is tried again; still broken, the warning waits its minute.
        clock.advance(RETRY_SECONDS + 1)
        client.version()
        warnings = [r for r in caplog.records if "call metrics not recorded" in r.getMessage()]
        assert len(warnings) == 1
        clock.advance(60)
        client.version()
        warnings = [r for r in caplog.records if "call metrics not recorded" in r.getMessage()]
        assert len(warnings) == 2
        assert "21 call(s) not counted" in warnings[1].getMessage()


def test_the_store_is_used_again_once_it_works(shared: SharedState, tmp_path: Path) -> None:
    """A store that failed once is retried after the pause and counts again."""

    class Flaky:
        def __init__(self) -> None:
            self.inner = build_call_store(shared.url, key_prefix=shared.key_prefix)
            self.broken = True

        def add(self, endpoint: str, outcome: str, seconds: float | None) -> None:
            if self.broken:
                raise SharedStateUnavailable("down for a moment")
            self.inner.add(endpoint, outcome, seconds)

        def read(self) -> CallCounts:
            return self.inner.read()

    clock = FakeClock()
    store = Flaky()
    recorder = CallRecorder(store, clock=clock)
    recorder(VERSION, "ok", 0.01)
    store.broken = False
    recorder(VERSION, "ok", 0.01)  # within the pause: not tried
    clock.advance(RETRY_SECONDS)
    recorder(VERSION, "ok", 0.01)
    recorder(VERSION, "ok", 0.01)
    assert store.read().calls == {(VERSION, "ok"): 2}
