"""Strict readers for settings from the environment.

A value that is present but malformed stops the process with a message naming the variable:
a typo in production must not silently fall back to a default. Secrets may come from a file
named by ``<NAME>_FILE`` so they never have to sit in the environment or the repository.

An optional env file (``PROPUSK_ENV_FILE``, default ``var/dev.env`` when it exists) supplies
defaults; real environment variables always win. ``make run`` writes that file with generated
development secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_SUPPORTED_ENGINES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (``#`` comments, optional quotes)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE")
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class Env:
    def __init__(self, environ_: Mapping[str, str] | None = None) -> None:
        source = dict(os.environ if environ_ is None else environ_)
        env_file = source.get("PROPUSK_ENV_FILE")
        default_file = Path(__file__).resolve().parents[3] / "var" / "dev.env"
        path = Path(env_file) if env_file else default_file
        defaults: dict[str, str] = {}
        if env_file and not path.exists():
            raise ImproperlyConfigured(f"PROPUSK_ENV_FILE={env_file} does not exist")
        if path.exists():
            defaults = read_env_file(path)
        self._values = {**defaults, **source}

    def _raw(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None or value == "" else value

    def get_str(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def get_bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")

    def get_int(self, name: str, default: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None

    def get_float(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None

    def get_list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def secret(self, name: str, *, required: bool = True) -> str:
        """A secret from ``NAME`` or from the file named by ``NAME_FILE``."""
        value = self._raw(name)
        file_name = self._raw(f"{name}_FILE")
        if value is not None and file_name is not None:
            raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
        if file_name is not None:
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE={file_name}: {exc.strerror}") from None
            if not value:
                raise ImproperlyConfigured(f"{name}_FILE={file_name} is empty")
        if value is None:
            if required:
                raise ImproperlyConfigured(
                    f"{name} is not set (set it, or {name}_FILE to a file holding it; "
                    "`make run` generates development values in var/dev.env)"
                )
            return ""
        return value

    def secret_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.secret(name).split(",") if item.strip()]

    def db(self, name: str, default: str) -> dict[str, Any]:
        """A database from a URL: ``sqlite:///path`` or ``postgres://user:pass@host/name``."""
        url = self.get_str(name, default)
        try:
            config: dict[str, Any] = dict(environ.Env.db_url_config(url))
        except Exception as exc:  # django-environ raises several kinds on a bad URL
            raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
        if config.get("ENGINE") not in _SUPPORTED_ENGINES or not config.get("NAME"):
            raise ImproperlyConfigured(
                f"{name} is not a valid database URL: use sqlite:///path or "
                "postgres://user:password@host:5432/name"
            )
        if config.get("ENGINE", "").endswith("postgresql"):
            config.setdefault("CONN_MAX_AGE", 60)
            config["CONN_HEALTH_CHECKS"] = True
        else:
            config["OPTIONS"] = {**self._sqlite_options(), **config.get("OPTIONS", {})}
        return config

    def _sqlite_options(self) -> dict[str, Any]:
        """SQLite with several writers (web, worker, threads): no "database is locked".

        Every transaction begins IMMEDIATE, taking the write lock at its start, so the reads it
        makes are never overtaken by another writer (a deferred transaction that read first
        fails at once when it then writes). A writer that finds the lock taken waits up to
        ``PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS`` (20) instead of failing. WAL lets readers go on
        while one writes; ``synchronous=NORMAL`` is WAL's usual pairing: a commit survives the
        process dying, only an OS crash or power cut may lose the last commits.
        """
        name = "PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS"
        timeout = self.get_float(name, 20.0)
        if not 0 < timeout <= 600:
            raise ImproperlyConfigured(f"{name}={timeout:g} must be more than 0 and at most 600")
        return {
            "transaction_mode": "IMMEDIATE",
            "timeout": timeout,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }

    def cache(self, name: str) -> dict[str, Any]:
        """A cache from a URL (``redis://host:6379/1``, ``locmemcache://``), or, unset, a
        ``LocMemCache``: that one lives inside each process, so several web processes each keep
        their own counters (fine for development and tests, not for a production throttle)."""
        url = self._raw(name)
        if url is None:
            return {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "propusk",
            }
        try:
            config: dict[str, Any] = dict(environ.Env.cache_url_config(url))
        except Exception as exc:  # django-environ raises several kinds on a bad URL
            raise ImproperlyConfigured(f"{name} is not a valid cache URL: {exc}") from None
        if not config.get("BACKEND"):
            raise ImproperlyConfigured(
                f"{name} is not a valid cache URL: use redis://host:6379/1 or locmemcache://"
            )
        return config
