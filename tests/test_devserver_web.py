"""``make run``'s web server, started as ``devserver`` starts it: an unknown address shows
the project's own 404 page - not Django's technical one, which lists every URL pattern - and
the static files are still served."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from propusk.devserver import _read_env as read_env
from propusk.devserver import (
    ensure_dev_env,
    ensure_events_token,
    ensure_metrics_token,
    process_env,
    processes,
)

# The test process's own settings (tests/settings.py) stay out of the server's environment.
_OURS = ("DJANGO_", "PROPUSK_", "DATABASE_URL", "CELERY_", "CACHE_URL", "HCP_")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers={"Accept-Language": "en"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@pytest.fixture
def web(tmp_path: Path):
    """The ``web`` process of ``make run`` (its command and environment) on a free port, on a
    fresh var/ directory: yields its base URL; stopped afterwards."""
    port = _free_port()
    env_file = ensure_dev_env(tmp_path, simulator_port=_free_port())
    ensure_events_token(env_file)
    ensure_metrics_token(env_file)
    dev_env = read_env(env_file)
    env = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
    env.update(
        DJANGO_SETTINGS_MODULE="propusk.settings",
        PROPUSK_VAR_DIR=str(tmp_path),
        PROPUSK_ENV_FILE=str(env_file),
        CACHE_URL=f"filecache://{tmp_path / 'cache'}",
        PYTHONUNBUFFERED="1",
    )
    command = processes(
        env,
        dev_env,
        var_dir=tmp_path,
        host="127.0.0.1",
        port=port,
        simulator_port=8900,
        secret_file=tmp_path / "hcp-simulator.secret",
    )["web"]
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(  # noqa: S602 - honcho runs it through the shell as well
        command,
        shell=True,
        env=process_env("web", env, dev_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_an_unknown_address_shows_the_projects_404_page_and_static_files_are_served(web):
    status, body = _get(f"{web}/no-such-page/")
    assert status == 404
    assert "There is no such page, or you may not see it." in body
    assert "Using the URLconf" not in body  # Django's technical 404 page
    assert "propusk.urls" not in body

    status, css = _get(f"{web}/static/propusk/app.css")
    assert status == 200
    assert len(css) > 100


def test_only_the_web_server_runs_with_debug_off() -> None:
    dev_env = {"DJANGO_DEBUG": "true"}
    env = {"PATH": "/usr/bin"}
    assert process_env("web", env, dev_env)["DJANGO_DEBUG"] == "false"
    assert process_env("web", env, dev_env)["DJANGO_SECURE_COOKIES"] == "false"
    assert "console" in process_env("web", env, dev_env)["DJANGO_EMAIL_BACKEND"]
    for name in ("worker", "beat", "hcp"):
        assert "DJANGO_DEBUG" not in process_env(name, env, dev_env)
    # What the developer set is kept.
    mine = {"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    assert (
        process_env("web", {**env, **mine}, dev_env)["DJANGO_EMAIL_BACKEND"]
        == (mine["DJANGO_EMAIL_BACKEND"])
    )
    assert "DJANGO_EMAIL_BACKEND" not in process_env("web", env, {**dev_env, **mine})
