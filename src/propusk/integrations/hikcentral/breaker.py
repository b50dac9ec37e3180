"""The one circuit breaker for calls to HCP, its state shared by every worker process.

- **closed**: calls go through; each transient failure (network, timeout, HTTP 5xx/429, busy,
  quota) adds one to a count that any answer from HCP resets.
- **open**: after ``HCP_CIRCUIT_BREAKER_FAILURES`` consecutive transient failures. For a
  cool-down every call is refused at once with :class:`CircuitOpen` (a ``CircuitOpenError``:
  nothing sent, no rate-limit token spent). The cool-down starts short and grows
  (:func:`probe_cooldown`: 2 s, doubling after each failed probe, up to
  ``HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS``), so HCP's return after a short outage is noticed
  within seconds, and a long one costs a probe call every cool-down at most.
- **half-open**: after the cool-down, one call - the probe - goes through; the others are still
  refused. HCP answering it closes the circuit (and the next opening starts at 2 s again); a
  transient failure opens it again for the next, longer cool-down. A probe that reports
  nothing in time (its worker died) is replaced by the next call.

Every change of state is logged (the error's class, HCP code and HTTP status; no bodies, no
secrets). :meth:`SharedCircuitBreaker.state` tells operators where it stands.

The state lives where the rate limiter's does (``shared_state``). Recording an outcome never
raises: when the shared state cannot be written at that moment, a warning is logged and the
call's own result (HCP's answer or its error) still reaches the caller.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import redis
from django.conf import settings

from hikcentral.errors import CircuitOpenError, TransientError

from .shared_state import (
    DEFAULT_KEY_PREFIX,
    SharedStateUnavailable,
    StateLocation,
    locked_file,
    parse_location,
)

__all__ = [
    "CircuitOpen",
    "CircuitState",
    "FileBreakerStore",
    "RedisBreakerStore",
    "SharedCircuitBreaker",
    "build_circuit_breaker",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
StateName = Literal["closed", "open", "half-open"]
Operation = Literal["before", "success", "failure"]
# What an operation did: "allow" (closed), "probe" (this call is the half-open probe), "deny",
# "opened", "reopened" (the probe failed), "closed" (the probe succeeded), "none".
Verdict = str
# The first cool-down after the circuit opens (at most the configured one).
FIRST_COOLDOWN_SECONDS: Final = 2.0


def probe_cooldown(failed_probes: int, *, first: float, maximum: float) -> float:
    """The cool-down before the next probe: ``first`` when the circuit has just opened,
    doubled after each failed probe, never above ``maximum`` (nor below it when ``first``
    exceeds it)."""
    if failed_probes < 0:
        raise ValueError(f"failed_probes must not be negative, not {failed_probes!r}")
    start = min(first, maximum)
    return min(maximum, start * 2.0 ** min(failed_probes, 60))


class CircuitOpen(CircuitOpenError):
    """HCP is considered down: the call was not sent. ``retry_after``: seconds until a probe
    may go."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class CircuitState:
    """What operators see: ``since`` is when the circuit entered ``state`` (None: never left
    the initial closed state); ``retry_at`` when an open circuit lets a probe through."""

    state: StateName
    since: datetime | None
    failures: int
    retry_at: datetime | None


@dataclass(frozen=True)
class _Record:
    state: StateName = "closed"
    failures: int = 0
    since: float = 0.0  # 0: never changed
    retry_at: float = 0.0  # open: end of the cool-down; half-open: end of the probe's lease
    probes: int = 0  # probes failed since the circuit opened: the cool-down grows with them


@dataclass(frozen=True)
class _Limits:
    failures: int
    cooldown: float  # the longest cool-down
    probe_timeout: float
    first_cooldown: float = FIRST_COOLDOWN_SECONDS

    def cooldown_after(self, failed_probes: int) -> float:
        return probe_cooldown(failed_probes, first=self.first_cooldown, maximum=self.cooldown)


