"""Hooks for the outbound rate limiter and the circuit breaker.

The client does not own either: HCP's call quota is shared by every worker on every machine,
so the access engine plugs in one shared limiter (and one breaker) and the client calls it
before every HTTP request. The defaults do nothing.

Order per request: ``breaker.before_call()`` (may raise :class:`CircuitOpenError`: nothing is
sent and no limiter token is spent), then ``limiter.acquire(priority=...)`` (blocks until the
request may go), then the request, then ``breaker.record_success()`` when HCP answered (a
business error like "not found" is an answer) or ``breaker.record_failure(exc)`` with a
:class:`~hikcentral.errors.TransientError` (network, timeout, 5xx/429, busy, quota).
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from hikcentral.errors import CircuitOpenError, TransientError

__all__ = [
    "DEFAULT_PRIORITY",
    "CircuitBreaker",
    "CircuitOpenError",
    "NoCircuitBreaker",
    "NoRateLimit",
    "RateLimiter",
]

# The priority used unless a caller picks one with HikCentralClient.with_priority(...).
# The access engine defines its own names (e.g. "revoke" above "grant" above "sync").
DEFAULT_PRIORITY: Final = "normal"


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self, *, priority: str) -> None:
        """Block until one request may be sent. May raise to give up (the error propagates)."""


@runtime_checkable
class CircuitBreaker(Protocol):
    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` when calls are paused."""

    def record_success(self) -> None:
        """HCP answered (even with a business error)."""

    def record_failure(self, exc: TransientError) -> None:
        """A transient failure: network, timeout, HTTP 5xx/429, busy, quota."""


class NoRateLimit:
    """The default limiter: never waits."""

    def acquire(self, *, priority: str) -> None:
        return None


class NoCircuitBreaker:
    """The default breaker: always closed."""

    def before_call(self) -> None:
        return None

    def record_success(self) -> None:
        return None

    def record_failure(self, exc: TransientError) -> None:
        return None
