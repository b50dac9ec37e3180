"""The one outbound rate limit for calls to HCP, shared by every worker process.

HCP has a call quota per site, so every process that talks to it draws from one token bucket
kept in shared state (``shared_state``: Redis for all machines, a file for one machine):
``HCP_RATE_LIMIT_PER_SECOND`` tokens a second, at most ``HCP_RATE_LIMIT_BURST`` saved up. In
any ``t`` seconds at most ``burst + rate * t`` calls go out, whatever the number of processes.

Priorities (``HikCentralClient.with_priority``) are reserves: a call may take a token only
while the bucket keeps, after it, the reserve of its priority:

- ``revoke``: no reserve - any token;
- ``grant`` (and the client's default, ``normal``): half of the burst;
- ``sync`` (and any unknown name): three quarters of the burst.

The grants' reserve is what a revocation finds at once under saturation: half of the default
burst (half a second of calls) is the five calls a batch of revocations makes before the
devices are told, at 20 calls a second.

Under saturation the bucket hovers just above the grant reserve, so a revocation finds a token
at once; while revocations keep coming they take every token and grants wait, and grants in
turn keep syncs waiting. Refused, a caller sleeps until its priority's threshold is due (no
spinning) and asks again; after ``HCP_RATE_LIMIT_MAX_WAIT_SECONDS`` it raises
:class:`RateLimitWaitExceeded`, a transient error: nothing was sent, the work is retried later.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

import redis
from django.conf import settings

from hikcentral.errors import RateLimitWaitError
from hikcentral.limits import DEFAULT_PRIORITY

from .shared_state import (
    DEFAULT_KEY_PREFIX,
    SharedStateUnavailable,
    StateLocation,
    locked_file,
    parse_location,
)

__all__ = [
    "RESERVE_FRACTION",
    "FileTokenBucket",
    "Priority",
    "RateLimitWaitExceeded",
    "RedisTokenBucket",
    "SharedRateLimiter",
    "TokenBucket",
    "build_rate_limiter",
    "priority_of",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Priority(StrEnum):
    REVOKE = "revoke"
    GRANT = "grant"
    SYNC = "sync"


# The share of the burst a priority leaves in the bucket.
RESERVE_FRACTION: Final[dict[Priority, float]] = {
    Priority.REVOKE: 0.0,
    Priority.GRANT: 0.5,
    Priority.SYNC: 0.75,
}
MIN_BURST: Final = 2  # below it a sync (three quarters reserved) could never get a token
# Never sleep less than this between two asks (a rounding error must not make a busy loop).
MIN_SLEEP_SECONDS: Final = 0.001
# A caller that slept exactly until its threshold finds it there, whatever the rounding.
TOKEN_EPSILON: Final = 1e-6


def priority_of(name: str) -> Priority:
    """``normal`` (the client's default) is a grant; an unknown name is the lowest, a sync."""
    if name == DEFAULT_PRIORITY:
        return Priority.GRANT
    try:
        return Priority(name)
    except ValueError:
        return Priority.SYNC


class RateLimitWaitExceeded(RateLimitWaitError):
    """No token within the maximum wait: nothing was sent; retry the work later."""


class TokenBucket(Protocol):
    rate: float
    burst: int

    def take(self, *, threshold: float, now: float) -> float:
        """Take one token if at least ``threshold`` are there: 0.0; else the seconds until
        there will be (nothing taken)."""


class RedisTokenBucket:
    """The bucket in one Redis hash, updated by a Lua script (atomic on the server)."""

    # KEYS[1] the hash; ARGV rate, burst, threshold, now (s), expiry (ms), epsilon. Numbers are kept
    # with 17 digits (Lua's tostring keeps 14: a tenth of a millisecond of an epoch time).
    SCRIPT: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
elseif now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens + ARGV[6] >= threshold then
  tokens = tokens - 1
else
  wait = (threshold - tokens) / rate + (at - now)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return string.format('%.17g', wait)
"""

    def __init__(self, location: StateLocation, *, rate: float, burst: int, key: str) -> None:
        self.rate = rate
        self.burst = burst
        self._location = location
        self._key = key
        self._script = location.redis_client().register_script(self.SCRIPT)
        # Idle longer than it takes to fill up, the bucket is full: the key may go.
        self._expiry_ms = math.ceil(burst / rate * 1000) + 60_000

    def take(self, *, threshold: float, now: float) -> float:
        args = [self.rate, self.burst, threshold, now, self._expiry_ms, TOKEN_EPSILON]
        try:
            wait = self._script(keys=[self._key], args=args)
        except redis.RedisError as exc:
            raise SharedStateUnavailable(
                f"HCP rate limit: {self._location.describe()} unavailable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return float(wait)


class FileTokenBucket:
    """The bucket in a 16-byte file (tokens, time), read and written under ``flock``.

    One machine only: see ``shared_state``.
    """

    _RECORD: Final = struct.Struct("<dd")

    def __init__(self, path: Path, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._path = path

    def take(self, *, threshold: float, now: float) -> float:
        with locked_file(self._path) as fd:
            try:
                tokens, at = self._read(fd, now)
                if now > at:
                    tokens = min(float(self.burst), tokens + (now - at) * self.rate)
                    at = now
                wait = 0.0
                if tokens + TOKEN_EPSILON >= threshold:
                    tokens -= 1.0
                else:
                    wait = (threshold - tokens) / self.rate + (at - now)
                os.pwrite(fd, self._RECORD.pack(tokens, at), 0)
            except OSError as exc:
                raise SharedStateUnavailable(
                    f"HCP rate limit state {self._path}: {exc.strerror}"
                ) from exc
        return wait

    def _read(self, fd: int, now: float) -> tuple[float, float]:
        data = os.pread(fd, self._RECORD.size + 1, 0)
        if not data:
            return float(self.burst), now  # a new bucket starts full
        if len(data) == self._RECORD.size:
            tokens, at = self._RECORD.unpack(data)
            if math.isfinite(tokens) and math.isfinite(at):
                return tokens, at
        # Not written by this code (or damaged): start again empty, which never lets more out.
        logger.warning("HCP rate limit state %s was unreadable: starting from empty", self._path)
        os.ftruncate(fd, 0)
        return 0.0, now


class SharedRateLimiter:
    """:class:`hikcentral.RateLimiter` on a shared :class:`TokenBucket`."""

    def __init__(
        self,
        bucket: TokenBucket,
        *,
        max_wait: float,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not (bucket.rate > 0 and math.isfinite(bucket.rate)):
            raise ValueError(f"rate must be a positive number, not {bucket.rate!r}")
        if bucket.burst < MIN_BURST:
            raise ValueError(f"burst must be at least {MIN_BURST}, not {bucket.burst!r}")
        if not max_wait > 0:
            raise ValueError(f"max_wait must be positive, not {max_wait!r}")
        self._bucket = bucket
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        # A call takes one token and leaves its reserve behind.
        self._thresholds = {
            priority: 1.0 + fraction * bucket.burst
            for priority, fraction in RESERVE_FRACTION.items()
        }

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        rate: float,
        burst: int,
        max_wait: float,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> SharedRateLimiter:
        """The limiter whose bucket is at ``url`` (``redis://...`` or ``file:///dir``)."""
        location = parse_location(url)
        bucket: TokenBucket
        if location.is_redis:
            bucket = RedisTokenBucket(location, rate=rate, burst=burst, key=key_prefix + "bucket")
        else:
            bucket = FileTokenBucket(location.file("bucket"), rate=rate, burst=burst)
        return cls(bucket, max_wait=max_wait, clock=clock, sleep=sleep)

    @property
    def rate(self) -> float:
        return self._bucket.rate

    @property
    def burst(self) -> int:
        return self._bucket.burst

    def threshold(self, priority: str) -> float:
        """Tokens that must be in the bucket for a call of ``priority`` to take one."""
        return self._thresholds[priority_of(priority)]

    def acquire(self, *, priority: str) -> None:
        """Block (sleeping) until a call of ``priority`` may go; RateLimitWaitExceeded when
        that would take longer than the maximum wait (raised as soon as it is certain)."""
        level = priority_of(priority)
        threshold = self._thresholds[level]
        deadline = self._clock() + self._max_wait
        while True:
            now = self._clock()
            wait = self._bucket.take(threshold=threshold, now=now)
            if wait <= 0:
                return
            # Others only ever take tokens away: if even an idle bucket is too late, give up.
            if now + wait > deadline:
                raise RateLimitWaitExceeded(
                    f"no HCP call slot for a {level} call within {self._max_wait:g} s "
                    f"(rate {self._bucket.rate:g}/s, burst {self._bucket.burst})"
                )
            self._sleep(max(wait, MIN_SLEEP_SECONDS))


def build_rate_limiter(*, max_wait: float | None = None) -> SharedRateLimiter:
    """The limiter from settings (``HCP_RATE_LIMIT_*``); ``max_wait`` may only shorten
    ``HCP_RATE_LIMIT_MAX_WAIT_SECONDS`` (the bucket is the same one)."""
    limit = settings.HCP_RATE_LIMIT_MAX_WAIT_SECONDS
    return SharedRateLimiter.from_url(
        settings.HCP_RATE_LIMIT_URL,
        rate=settings.HCP_RATE_LIMIT_PER_SECOND,
        burst=settings.HCP_RATE_LIMIT_BURST,
        max_wait=limit if max_wait is None else min(limit, max_wait),
    )
