"""The shared HCP circuit breaker, on both backends, on a fake clock; then shared by two real
processes."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import pytest

from hikcentral import CircuitOpenError, HCPRateLimited, HCPServerError, HCPTimeout
from propusk.integrations.hikcentral.breaker import (
    FIRST_COOLDOWN_SECONDS,
    CircuitOpen,
    SharedCircuitBreaker,
    probe_cooldown,
)
from propusk.integrations.hikcentral.shared_state import SharedStateUnavailable

from .conftest import FakeClock, SharedState

FORK = multiprocessing.get_context("fork")
COOLDOWN = 30.0  # the longest cool-down
FIRST = FIRST_COOLDOWN_SECONDS  # the first one, 2 s
PROBE_TIMEOUT = 50.0


def breaker(shared: SharedState, clock: Callable[[], float]) -> SharedCircuitBreaker:
    return SharedCircuitBreaker.from_url(
        shared.url,
        failures=3,
        cooldown=COOLDOWN,
        probe_timeout=PROBE_TIMEOUT,
        key_prefix=shared.key_prefix,
        clock=clock,
    )


def server_error() -> HCPServerError:
    return HCPServerError("HTTP 503", path="/api/common/v1/version", http_status=503)


def moment(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.now, UTC)


def fail_until_open(hcp: SharedCircuitBreaker, times: int = 3) -> None:
    for _ in range(times):
        hcp.before_call()
        hcp.record_failure(server_error())


def test_a_new_breaker_is_closed(shared, clock):
    hcp = breaker(shared, clock)
    state = hcp.state()
    assert (state.state, state.since, state.failures, state.retry_at) == ("closed", None, 0, None)
    hcp.before_call()


def test_it_opens_after_consecutive_transient_failures_only(shared, clock):
    hcp = breaker(shared, clock)
    fail_until_open(hcp, times=2)
    hcp.before_call()
    hcp.record_success()  # HCP answered: the count starts again
    assert hcp.state().failures == 0
    fail_until_open(hcp, times=2)
    assert hcp.state().state == "closed"

    hcp.before_call()
    hcp.record_failure(HCPTimeout("read timeout", may_have_applied=True))
    state = hcp.state()
    assert state.state == "open"
    assert state.failures == 3
    assert state.since == moment(clock)
    # The first cool-down is short: HCP back after a short outage is noticed within seconds.
    assert state.retry_at == datetime.fromtimestamp(clock.now + FIRST, UTC)


def test_while_open_calls_are_refused_at_once_until_the_cooldown_is_over(shared, clock):
    hcp = breaker(shared, clock)
    fail_until_open(hcp)
    clock.advance(FIRST - 0.5)
    with pytest.raises(CircuitOpen) as raised:
        hcp.before_call()
    assert isinstance(raised.value, CircuitOpenError)
    assert raised.value.retryable
    assert not raised.value.may_have_applied
    assert raised.value.retry_after == pytest.approx(0.5)
    assert hcp.state().state == "open"


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes(shared, clock):
    hcp = breaker(shared, clock)
    other_process = breaker(shared, clock)
    fail_until_open(hcp)
    clock.advance(COOLDOWN)
    assert hcp.state().state == "half-open"  # the next call will be the probe

    hcp.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        other_process.before_call()  # only one at a time
    hcp.record_success()

    state = other_process.state()
    assert (state.state, state.failures, state.since) == ("closed", 0, moment(clock))
    other_process.before_call()


def test_a_failed_probe_opens_it_again_for_a_longer_cooldown(shared, clock):
    hcp = breaker(shared, clock)
    fail_until_open(hcp)
    clock.advance(FIRST)
    hcp.before_call()
    hcp.record_failure(HCPRateLimited("quota", code="0x02401009"))
    state = hcp.state()
    assert (state.state, state.failures, state.since) == ("open", 4, moment(clock))
    clock.advance(2 * FIRST - 1)
    with pytest.raises(CircuitOpen):
        hcp.before_call()
    clock.advance(1)
    hcp.before_call()  # the next probe


def test_the_cooldown_doubles_with_each_failed_probe_up_to_the_configured_one(shared, clock):
    """A long outage: probes after 2, 4, 8, 16 s, then every 30 s (the configured cool-down);
    the probe that HCP answers closes the circuit, and the next outage starts at 2 s again."""
    hcp = breaker(shared, clock)
    other_process = breaker(shared, clock)  # the state is shared, the growth too
    fail_until_open(hcp)
    waits = []
    for _ in range(7):
        retry_at = hcp.state().retry_at
        assert retry_at is not None
        waits.append(retry_at.timestamp() - clock.now)
        clock.advance(waits[-1])
        other_process.before_call()  # the probe
        other_process.record_failure(server_error())
    assert waits == pytest.approx([2, 4, 8, 16, 30, 30, 30])

    clock.advance(COOLDOWN)
    hcp.before_call()
    hcp.record_success()
    assert hcp.state().state == "closed"
    fail_until_open(hcp)
    assert hcp.state().retry_at == datetime.fromtimestamp(clock.now + FIRST, UTC)


def test_probe_cooldown():
    assert [probe_cooldown(n, first=2, maximum=30) for n in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    assert probe_cooldown(0, first=2, maximum=1) == 1  # never above the configured one
    assert probe_cooldown(10_000, first=2, maximum=30) == 30  # no overflow
    with pytest.raises(ValueError, match="negative"):
        probe_cooldown(-1, first=2, maximum=30)


def test_a_probe_that_never_reports_is_replaced_after_its_lease(shared, clock):
    hcp = breaker(shared, clock)
    fail_until_open(hcp)
    clock.advance(FIRST)
    hcp.before_call()  # this probe's worker dies: no outcome recorded
    clock.advance(PROBE_TIMEOUT - 1)
    with pytest.raises(CircuitOpen):
        hcp.before_call()
    clock.advance(1)
    hcp.before_call()  # another probe
    hcp.record_success()
    assert hcp.state().state == "closed"


def test_an_answer_to_a_call_sent_before_it_opened_does_not_close_it(shared, clock):
    hcp = breaker(shared, clock)
    fail_until_open(hcp)
    hcp.record_success()
    assert hcp.state().state == "open"
    with pytest.raises(CircuitOpen):
        hcp.before_call()


def test_changes_of_state_are_logged_without_bodies_or_secrets(shared, clock, caplog):
    hcp = breaker(shared, clock)
    secret_error = HCPServerError(
        "HTTP 500 from HCP: appSecret=zX9-secret person 900101300123",
        code="0x00052102",
        msg="person 900101300123 Ахметова Айгерим",
        http_status=500,
    )
    with caplog.at_level(logging.INFO, logger="propusk.integrations.hikcentral.breaker"):
        for _ in range(3):
            hcp.before_call()
            hcp.record_failure(secret_error)
        clock.advance(COOLDOWN)
        hcp.before_call()
        hcp.record_failure(secret_error)
        clock.advance(COOLDOWN)
        hcp.before_call()
        hcp.record_success()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 5, messages
    assert "opened after 3 consecutive transient failures" in messages[0]
    assert "HCPServerError code=0x00052102 http_status=500" in messages[0]
    assert "half-open" in messages[1]
    assert "re-opened" in messages[2]
    assert "half-open" in messages[3]
    assert "closed" in messages[4]
    assert not any(
        "secret" in text or "900101300123" in text or "Ахметова" in text for text in messages
    )


def test_an_unreachable_redis_refuses_the_call_but_never_hides_its_outcome(clock, caplog):
    hcp = SharedCircuitBreaker.from_url(
        "redis://:s3cret-password@127.0.0.1:1/0",
        failures=3,
        cooldown=COOLDOWN,
        probe_timeout=PROBE_TIMEOUT,
        clock=clock,
    )
    with pytest.raises(SharedStateUnavailable) as raised:
        hcp.before_call()
    assert raised.value.retryable
    assert "s3cret" not in str(raised.value)
    # After a call: the call's own result must reach its caller, so nothing is raised.
    with caplog.at_level(logging.WARNING):
        hcp.record_success()
        hcp.record_failure(server_error())
    assert "could not record a success" in caplog.text
    assert "could not record a failure (HCPServerError http_status=503)" in caplog.text
    assert "s3cret" not in caplog.text


def test_unreadable_file_state_is_a_closed_breaker(tmp_path, clock, caplog):
    shared = SharedState("file", (tmp_path / "hcp-throttle").as_uri(), "")
    hcp = breaker(shared, clock)
    fail_until_open(hcp)
    (tmp_path / "hcp-throttle" / "breaker").write_text('{"state": "ajar"}')
    with caplog.at_level(logging.WARNING):
        hcp.before_call()
    assert "unreadable" in caplog.text
    assert hcp.state().state == "closed"


# --- two processes -------------------------------------------------------------------------


def _serve_breaker(shared: SharedState, now: Any, commands: Connection) -> None:
    """Run breaker operations sent by the test, on the test's shared fake clock."""
    hcp = breaker(shared, lambda: now.value)
    while True:
        command = commands.recv()
        if command == "stop":
            return
        try:
            if command == "before":
                hcp.before_call()
                commands.send("allowed")
            elif command == "failure":
                hcp.record_failure(server_error())
                commands.send("recorded")
            elif command == "success":
                hcp.record_success()
                commands.send("recorded")
            else:
                commands.send(hcp.state().state)
        except CircuitOpen:
            commands.send("refused")
        except Exception as exc:  # reported to the test, which fails with it
            commands.send(f"error: {exc!r}")


class BreakerProcess:
    def __init__(self, shared: SharedState, now: Any) -> None:
        self.connection, theirs = FORK.Pipe()
        self.process = FORK.Process(target=_serve_breaker, args=(shared, now, theirs))
        self.process.start()

    def __call__(self, command: str) -> str:
        self.connection.send(command)
        if not self.connection.poll(10):
            pytest.fail(f"the breaker process did not answer {command!r}")
        answer: str = self.connection.recv()
        assert not answer.startswith("error"), answer
        return answer

    def stop(self) -> None:
        self.connection.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


def test_two_processes_share_one_breaker(shared):
    now = FORK.Value("d", 1_767_225_600.0)
    first, second = BreakerProcess(shared, now), BreakerProcess(shared, now)
    try:
        for _ in range(3):
            assert first("before") == "allowed"
            assert first("failure") == "recorded"
        # The first process's failures paused the second one's calls.
        assert second("state") == "open"
        assert second("before") == "refused"

        now.value += COOLDOWN
        assert second("before") == "allowed"  # the probe
        assert first("before") == "refused"  # while it is out
        assert first("state") == "half-open"
        assert second("success") == "recorded"
        assert first("state") == "closed"
        assert first("before") == "allowed"
    finally:
        first.stop()
        second.stop()
