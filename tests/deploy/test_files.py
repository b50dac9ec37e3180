"""deploy/'s systemd units, management wrapper and settings example name what exists: the
programs in the virtual environment, the files in the checkout, the settings Propusk reads."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from propusk.core.env import read_env_file

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOME = "/opt/propusk"  # where docs/deployment.md installs the checkout
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_there_are_units_for_web_worker_beat_and_telegram() -> None:
    assert [unit.name for unit in UNITS] == [
        "propusk-beat.service",
        "propusk-telegram.service",
        "propusk-web.service",
        "propusk-worker@.service",
    ]


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_each_unit_runs_a_program_of_the_checkout_as_the_propusk_user(path: Path) -> None:
    unit = _unit(path)
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["User"] == service["Group"] == "propusk"
    assert service["WorkingDirectory"] == HOME
    assert service["Environment"] == "PROPUSK_ENV_FILE=/etc/propusk/propusk.env"
    assert service["UMask"] == "0077"  # faces and pictures are written 0600 anyway
    assert service["ReadWritePaths"] == "/var/lib/propusk"
    command = shlex.split(service["ExecStart"])
    program = Path(command[0])
    assert program.parent == Path(HOME, ".venv", "bin")
    # The program is one the project installs into its virtual environment.
    assert Path(sys.executable).with_name(program.name).exists(), program.name
    for argument in command[1:]:
        if argument.startswith(HOME + "/"):
            assert (ROOT / argument.removeprefix(HOME + "/")).exists(), argument


def test_the_programs_are_the_web_application_celery_and_the_telegram_poller() -> None:
    commands = {path.name: shlex.split(_unit(path)["Service"]["ExecStart"]) for path in UNITS}
    assert commands["propusk-web.service"][-1] == "propusk.wsgi:application"
    assert commands["propusk-worker@.service"][1:4] == ["-A", "propusk", "worker"]
    assert commands["propusk-beat.service"][1:4] == ["-A", "propusk", "beat"]
    assert commands["propusk-telegram.service"][-2:] == ["telegram_link", "--loop"]


def test_every_setting_of_the_example_is_one_propusk_reads() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "src").rglob("*.py"))
    example = read_env_file(DEPLOY / "propusk.env.example")
    commented = re.findall(
        r"^# ([A-Z][A-Z0-9_]+)=", (DEPLOY / "propusk.env.example").read_text(), re.M
    )
    assert example
    for name in [*example, *commented]:
        base = name.removesuffix("_FILE")
        assert f'"{base}"' in source, f"{name}: Propusk reads no such setting"
    # Secrets come from files, never from the example itself.
    for name in ("DJANGO_SECRET_KEY", "PROPUSK_FIELD_ENCRYPTION_KEYS", "HCP_APP_SECRET"):
        assert name not in example
        assert f"{name}_FILE" in example


def test_the_manage_wrapper_runs_commands_with_the_production_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "propusk.env"
    env_file.write_text(
        f"PROPUSK_VAR_DIR={tmp_path}\n"
        "DJANGO_SECRET_KEY=deploy-test-secret-key-0123456789-0123456789\n"
        "PROPUSK_FIELD_ENCRYPTION_KEYS=Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=\n"
        "PROPUSK_LOOKUP_HASH_KEY=deploy-test-lookup-hash-key\n"
        "PROPUSK_ORG_NAME=Deploy wrapper check\n"
    )
    ours = ("DJANGO_", "PROPUSK_", "HCP_", "CELERY_", "DATABASE_URL", "CACHE_URL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env.update(PROPUSK_HOME=str(ROOT), PROPUSK_ENV_FILE=str(env_file))
    done = subprocess.run(
        [
            str(DEPLOY / "propusk-manage"),
            "shell",
            "-c",
            "from django.conf import settings; print(settings.ORG_NAME)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "Deploy wrapper check"