def _step(record: _Record, op: Operation, now: float, limits: _Limits) -> tuple[Verdict, _Record]:
    """The state machine (the Redis store runs the same steps in Lua)."""
    if op == "before":
        if record.state == "closed":
            return "allow", record
        if now < record.retry_at:
            return "deny", record
        # Cool-down over, or the probe's lease ran out: this call is the probe.
        since = now if record.state == "open" else record.since
        return "probe", replace(
            record, state="half-open", since=since, retry_at=now + limits.probe_timeout
        )
    if op == "success":
        if record.state == "half-open":
            return "closed", _Record(state="closed", failures=0, since=now, retry_at=0.0)
        if record.state == "closed" and record.failures:
            return "none", replace(record, failures=0)
        return "none", record  # open: an answer to a call sent before it opened
    failures = record.failures + 1
    if record.state == "half-open" or (record.state == "closed" and failures >= limits.failures):
        reopened = record.state == "half-open"
        probes = record.probes + 1 if reopened else 0
        return "reopened" if reopened else "opened", _Record(
            state="open",
            failures=failures,
            since=now,
            retry_at=now + limits.cooldown_after(probes),
            probes=probes,
        )
    return "none", replace(record, failures=failures)


class BreakerStore(Protocol):
    def apply(self, op: Operation, *, now: float, limits: _Limits) -> tuple[Verdict, _Record]:
        """Run one step atomically; the verdict and the record after it."""

    def read(self) -> _Record: ...


class RedisBreakerStore:
    """The state in one Redis hash; each step is one Lua script (atomic on the server)."""

    # KEYS[1] the hash; ARGV op, now, failures limit, longest cool-down, probe timeout,
    # first cool-down. Mirrors _step (and probe_cooldown).
    SCRIPT: Final = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cooldown = tonumber(ARGV[4])
local probe = tonumber(ARGV[5])
local first = math.min(tonumber(ARGV[6]), cooldown)
local saved = redis.call('HMGET', KEYS[1], 'state', 'failures', 'since', 'retry_at', 'probes')
local state = saved[1] or 'closed'
local failures = tonumber(saved[2]) or 0
local since = tonumber(saved[3]) or 0
local retry_at = tonumber(saved[4]) or 0
local probes = tonumber(saved[5]) or 0
local verdict = 'none'
local changed = false
if op == 'before' then
  if state == 'closed' then
    verdict = 'allow'
  elseif now < retry_at then
    verdict = 'deny'
  else
    if state == 'open' then since = now end
    state = 'half-open'
    retry_at = now + probe
    verdict = 'probe'
    changed = true
  end
elseif op == 'success' then
  if state == 'half-open' then
    state = 'closed'
    failures = 0
    since = now
    retry_at = 0
    probes = 0
    verdict = 'closed'
    changed = true
  elseif state == 'closed' and failures > 0 then
    failures = 0
    changed = true
  end
else
  failures = failures + 1
  changed = true
  if state == 'half-open' or (state == 'closed' and failures >= limit) then
    if state == 'half-open' then
      verdict = 'reopened'
      probes = probes + 1
    else
      verdict = 'opened'
      probes = 0
    end
    state = 'open'
    since = now
    retry_at = now + math.min(cooldown, first * 2 ^ math.min(probes, 60))
  end
end
if changed then
  redis.call('HSET', KEYS[1], 'state', state, 'failures', failures,
    'since', string.format('%.17g', since), 'retry_at', string.format('%.17g', retry_at),
    'probes', probes)
end
return {verdict, state, tostring(failures), string.format('%.17g', since),
  string.format('%.17g', retry_at), tostring(probes)}
