"""Settings of the shared HCP rate limit and breaker: where their state lives, and bad values
stopping the process at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from hikcentral import HCPServerError
from propusk.integrations.hikcentral.breaker import build_circuit_breaker
from propusk.integrations.hikcentral.limiter import build_rate_limiter
from propusk.integrations.hikcentral.shared_state import throttle_state_url


def test_unset_it_is_the_redis_cache_else_a_directory_in_var(tmp_path):
    var = tmp_path / "var"
    assert throttle_state_url("", cache_url="", var_dir=var) == (var / "hcp-throttle").as_uri()
    assert throttle_state_url("", cache_url="locmemcache://", var_dir=var).startswith("file:///")
    assert (
        throttle_state_url("", cache_url="redis://cache.internal:6379/1", var_dir=var)
        == "redis://cache.internal:6379/1"
    )
    # django-environ's alias for the same backend.
    assert (
        throttle_state_url("", cache_url="rediscache://:pw@cache.internal:6379/1", var_dir=var)
        == "redis://:pw@cache.internal:6379/1"
    )
    assert (
        throttle_state_url("redis://limits.internal:6379/3", cache_url="", var_dir=var)
        == "redis://limits.internal:6379/3"
    )
    assert throttle_state_url("file:///srv/propusk/hcp", cache_url="", var_dir=var) == (
        "file:///srv/propusk/hcp"
    )


@pytest.mark.parametrize(
    ("raw", "cache_url", "message"),
    [
        ("memcached://cache:11211", "", "neither a Redis URL"),
        ("file://relative/dir", "", "file:///absolute/directory"),
        ("file:///", "", "file:///absolute/directory"),
        ("redis://cache:port/1", "", "not a valid Redis URL"),
        ("redis:///0", "", "no host"),
        ("", "redis://one:6379,two:6379/1", "several Redis servers"),
    ],
)
def test_bad_locations_are_refused_naming_the_setting(tmp_path, raw, cache_url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        throttle_state_url(raw, cache_url=cache_url, var_dir=tmp_path)


def test_a_refused_location_never_shows_the_redis_password(tmp_path):
    with pytest.raises(ImproperlyConfigured) as raised:
        throttle_state_url("valkey://:s3cret@cache:6379/1", cache_url="", var_dir=tmp_path)
    assert "s3cret" not in str(raised.value)


def _start_settings(tmp_path: Path, **values: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PROPUSK_ENV_FILE": os.devnull,
        "PROPUSK_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789",
        "PROPUSK_FIELD_ENCRYPTION_KEYS": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
        "PROPUSK_LOOKUP_HASH_KEY": "test-only-lookup-hash-key",
        **values,
    }
    return subprocess.run(
        [sys.executable, "-c", "import propusk.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_bad_values_stop_the_process_at_start_naming_the_variable(tmp_path):
    done = _start_settings(
        tmp_path, HCP_RATE_LIMIT_URL="memcached://cache:11211", HCP_RATE_LIMIT_BURST="1"
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: HCP_RATE_LIMIT_BURST=1 must be between 2 and" in done.stderr

    done = _start_settings(tmp_path, HCP_RATE_LIMIT_URL="memcached://cache:11211")
    assert done.returncode != 0
    assert "ImproperlyConfigured: HCP_RATE_LIMIT_URL=" in done.stderr

    done = _start_settings(tmp_path, HCP_RATE_LIMIT_PER_SECOND="nan")
    assert done.returncode != 0
    assert "ImproperlyConfigured: HCP_RATE_LIMIT_PER_SECOND=nan must be more than 0" in done.stderr


def test_from_settings_both_share_the_configured_place(tmp_path):
    url = (tmp_path / "shared").as_uri()
    with override_settings(
        HCP_RATE_LIMIT_URL=url,
        HCP_RATE_LIMIT_PER_SECOND=5.0,
        HCP_RATE_LIMIT_BURST=6,
        HCP_RATE_LIMIT_MAX_WAIT_SECONDS=0.5,
        HCP_CIRCUIT_BREAKER_FAILURES=2,
    ):
        first, second = build_rate_limiter(), build_rate_limiter()
        assert (first.rate, first.burst) == (5.0, 6)
        for _ in range(3):
            first.acquire(priority="revoke")
            second.acquire(priority="revoke")
        # The six saved calls are spent between the two: a seventh waits 0.2 s, within 0.5.
        second.acquire(priority="revoke")

        breaker = build_circuit_breaker()
        for _ in range(2):
            breaker.record_failure(HCPServerError("HTTP 502", http_status=502))
        assert build_circuit_breaker().state().state == "open"
    assert sorted(path.name for path in (tmp_path / "shared").iterdir()) == ["breaker", "bucket"]
