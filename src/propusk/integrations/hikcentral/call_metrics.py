"""How many calls to HCP were made, per endpoint and outcome, and how long they took: counted
by every process that calls HCP, kept where the rate limiter and circuit breaker keep their
state (``shared_state``, ``HCP_RATE_LIMIT_URL``), read by /metrics (docs/metrics.md).

The client's call observer (``hikcentral.calls``) is a :class:`CallRecorder` (``build_client``
puts the process's one in every client). Each HTTP request is one update:

- Redis: one ``MULTI``/``EXEC`` pipeline on the hash ``<prefix>calls`` - one round trip, one
  ``HINCRBY`` of the (endpoint, outcome) count and, for a request that was sent, one of its
  duration bucket and one ``HINCRBYFLOAT`` of the endpoint's sum of seconds;
- file: the small JSON file ``calls`` in the state directory, rewritten under ``flock``.

Counters only grow (a damaged file starts again from zero, which Prometheus' ``rate()`` reads
as a reset). Labels come from bounded sets: the client's endpoints (identifiers replaced by
their placeholder, unknown paths as ``other``) and ``hikcentral.calls.OUTCOMES``; anything else
is recorded as ``other``/``error``, so no person id or code can become a label.

Recording never fails the call and never slows it much: Redis gets
:data:`RECORD_TIMEOUT_SECONDS` to answer; a store that fails is left alone for
:data:`RETRY_SECONDS` (those calls go uncounted) and a warning saying how many calls were not
counted is logged at most every :data:`WARNING_SECONDS`.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import redis
from django.conf import settings

from hikcentral.calls import OTHER_ENDPOINT, OUTCOMES
from hikcentral.client import Paths

from .shared_state import (
    DEFAULT_KEY_PREFIX,
    REDIS_TIMEOUT_SECONDS,
    SharedStateUnavailable,
    StateLocation,
    locked_file,
    parse_location,
)

__all__ = [
    "DURATION_BUCKETS",
    "CallCounts",
    "CallRecorder",
    "Durations",
    "FileCallStore",
    "RedisCallStore",
    "build_call_store",
    "call_recorder",
    "read_call_counts",
]

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the duration histogram's buckets; +Inf is added when exported.
DURATION_BUCKETS: Final[tuple[float, ...]] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Redis must answer a recording within this long (a read for /metrics has the usual 2 s).
RECORD_TIMEOUT_SECONDS: Final = 0.25
# After a failed recording the store is not tried again for this long.
RETRY_SECONDS: Final = 10.0
# At most one warning about uncounted calls this often, per process.
WARNING_SECONDS: Final = 60.0

KNOWN_ENDPOINTS: Final = frozenset(Paths.all()) | {OTHER_ENDPOINT}
KNOWN_OUTCOMES: Final = frozenset(OUTCOMES)
UNKNOWN_OUTCOME: Final = "error"
_SEPARATOR: Final = "|"  # in no endpoint or outcome
_STATE_NAME: Final = "calls"  # the Redis key after the prefix, the file in the directory


@dataclass(frozen=True)
class Durations:
    """One endpoint's durations: ``buckets[i]`` requests took at most ``DURATION_BUCKETS[i]``
    seconds and more than the bound before (the last: more than the largest bound)."""

    buckets: tuple[int, ...]
    total: float  # seconds

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def cumulative(self) -> list[tuple[float, int]]:
        """(bound, requests at most that long), ending with (inf, all of them)."""
        running = 0
        result = []
        for bound, count in zip((*DURATION_BUCKETS, math.inf), self.buckets, strict=True):
            running += count
            result.append((float(bound), running))
        return result


@dataclass(frozen=True)
class CallCounts:
    calls: dict[tuple[str, str], int]  # (endpoint, outcome) -> requests
    durations: dict[str, Durations]  # endpoint -> the requests sent


def bucket_index(seconds: float) -> int:
    """The bucket of a duration (``le`` semantics: a bound includes its own value)."""
    return bisect.bisect_left(DURATION_BUCKETS, seconds)


def _increments(
    endpoint: str, outcome: str, seconds: float | None
) -> tuple[list[str], tuple[str, float] | None]:
    """The fields one request adds 1 to, and the sum field with its seconds (None: not sent)."""
    if seconds is None:
        return [_field("c", endpoint, outcome)], None
    counts = [_field("c", endpoint, outcome), _field("b", endpoint, str(bucket_index(seconds)))]
    return counts, (_field("s", endpoint), float(seconds))


def _field(*parts: str) -> str:
    return _SEPARATOR.join(parts)


def counts_from_fields(fields: Mapping[str, object]) -> CallCounts:
    """The counts in the stored fields; a field this code did not write is ignored."""
    calls: dict[tuple[str, str], int] = {}
    buckets: dict[str, list[int]] = {}
    sums: dict[str, float] = {}
    size = len(DURATION_BUCKETS) + 1
    for name, raw in fields.items():
        kind, _, rest = name.partition(_SEPARATOR)
        try:
            value = float(str(raw))
        except ValueError:
            continue
        if not math.isfinite(value) or value < 0:
            continue
        if kind == "c":
            endpoint, _, outcome = rest.partition(_SEPARATOR)
            if endpoint in KNOWN_ENDPOINTS and outcome in KNOWN_OUTCOMES:
                calls[endpoint, outcome] = int(value)
        elif kind == "b":
            endpoint, _, index = rest.partition(_SEPARATOR)
            if endpoint in KNOWN_ENDPOINTS and index.isdigit() and int(index) < size:
                buckets.setdefault(endpoint, [0] * size)[int(index)] = int(value)
        elif kind == "s" and rest in KNOWN_ENDPOINTS:
            sums[rest] = value
    durations = {
        endpoint: Durations(buckets=tuple(counts), total=sums.get(endpoint, 0.0))
        for endpoint, counts in buckets.items()
    }
    return CallCounts(calls=calls, durations=durations)


class CallStore(Protocol):
    def add(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        """Count one request (atomically); SharedStateUnavailable when it cannot."""

    def read(self) -> CallCounts: ...


class RedisCallStore:
    """The counts in one Redis hash, each request one ``MULTI``/``EXEC`` round trip."""

    def __init__(self, location: StateLocation, *, key: str, timeout: float) -> None:
        self._location = location
        self._key = key
        self._redis = location.redis_client(timeout=timeout)

    def add(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        counts, total = _increments(endpoint, outcome, seconds)
        pipe = self._redis.pipeline(transaction=True)
        for name in counts:
            pipe.hincrby(self._key, name, 1)
        if total is not None:
            pipe.hincrbyfloat(self._key, *total)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def read(self) -> CallCounts:
        try:
            fields: dict[str, str] = self._redis.hgetall(self._key)  # type: ignore[assignment]
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return counts_from_fields(fields)

    def _unavailable(self, exc: redis.RedisError) -> SharedStateUnavailable:
        return SharedStateUnavailable(
            f"HCP call metrics: {self._location.describe()} unavailable: "
            f"{type(exc).__name__}: {exc}"
        )


class FileCallStore:
    """The counts in a small JSON file, read and rewritten under ``flock`` (one machine)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def add(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        with locked_file(self._path) as fd:
            try:
                fields = self._read(fd)
                counts, total = _increments(endpoint, outcome, seconds)
                for name in counts:
                    fields[name] = fields.get(name, 0) + 1
                if total is not None:
                    fields[total[0]] = fields.get(total[0], 0.0) + total[1]
                data = json.dumps(fields, separators=(",", ":")).encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            except OSError as exc:
                raise self._unavailable(exc) from exc

    def read(self) -> CallCounts:
        with locked_file(self._path) as fd:
            try:
                return counts_from_fields(self._read(fd))
            except OSError as exc:
                raise self._unavailable(exc) from exc

    def _read(self, fd: int) -> dict[str, float]:
        data = os.pread(fd, max(os.fstat(fd).st_size, 1), 0)
        if not data:
            return {}
        try:
            saved = json.loads(data)
            if isinstance(saved, dict) and all(
                isinstance(value, int | float) and not isinstance(value, bool)
                for value in saved.values()
            ):
                return saved
        except ValueError:
            pass
        logger.warning("HCP call metrics %s were unreadable: counting from zero", self._path)
        os.ftruncate(fd, 0)
        return {}

    def _unavailable(self, exc: OSError) -> SharedStateUnavailable:
        return SharedStateUnavailable(f"HCP call metrics {self._path}: {exc.strerror}")


class CallRecorder:
    """The client's call observer: counts each request in ``store``, and never lets a failure
    of the store reach the call (see the module's docstring)."""

    def __init__(self, store: CallStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None
        self._warned_at: float | None = None
        self._uncounted = 0

    def __call__(self, endpoint: str, outcome: str, seconds: float | None) -> None:
        if endpoint not in KNOWN_ENDPOINTS:
            endpoint = OTHER_ENDPOINT
        if outcome not in KNOWN_OUTCOMES:
            outcome = UNKNOWN_OUTCOME
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            seconds = 0.0
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            with self._lock:
                self._uncounted += 1
            return
        try:
            self._store.add(endpoint, outcome, seconds)
        except SharedStateUnavailable as exc:
            self._failed(now, exc)
        else:
            self._retry_at = None

    def _failed(self, now: float, exc: SharedStateUnavailable) -> None:
        with self._lock:
            self._uncounted += 1
            self._retry_at = now + RETRY_SECONDS
            if self._warned_at is not None and now - self._warned_at < WARNING_SECONDS:
                return
            self._warned_at = now
            uncounted, self._uncounted = self._uncounted, 0
        logger.warning(
            "HCP call metrics not recorded: %s; %d call(s) not counted since the last "
            "warning; the next try in %g s (warned at most every %g s)",
            exc,
            uncounted,
            RETRY_SECONDS,
            WARNING_SECONDS,
        )


def build_call_store(
    url: str | None = None,
    *,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    timeout: float = RECORD_TIMEOUT_SECONDS,
) -> CallStore:
    """The store at ``url`` (default ``HCP_RATE_LIMIT_URL``)."""
    location = parse_location(url or settings.HCP_RATE_LIMIT_URL)
    if location.is_redis:
        return RedisCallStore(location, key=key_prefix + _STATE_NAME, timeout=timeout)
    return FileCallStore(location.file(_STATE_NAME))


_recorders: dict[str, CallRecorder] = {}
_recorders_lock = threading.Lock()


def call_recorder() -> CallRecorder:
    """This process's recorder for ``HCP_RATE_LIMIT_URL`` (one per place, so its warnings
    are paced for the whole process, whatever the number of clients)."""
    url = settings.HCP_RATE_LIMIT_URL
    with _recorders_lock:
        recorder = _recorders.get(url)
        if recorder is None:
            recorder = _recorders[url] = CallRecorder(build_call_store(url))
        return recorder


def read_call_counts() -> CallCounts:
    """The counts, for /metrics; SharedStateUnavailable when they cannot be read."""
    return build_call_store(timeout=REDIS_TIMEOUT_SECONDS).read()