"""

    def __init__(self, location: StateLocation, *, key: str) -> None:
        self._location = location
        self._key = key
        self._redis = location.redis_client()
        self._script = self._redis.register_script(self.SCRIPT)

    def apply(self, op: Operation, *, now: float, limits: _Limits) -> tuple[Verdict, _Record]:
        args: list[str | float] = [
            op,
            now,
            limits.failures,
            limits.cooldown,
            limits.probe_timeout,
            limits.first_cooldown,
        ]
        try:
            verdict, state, failures, since, retry_at, probes = self._script(
                keys=[self._key], args=args
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return verdict, _record(state, failures, since, retry_at, probes)

    def read(self) -> _Record:
        try:
            saved = self._redis.hmget(
                self._key, ["state", "failures", "since", "retry_at", "probes"]
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        if saved[0] is None:
            return _Record()
        state, failures, since, retry_at, probes = saved
        return _record(state, failures, since, retry_at, probes or 0)

    def _unavailable(self, exc: redis.RedisError) -> SharedStateUnavailable:
        return SharedStateUnavailable(
            f"HCP circuit breaker: {self._location.describe()} unavailable: "
            f"{type(exc).__name__}: {exc}"
        )


class FileBreakerStore:
    """The state in a small JSON file, read and written under ``flock`` (one machine only)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def apply(self, op: Operation, *, now: float, limits: _Limits) -> tuple[Verdict, _Record]:
        with locked_file(self._path) as fd:
            try:
                record = self._read(fd)
                verdict, after = _step(record, op, now, limits)
                if after != record:
                    data = json.dumps(dataclasses.asdict(after)).encode()
                    os.pwrite(fd, data, 0)
                    os.ftruncate(fd, len(data))
            except OSError as exc:
                raise SharedStateUnavailable(
                    f"HCP circuit breaker state {self._path}: {exc.strerror}"
                ) from exc
        return verdict, after

    def read(self) -> _Record:
        with locked_file(self._path) as fd:
            try:
                return self._read(fd)
            except OSError as exc:
                raise SharedStateUnavailable(
                    f"HCP circuit breaker state {self._path}: {exc.strerror}"
                ) from exc

    def _read(self, fd: int) -> _Record:
        data = os.pread(fd, 4096, 0)
        if not data:
            return _Record()
        try:
            saved: dict[str, Any] = json.loads(data)
            return _record(
                saved["state"],
                saved["failures"],
                saved["since"],
                saved["retry_at"],
                saved.get("probes", 0),
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("HCP circuit breaker state %s was unreadable: closed", self._path)
            os.ftruncate(fd, 0)
            return _Record()


def _record(
    state: object, failures: object, since: object, retry_at: object, probes: object = 0
) -> _Record:
    if state not in ("closed", "open", "half-open"):
        raise ValueError(f"unknown circuit state {state!r}")
    numbers = (float(str(since)), float(str(retry_at)))
    if not all(math.isfinite(number) for number in numbers):
        raise ValueError("circuit times must be finite")
    return _Record(
        state=state,
        failures=int(str(failures)),
        since=numbers[0],
        retry_at=numbers[1],
        probes=int(str(probes)),
    )


class SharedCircuitBreaker:
    """:class:`hikcentral.CircuitBreaker` on a shared :class:`BreakerStore`."""

    def __init__(
        self,
        store: BreakerStore,
        *,
        failures: int,
        cooldown: float,
        probe_timeout: float,
        clock: Clock = time.time,
        on_closed: Callable[[], object] | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, not {failures!r}")
        if not (cooldown > 0 and probe_timeout > 0):
            raise ValueError("cooldown and probe_timeout must be positive")
        self._store = store
        self._limits = _Limits(failures=failures, cooldown=cooldown, probe_timeout=probe_timeout)
        self._clock = clock
        self._on_closed = on_closed

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        failures: int,
        cooldown: float,
        probe_timeout: float,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Clock = time.time,
        on_closed: Callable[[], object] | None = None,
    ) -> SharedCircuitBreaker:
        """The breaker whose state is at ``url`` (``redis://...`` or ``file:///dir``)."""
        location = parse_location(url)
        store: BreakerStore
        if location.is_redis:
            store = RedisBreakerStore(location, key=key_prefix + "breaker")
        else:
            store = FileBreakerStore(location.file("breaker"))
        return cls(
            store,
            failures=failures,
            cooldown=cooldown,
            probe_timeout=probe_timeout,
            clock=clock,
            on_closed=on_closed,
        )

    def before_call(self) -> None:
        now = self._clock()
        verdict, record = self._store.apply("before", now=now, limits=self._limits)
        if verdict == "deny":
            retry_after = max(0.0, record.retry_at - now)
            raise CircuitOpen(
                f"HCP calls paused by the circuit breaker ({record.state} after "
                f"{record.failures} consecutive transient failures); next try in "
                f"{retry_after:.0f} s",
                retry_after=retry_after,
            )
        if verdict == "probe":
            logger.info(
                "HCP circuit breaker half-open: letting one probe call through "
                "(%d consecutive transient failures so far)",
                record.failures,
            )

    def record_success(self) -> None:
        verdict = self._record("success", None)
        if verdict == "closed":
            logger.info("HCP circuit breaker closed: HCP answered the probe call")
            self._closed()

    def _closed(self) -> None:
        """HCP is back (the probe's answer closed the circuit, once for every process): tell
        ``on_closed`` - the access engine makes the work that waited due now. Its failure is
        logged and never reaches the call, whose answer HCP gave."""
        if self._on_closed is None:
            return
        try:
            self._on_closed()
        except Exception:
            logger.exception("HCP circuit breaker: the on-closed hook failed")

    def record_failure(self, exc: TransientError) -> None:
        verdict = self._record("failure", exc)
        if verdict == "opened":
            logger.warning(
                "HCP circuit breaker opened after %d consecutive transient failures "
                "(last: %s); calls paused for %g s",
                self._limits.failures,
                _describe(exc),
                self._limits.cooldown_after(0),
            )
        elif verdict == "reopened":
            logger.warning(
                "HCP circuit breaker re-opened: the probe call failed (%s); calls paused "
                "(the cool-down grows after each failed probe, to %g s at most)",
                _describe(exc),
                self._limits.cooldown,
            )

    def state(self) -> CircuitState:
        """Where the circuit stands, for operators (read-only). An open circuit whose
        cool-down is over shows as half-open: the next call will be the probe."""
        now = self._clock()
        record = self._store.read()
        state, since, retry_at = record.state, record.since, record.retry_at
        if state == "open" and now >= retry_at:
            state, since = "half-open", retry_at
        return CircuitState(
            state=state,
            since=_moment(since),
            failures=record.failures,
            retry_at=_moment(retry_at) if state == "open" else None,
        )

    def _record(self, op: Operation, exc: TransientError | None) -> Verdict | None:
        try:
            verdict, _ = self._store.apply(op, now=self._clock(), limits=self._limits)
        except SharedStateUnavailable as unavailable:
            # The call's own outcome must reach the caller (a write HCP applied must not look
            # failed): this one outcome goes uncounted.
            logger.warning(
                "HCP circuit breaker could not record a %s%s: %s",
                op,
                f" ({_describe(exc)})" if exc is not None else "",
                unavailable,
            )
            return None
        return verdict


def _describe(exc: TransientError) -> str:
    parts = [type(exc).__name__]
    if exc.code is not None:
        parts.append(f"code={exc.code}")
    if exc.http_status is not None:
        parts.append(f"http_status={exc.http_status}")
    return " ".join(parts)


def _moment(timestamp: float) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def build_circuit_breaker(*, on_closed: Callable[[], object] | None = None) -> SharedCircuitBreaker:
    """The breaker from settings (``HCP_CIRCUIT_BREAKER_*``, state at ``HCP_RATE_LIMIT_URL``).

    A probe's lease covers its longest possible call: the wait for a token, connecting and
    reading. ``on_closed`` is called in the process whose call closed the circuit.
    """
    probe_timeout = (
        settings.HCP_RATE_LIMIT_MAX_WAIT_SECONDS
        + settings.HCP_CONNECT_TIMEOUT
        + settings.HCP_READ_TIMEOUT
    )
    return SharedCircuitBreaker.from_url(
        settings.HCP_RATE_LIMIT_URL,
        failures=settings.HCP_CIRCUIT_BREAKER_FAILURES,
        cooldown=settings.HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS,
        probe_timeout=probe_timeout,
        on_closed=on_closed,
    )


def breaker_wait(exc: CircuitOpenError, *, default: float) -> float:
    """Seconds until the breaker that refused ``exc`` lets a call through (its cool-down, or
    a probe's lease); ``default`` when the refusal does not say."""
    wait = getattr(exc, "retry_after", None)
    if isinstance(wait, int | float) and wait >= 0:
        return float(wait)
    return float(default)
