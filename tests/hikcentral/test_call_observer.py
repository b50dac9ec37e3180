"""The call observer hook (``hikcentral.calls``): every HTTP request to the simulator is told
with its endpoint (never an identifier), its outcome and its duration; requests refused before
sending are told without a duration; an observer that raises never fails the call."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import (
    OUTCOMES,
    CircuitOpenError,
    HCPAlreadyExists,
    HCPBusy,
    HCPNetworkError,
    HCPNotFound,
    HCPProtocolError,
    HCPRateLimited,
    HCPServerError,
    HCPTimeout,
    HCPTLSError,
    HikCentralClient,
    HikCentralError,
    RateLimitWaitError,
    TransientError,
    transport,
)
from hikcentral.calls import outcome_of, refusal_outcome
from hikcentral.client import Paths, endpoint_of
from hikcentral.errors import error_for_code

from .conftest import RecordingBreaker, make_config, seed_site, visitor

pytestmark = pytest.mark.simulator

VERSION = Paths.VERSION


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(quirks="default") as sim:
        yield sim


@pytest.fixture
def site(simulator: SimulatorHandle) -> SimulatorHandle:
    seed_site(simulator)
    return simulator


@dataclass
class Calls:
    """What the observer was told, in order."""

    seen: list[tuple[str, str, float | None]] = field(default_factory=list)

    def __call__(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        self.seen.append((endpoint, outcome, seconds))

    def outcomes(self) -> list[tuple[str, str]]:
        return [(endpoint, outcome) for endpoint, outcome, _ in self.seen]


def observed_client(site: SimulatorHandle, calls: Calls, **kwargs: object) -> HikCentralClient:
    overrides = {key: kwargs.pop(key) for key in ("read_timeout",) if key in kwargs}
    return HikCentralClient(make_config(site, **overrides), call_observer=calls, **kwargs)  # type: ignore[arg-type]


def test_answers_and_business_errors_by_endpoint(site: SimulatorHandle) -> None:
    calls = Calls()
    with observed_client(site, calls) as client:
        client.version()
        person_id = client.add_person(visitor("V7001", family_name="Ахметова"))
        with pytest.raises(HCPAlreadyExists):
            client.add_person(visitor("V7001"))
        with pytest.raises(HCPNotFound):
            client.get_person_by_code("V7999")
        client.person_application(person_id)
    assert calls.outcomes() == [
        (VERSION, "ok"),
        (Paths.PERSON_ADD, "ok"),
        (Paths.PERSON_ADD, "hcp_already_exists"),
        (Paths.PERSON_BY_CODE, "hcp_not_found"),
        # The person's id is in the request's path, never in the endpoint.
        (Paths.ELEMENT_DOWNLOAD_DETAIL, "ok"),
    ]
    assert all(seconds is not None and 0 < seconds < 5 for _, _, seconds in calls.seen)
    assert not any(person_id in endpoint.split("/") for endpoint, _, _ in calls.seen)


def test_each_page_is_a_request(site: SimulatorHandle) -> None:
    calls = Calls()
    with HikCentralClient(make_config(site, page_size=2), call_observer=calls) as client:
        for number in range(5):
            client.add_person(visitor(f"V71{number:02d}"))
        calls.seen.clear()
        assert len(client.list_persons()) == 5
    assert calls.outcomes() == [(Paths.PERSON_LIST, "ok")] * 3


def test_transient_failures(site: SimulatorHandle) -> None:
    calls = Calls()
    control = site.control
    with observed_client(site, calls, read_timeout=0.5) as client:
        control.add_fault("code", path=VERSION, count=1, code="6", msg="Server busy")
        with pytest.raises(HCPBusy):
            client.version()
        control.add_fault("http", path=VERSION, count=1, status=503)
        with pytest.raises(HCPServerError):
            client.version()
        control.add_fault("code", path=VERSION, count=1, code="0x02401009", msg="quota")
        with pytest.raises(HCPRateLimited):
            client.version()
        control.add_fault("http", path=VERSION, count=1, status=429)
        with pytest.raises(HCPRateLimited):
            client.version()
        control.add_fault("latency", path=VERSION, count=1, ms=1500)
        with pytest.raises(HCPTimeout):
            client.version()
        # A read whose connection dropped is sent once more: two requests, both told.
        control.add_fault("drop", path=VERSION, count=2)
        with pytest.raises(HCPNetworkError):
            client.version()
    assert calls.outcomes() == [
        (VERSION, "hcp_busy"),
        (VERSION, "http_error"),
        (VERSION, "quota"),
        (VERSION, "quota"),
        (VERSION, "timeout"),
        (VERSION, "connection_error"),
        (VERSION, "connection_error"),
    ]
    timed_out = calls.seen[4][2]
    assert timed_out is not None
    assert 0.5 <= timed_out < 1.5


def test_a_call_the_breaker_refuses_is_told_without_a_duration(site: SimulatorHandle) -> None:
    calls = Calls()
    breaker = RecordingBreaker(open=True)
    with (
        observed_client(site, calls, circuit_breaker=breaker) as client,
        pytest.raises(CircuitOpenError),
    ):
        client.version()
    assert calls.seen == [(VERSION, "circuit_open", None)]


@dataclass
class GivingUpLimiter:
    error: Exception

    def acquire(self, *, priority: str) -> None:
        raise self.error


def test_a_call_the_limiter_gives_up_on_is_told_without_a_duration(
    site: SimulatorHandle,
) -> None:
    calls = Calls()
    for error, outcome in [
        (RateLimitWaitError("no slot in time"), "rate_limit_wait"),
        (TransientError("the shared state is unavailable"), "not_sent"),
    ]:
        limiter = GivingUpLimiter(error)
        with (
            observed_client(site, calls, rate_limiter=limiter) as client,
            pytest.raises(type(error)),
        ):
            client.version()
        assert calls.seen[-1] == (VERSION, outcome, None)


def test_an_observer_that_raises_never_fails_the_call(
    site: SimulatorHandle, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "_observer_warnings", transport._Pacer(60.0))

    def broken(endpoint: str, outcome: str, seconds: float | None) -> None:
        raise RuntimeError("metrics store on fire")

    with (
        HikCentralClient(make_config(site), call_observer=broken) as client,
        caplog.at_level(logging.WARNING, logger="hikcentral"),
    ):
        for _ in range(5):
            assert client.version().soft_version
        site.control.add_fault("code", path=VERSION, count=1, code="128")
        with pytest.raises(HCPNotFound):  # HCP's own answer, not the observer's error
            client.version()
    warnings = [r for r in caplog.records if "call observer failed" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not per call


def test_endpoints_are_a_bounded_set() -> None:
    assert endpoint_of(Paths.VERSION) == Paths.VERSION
    assert endpoint_of("/api/visitor/v1/person/5021/elementDownloadDetail") == (
        Paths.ELEMENT_DOWNLOAD_DETAIL
    )
    # A path the client does not know might carry anything: never its text.
    assert endpoint_of("/api/resource/v1/person/V000123/personInfo") == "other"
    assert endpoint_of("/api/visitor/v1/person/1/2/elementDownloadDetail") == "other"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (error_for_code("128", "not found", path=VERSION), "hcp_not_found"),
        (error_for_code("0x00072001", "bad", path=VERSION), "hcp_parameter_error"),
        (
            error_for_code("0x02401003", "sign", path=VERSION, http_status=401),
            "hcp_signature_rejected",
        ),
        (error_for_code("4", "service timeout", path=VERSION), "hcp_timeout"),
        (error_for_code("5", "service error", path=VERSION), "hcp_server_error"),
        (error_for_code("192", "failed", path=VERSION), "hcp_operation_failed"),
        (error_for_code("77777", "unknown", path=VERSION), "hcp_operation_failed"),
        (error_for_code("0x02401009", "quota", path=VERSION), "quota"),
        (error_for_code("oops", "not a code", path=VERSION), "bad_response"),
        (HCPServerError("HTTP 500", path=VERSION, http_status=500, code="5"), "http_error"),
        (HCPServerError("HTTP 502", path=VERSION, http_status=502), "http_error"),
        (HCPNotFound("HTTP 404", path=VERSION, http_status=404), "http_error"),
        (HCPRateLimited("HTTP 429", path=VERSION, http_status=429), "quota"),
        (HCPTimeout("read timeout", path=VERSION), "timeout"),
        (HCPNetworkError("refused", path=VERSION), "connection_error"),
        (HCPTLSError("certificate", path=VERSION), "connection_error"),
        (HCPProtocolError("bad JSON", path=VERSION, http_status=200), "bad_response"),
        (CircuitOpenError("paused"), "circuit_open"),
        (RateLimitWaitError("no slot"), "rate_limit_wait"),
        (HikCentralError("something else"), "error"),
    ],
)
def test_outcome_of_each_error(error: HikCentralError, outcome: str) -> None:
    assert outcome_of(error) == outcome
    assert outcome in OUTCOMES


def test_refusals() -> None:
    assert refusal_outcome(CircuitOpenError("paused")) == "circuit_open"
    assert refusal_outcome(RateLimitWaitError("no slot")) == "rate_limit_wait"
    assert refusal_outcome(OSError("state file")) == "not_sent"
