"""`make run` gives the webhook a token of its own, also in a dev.env written before events
existed, and keeps it across runs (the simulator is subscribed with it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from propusk.devserver import (
    ensure_dev_env,
    ensure_events_token,
    processes,
    telegram_note,
)


def test_make_run_adds_a_token_once(tmp_path: Path) -> None:
    env_file = ensure_dev_env(tmp_path, simulator_port=8900)
    assert "PROPUSK_HCP_EVENTS_TOKEN" not in env_file.read_text()  # an older dev.env

    ensure_events_token(env_file)
    first = env_file.read_text()
    ensure_events_token(env_file)

    assert env_file.read_text() == first
    (token,) = re.findall(r"^PROPUSK_HCP_EVENTS_TOKEN=(\S+)$", first, re.MULTILINE)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24,200}", token)  # what settings accept


# `make run`'s processes: the Telegram poller runs when a bot token is configured.

_DEV_ENV = {"HCP_APP_KEY": "propusk-demo"}


def _processes(env: dict[str, str], dev_env: dict[str, str] | None = None) -> dict[str, str]:
    return processes(
        env,
        {**_DEV_ENV, **(dev_env or {})},
        var_dir=Path("var"),
        host="127.0.0.1",
        port=8000,
        simulator_port=8900,
        secret_file=Path("var/hcp-simulator.secret"),
    )


def test_without_a_bot_token_make_run_starts_no_telegram_poller() -> None:
    started = _processes({})
    assert set(started) == {"hcp", "web", "worker", "beat"}
    assert "Telegram: off" in telegram_note({}, _DEV_ENV)
    assert "telegram" not in _processes({"PROPUSK_TELEGRAM_BOT_TOKEN": ""})  # empty is unset


def test_a_bot_token_starts_the_poller_from_the_environment_or_dev_env() -> None:
    for env, dev_env in (
        ({"PROPUSK_TELEGRAM_BOT_TOKEN": "123456:dev-bot"}, {}),
        ({}, {"PROPUSK_TELEGRAM_BOT_TOKEN": "123456:dev-bot"}),
        ({"PROPUSK_TELEGRAM_BOT_TOKEN_FILE": "/run/secrets/bot"}, {}),
    ):
        started = _processes(env, dev_env)
        assert set(started) == {"hcp", "web", "worker", "beat", "telegram"}
        argv = shlex.split(started["telegram"])
        assert Path(argv[1]).name == "manage.py"
        assert Path(argv[1]).exists()
        assert argv[2:] == ["telegram_link", "--loop"]
        assert "reading the bot's updates" in telegram_note(env, {**_DEV_ENV, **dev_env})


def test_in_webhook_mode_no_poller_is_started() -> None:
    # Telegram refuses getUpdates while a webhook is set.
    env = {"PROPUSK_TELEGRAM_BOT_TOKEN": "123456:dev-bot", "PROPUSK_TELEGRAM_WEBHOOK_SECRET": "s"}
    assert "telegram" not in _processes(env)
    assert "webhook mode" in telegram_note(env, _DEV_ENV)


def test_the_poller_command_is_a_real_command_with_loop() -> None:
    from django.core.management import load_command_class

    command = load_command_class("propusk.notifications", "telegram_link")
    options = command.create_parser("manage.py", "telegram_link").parse_args(["--loop"])
    assert options.loop is True
