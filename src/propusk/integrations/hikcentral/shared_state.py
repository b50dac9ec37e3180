"""Where the HCP rate limiter and circuit breaker keep the state every process shares (and
the counts of HCP calls for /metrics: ``call_metrics``).

``HCP_RATE_LIMIT_URL`` names the place, for all three:

- ``redis://host:6379/2`` (``rediss://``, ``unix:///path?db=2``): shared by every process on
  every machine. Each update is one Lua script, atomic on the server.
- ``file:///var/lib/propusk/hcp-throttle``: a directory of small files, each update under an
  exclusive ``flock``. Shared by the processes of **one machine only** (``make run``, the test
  suite): two machines, or a network file system, would each count on their own.

Unset, it is ``CACHE_URL`` when that is a Redis URL, else ``file://<PROPUSK_VAR_DIR>/hcp-throttle``.

Time comes from the caller's clock (injectable for tests): the processes of one site must have
their clocks synchronised, which signing HCP requests already requires (HCP refuses a skewed
timestamp). A clock behind the shared state only waits; it never mints extra calls.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url

from hikcentral.errors import TransientError

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "SETTING",
    "SharedStateUnavailable",
    "StateLocation",
    "locked_file",
    "parse_location",
    "throttle_state_url",
]

SETTING: Final = "HCP_RATE_LIMIT_URL"
# Redis keys: <prefix>bucket, <prefix>breaker, <prefix>calls (call_metrics). Tests and
# benchmarks use a prefix of their own.
DEFAULT_KEY_PREFIX: Final = "propusk:hcp:"
# A Redis that does not answer within this long is "unavailable" (the call is retried later).
REDIS_TIMEOUT_SECONDS: Final = 2.0
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_CACHE_REDIS_SCHEMES = {"redis": "redis", "rediss": "rediss", "rediscache": "redis"}


class SharedStateUnavailable(TransientError):
    """The shared limiter/breaker state (Redis, or its file) could not be used: nothing was
    sent to HCP; the work is retried later."""


@dataclass(frozen=True)
class StateLocation:
    """A parsed ``HCP_RATE_LIMIT_URL``: Redis (``url``) or a directory (``directory``)."""

    url: str
    directory: Path | None

    @property
    def is_redis(self) -> bool:
        return self.directory is None

    def describe(self) -> str:
        """The location for messages and logs: never the Redis password."""
        if self.directory is not None:
            return f"file {self.directory}"
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    def redis_client(self, *, timeout: float = REDIS_TIMEOUT_SECONDS) -> redis.Redis:
        # One connection pool per object; redis-py opens new connections after a fork.
        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            decode_responses=True,
        )

    def file(self, name: str) -> Path:
        """The state file ``name`` in the directory (created, 0700, on first use)."""
        if self.directory is None:
            raise ValueError("a Redis location has no files")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{SETTING}: cannot create {self.directory}: {exc.strerror}"
            ) from exc
        return self.directory / name


def parse_location(url: str) -> StateLocation:
    """``redis://``/``rediss://``/``unix://`` or ``file:///absolute/dir``; anything else is
    ImproperlyConfigured naming ``HCP_RATE_LIMIT_URL``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in _REDIS_SCHEMES:
        try:
            options = parse_url(url)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{SETTING} is not a valid Redis URL: {exc}") from None
        if scheme != "unix" and not options.get("host"):
            raise ImproperlyConfigured(f"{SETTING} is not a valid Redis URL: no host")
        return StateLocation(url=url, directory=None)
    if scheme == "file":
        parts = urlsplit(url)
        path = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not path.is_absolute() or path == Path("/"):
            raise ImproperlyConfigured(
                f"{SETTING}={url!r}: a file location is file:///absolute/directory"
            )
        return StateLocation(url=url, directory=path)
    raise ImproperlyConfigured(
        f"{SETTING}={StateLocation(url, None).describe()!r} is neither a Redis URL "
        "(redis://host:6379/2, rediss://, unix://) nor a directory (file:///path)"
    )


def throttle_state_url(raw: str, *, cache_url: str, var_dir: Path) -> str:
    """The value of ``HCP_RATE_LIMIT_URL`` (settings): ``raw`` checked, or the default."""
    if raw:
        parse_location(raw)
        return raw
    scheme = urlsplit(cache_url).scheme.lower()
    if scheme in _CACHE_REDIS_SCHEMES:
        url = _CACHE_REDIS_SCHEMES[scheme] + cache_url[len(scheme) :]
        if "," in urlsplit(url).netloc:
            raise ImproperlyConfigured(
                f"CACHE_URL names several Redis servers: set {SETTING} to one of them"
            )
        try:
            parse_location(url)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(
                f"CACHE_URL cannot hold the HCP rate limit ({exc}): set {SETTING}"
            ) from None
        return url
    return (var_dir.resolve() / "hcp-throttle").as_uri()


@contextmanager
def locked_file(path: Path) -> Iterator[int]:
    """An exclusive ``flock`` on ``path`` (created 0600), as an open descriptor.

    Opened anew on every use: a descriptor inherited across ``fork`` (Celery's prefork pool)
    would share one lock between parent and child, which then would not exclude each other.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SharedStateUnavailable(f"HCP rate limit state {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock
