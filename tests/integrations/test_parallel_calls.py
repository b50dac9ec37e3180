"""HCP calls side by side (integrations.hikcentral.parallel): the first goes alone (after an
outage, the circuit breaker's probe), then the others together; the answers keep their order,
an exception stays with its call, at most ``HCP_PARALLEL_CALLS`` run at once, and a hook a
call sets off (the circuit breaker closing) runs in the caller's thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from propusk.integrations.hikcentral.parallel import in_caller, side_by_side


def test_the_answers_keep_their_order_and_the_calls_overlap(settings: Any) -> None:
    settings.HCP_PARALLEL_CALLS = 4
    # Passed only when the four calls after the first are in flight at once: one after
    # another, each would wait in vain (BrokenBarrierError).
    together = threading.Barrier(4, timeout=10)
    threads: list[threading.Thread] = []

    def call(value: int) -> int:
        threads.append(threading.current_thread())
        if value:
            together.wait()
        return value * 10

    outcomes = side_by_side([lambda value=value: call(value) for value in range(5)])

    assert [outcome.get() for outcome in outcomes] == [0, 10, 20, 30, 40]
    assert threads[0] is threading.current_thread()  # the first went alone, here


def test_an_exception_stays_with_its_call(settings: Any) -> None:
    settings.HCP_PARALLEL_CALLS = 4

    def refuse() -> int:
        raise ConnectionError("HCP unreachable")

    first, second, third, fourth = side_by_side([lambda: 1, refuse, lambda: 3, refuse])

    assert (first.get(), third.get()) == (1, 3)
    assert isinstance(fourth.error, ConnectionError)
    assert isinstance(second.error, ConnectionError)
    with pytest.raises(ConnectionError, match="unreachable"):
        second.get()


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_no_more_than_the_setting_run_at_once(settings: Any, limit: int) -> None:
    settings.HCP_PARALLEL_CALLS = limit
    lock = threading.Lock()
    running = 0
    most = 0

    def call() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    side_by_side([call] * 6)

    assert most == limit


def test_a_hook_set_off_by_a_call_runs_in_the_callers_thread_once(settings: Any) -> None:
    settings.HCP_PARALLEL_CALLS = 4
    ran_in: list[threading.Thread] = []
    hook = in_caller(lambda: ran_in.append(threading.current_thread()))

    def call_that_closes_the_breaker() -> int:
        hook()
        return 1

    outcomes = side_by_side([lambda: 1] + [call_that_closes_the_breaker] * 3)

    assert [outcome.get() for outcome in outcomes] == [1, 1, 1, 1]
    assert ran_in == [threading.current_thread()]


def test_a_hook_outside_calls_side_by_side_runs_at_once() -> None:
    ran: list[str] = []
    in_caller(lambda: ran.append("now"))()
    assert ran == ["now"]


def test_a_failing_hook_is_logged_and_the_answers_still_come(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.HCP_PARALLEL_CALLS = 2

    def broken() -> None:
        raise RuntimeError("database unavailable")

    hook = in_caller(broken)

    def call() -> int:
        hook()
        return 7

    outcomes = side_by_side([lambda: 7, call, call])

    assert [outcome.get() for outcome in outcomes] == [7, 7, 7]
    assert "failed" in caplog.text
    assert "database unavailable" in caplog.text
