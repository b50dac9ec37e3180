"""Notification settings: bad values stop the process at start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _start(tmp_path: Path, **values: str) -> subprocess.CompletedProcess[str]:
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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"PROPUSK_SITE_URL": "propusk.example.kz"}, "PROPUSK_SITE_URL='propusk.example.kz'"),
        ({"PROPUSK_NOTIFY_MAX_ATTEMPTS": "0"}, "PROPUSK_NOTIFY_MAX_ATTEMPTS=0 must be more"),
        (
            {"PROPUSK_NOTIFY_RETRY_MIN_SECONDS": "60", "PROPUSK_NOTIFY_RETRY_MAX_SECONDS": "5"},
            "PROPUSK_NOTIFY_RETRY_MAX_SECONDS must not be below",
        ),
        ({"PROPUSK_VAPID_PUBLIC_KEY": "BKey"}, "set both PROPUSK_VAPID_PRIVATE_KEY"),
    ],
)
def test_bad_values_stop_the_process_naming_the_variable(tmp_path, values, message):
    done = _start(tmp_path, **values)
    assert done.returncode != 0
    assert message in done.stderr


def test_good_values_start(tmp_path):
    done = _start(tmp_path, PROPUSK_SITE_URL="https://propusk.example.kz")
    assert done.returncode == 0, done.stderr
