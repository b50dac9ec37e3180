"""Fixtures for the shared HCP rate limiter and circuit breaker: both backends, a fake clock.

The Redis backend needs a Redis server (``PROPUSK_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/14``); each test uses a key prefix of its own and deletes its keys.
Without a server its tests are skipped, unless ``PROPUSK_REQUIRE_SERVICES=1`` (CI), where they
fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

REDIS_URL = os.environ.get("PROPUSK_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
BACKENDS = ["file", "redis"]


def redis_url_or_skip() -> str:
    """The test Redis, or skip (fail under PROPUSK_REQUIRE_SERVICES=1) saying why."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0).ping()
    except redis.RedisError as exc:
        reason = f"no Redis at {REDIS_URL} ({type(exc).__name__})"
        if os.environ.get("PROPUSK_REQUIRE_SERVICES") == "1":
            pytest.fail(
                f"{reason} (PROPUSK_REQUIRE_SERVICES=1 makes this a failure)", pytrace=False
            )
        pytest.skip(reason)
    return REDIS_URL


@dataclass(frozen=True)
class SharedState:
    """Where a test's limiter and breaker keep their state: ``url`` and a Redis key prefix."""

    backend: str
    url: str
    key_prefix: str


def make_shared_state(backend: str, directory: Path) -> SharedState:
    prefix = f"propusk-test:{uuid.uuid4().hex}:"
    if backend == "file":
        return SharedState(backend, (directory / "hcp-throttle").as_uri(), prefix)
    return SharedState(backend, redis_url_or_skip(), prefix)


def forget(state: SharedState) -> None:
    if state.backend == "redis":
        client = redis.Redis.from_url(state.url)
        keys = list(client.scan_iter(match=state.key_prefix + "*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedState]:
    state = make_shared_state(request.param, tmp_path)
    yield state
    forget(state)


@dataclass
class FakeClock:
    """Seconds since the epoch, moved by hand or by ``sleep`` (which records each sleep)."""

    now: float = 1_767_225_600.0  # 2026-01-01 00:00 UTC
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
