"""`make run` gives /metrics a dev token (also in an older dev.env), keeps it across runs and
says where the metrics are and how to read them - without printing the token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from propusk.core.env import Env
from propusk.devserver import ensure_dev_env, ensure_metrics_token, metrics_note


def test_make_run_adds_a_metrics_token_once(tmp_path: Path) -> None:
    env_file = ensure_dev_env(tmp_path, simulator_port=8900)
    assert "PROPUSK_METRICS_TOKEN" not in env_file.read_text()  # an older dev.env

    ensure_metrics_token(env_file)
    first = env_file.read_text()
    ensure_metrics_token(env_file)

    assert env_file.read_text() == first
    (token,) = re.findall(r"^PROPUSK_METRICS_TOKEN=(\S+)$", first, re.MULTILINE)
    assert re.fullmatch(r"[A-Za-z0-9_.~+/=-]{24,200}", token)  # what settings accept
    assert Env({"PROPUSK_ENV_FILE": str(env_file)}).secret("PROPUSK_METRICS_TOKEN") == token


def test_the_note_shows_how_to_read_the_metrics_without_the_token(tmp_path: Path) -> None:
    env_file = ensure_dev_env(tmp_path, simulator_port=8900)
    ensure_metrics_token(env_file)
    (token,) = re.findall(r"^PROPUSK_METRICS_TOKEN=(\S+)$", env_file.read_text(), re.MULTILINE)

    note = metrics_note("127.0.0.1", 8000, {}, {"PROPUSK_METRICS_TOKEN": token}, env_file)

    assert "http://127.0.0.1:8000/metrics" in note
    assert token not in note
    # The shell command in the note reads the token out of the file.
    command = re.search(r"\$\((.+?)\)", note)
    assert command is not None
    read = subprocess.run(
        ["sh", "-c", command.group(1)], capture_output=True, text=True, check=True
    )
    assert read.stdout.strip() == token


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
        [
            sys.executable,
            "-c",
            "import propusk.settings as s; print(len(s.PROPUSK_METRICS_TOKEN))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_token_is_checked_at_start_and_may_come_from_a_file(tmp_path: Path) -> None:
    done = _start_settings(tmp_path, PROPUSK_METRICS_TOKEN="too-short")
    assert done.returncode != 0
    assert "ImproperlyConfigured: PROPUSK_METRICS_TOKEN must be" in done.stderr
    assert "too-short" not in done.stderr

    done = _start_settings(tmp_path, PROPUSK_METRICS_CACHE_SECONDS="-1")
    assert done.returncode != 0
    assert "PROPUSK_METRICS_CACHE_SECONDS" in done.stderr

    secret = tmp_path / "metrics-token"
    secret.write_text("a" * 40 + "\n")
    done = _start_settings(tmp_path, PROPUSK_METRICS_TOKEN_FILE=str(secret))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "40"
