"""A fixed-window rate limit on Django's cache.

``hit(scope, ident, limit=..., window=...)`` counts one attempt by ``ident`` (a user id, an
invitation token, a client IP) in the current window of ``window`` seconds and says whether it
is allowed. Windows are aligned to the clock (a new one starts every ``window`` seconds), so
a burst across a boundary may get up to twice the limit: good enough to stop probing.

When only some outcomes should count (the public invitation page counts refused submissions,
never registrations), ``peek_all`` asks first without counting and ``record`` counts an
outcome afterwards. Requests running at the same moment may then all pass the peek: the
overshoot is at most the number of requests served at once.

Counters live in the ``default`` cache (``CACHE_URL``): with Redis every web process shares
them; with the default LocMemCache each process counts on its own. Keys hold a keyed hash
(HMAC with ``SECRET_KEY``) of the scope and ``ident``, never ``ident`` itself: an ID number or
an invitation token must not sit in clear in the cache. If the cache loses a counter, the
count starts again: the limit is a brake, not a security boundary.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.utils.crypto import salted_hmac

_SALT = "propusk.core.throttle"


@dataclass(frozen=True)
class Throttle:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window ends (at least 1)

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def cache_key(scope: str, ident: str, window_index: int) -> str:
    digest = salted_hmac(_SALT, f"{scope}\0{ident}", algorithm="sha256").hexdigest()
    return f"throttle:{scope}:{digest}:{window_index}"


def hit(
    scope: str,
    ident: str,
    *,
    limit: int,
    window: int,
    clock: Callable[[], float] | None = None,
    cache_alias: str = "default",
) -> Throttle:
    """Count one attempt by ``ident`` in ``scope``; allowed while the count is within ``limit``.

    A limit of 0 or less, or a window of 0 or less, turns the throttle off.
    """
    if limit <= 0 or window <= 0:
        return Throttle(allowed=True, count=0, retry_after=1)
    count, retry_after = _increment(scope, ident, window, clock, cache_alias)
    return Throttle(allowed=count <= limit, count=count, retry_after=retry_after)


def record(
    scope: str,
    ident: str,
    *,
    window: int,
    clock: Callable[[], float] | None = None,
    cache_alias: str = "default",
) -> int:
    """Count one attempt by ``ident`` in ``scope`` without judging it; returns the count."""
    if window <= 0:
        return 0
    return _increment(scope, ident, window, clock, cache_alias)[0]


def peek_all(
    checks: list[tuple[str, str, int]],
    *,
    window: int,
    clock: Callable[[], float] | None = None,
    cache_alias: str = "default",
) -> Throttle:
    """Would one more attempt be allowed by every ``(scope, ident, limit)``? Counts nothing.

    Allowed while each count is below its limit (``limit`` attempts were recorded: refused).
    """
    now = (clock or time.time)()
    if window <= 0:
        return Throttle(allowed=True, count=0, retry_after=1)
    index, retry_after = _window(now, window)
    cache = caches[cache_alias]
    counts = [
        (int(cache.get(cache_key(scope, ident, index)) or 0), limit)
        for scope, ident, limit in checks
        if limit > 0
    ]
    refused = [count for count, limit in counts if count >= limit]
    highest = max((count for count, _ in counts), default=0)
    if refused:
        return Throttle(allowed=False, count=max(refused), retry_after=retry_after)
    return Throttle(allowed=True, count=highest, retry_after=retry_after)


def _window(now: float, window: int) -> tuple[int, int]:
    """The index of the window ``now`` falls in, and the seconds until it ends (at least 1)."""
    index = int(now // window)
    return index, max(1, math.ceil((index + 1) * window - now))


def _increment(
    scope: str,
    ident: str,
    window: int,
    clock: Callable[[], float] | None,
    cache_alias: str,
) -> tuple[int, int]:
    index, retry_after = _window((clock or time.time)(), window)
    key = cache_key(scope, ident, index)
    cache = caches[cache_alias]
    # add() only creates the counter; incr() is atomic on Redis and LocMemCache.
    cache.add(key, 0, timeout=retry_after + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted or expired between add() and incr()
        cache.set(key, 1, timeout=retry_after + 1)
        count = 1
    return count, retry_after
