"""`make run` gives the webhook a token of its own, also in a dev.env written before events
existed, and keeps it across runs (the simulator is subscribed with it)."""

from __future__ import annotations

import re
from pathlib import Path

from propusk.devserver import ensure_dev_env, ensure_events_token


def test_make_run_adds_a_token_once(tmp_path: Path) -> None:
    env_file = ensure_dev_env(tmp_path, simulator_port=8900)
    assert "PROPUSK_HCP_EVENTS_TOKEN" not in env_file.read_text()  # an older dev.env

    ensure_events_token(env_file)
    first = env_file.read_text()
    ensure_events_token(env_file)

    assert env_file.read_text() == first
    (token,) = re.findall(r"^PROPUSK_HCP_EVENTS_TOKEN=(\S+)$", first, re.MULTILINE)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24,200}", token)  # what settings accept
