"""Connection settings for one HCP server, from code or from the environment.

Parsing is strict: a bad or contradictory value fails at start-up with a message naming the
variable, never later at the first call. The AppSecret never appears in ``repr``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

from hikcentral.timefmt import parse_utc_offset

__all__ = ["ConfigError", "HikCentralConfig"]

DEFAULT_USER_AGENT = "propusk-hikcentral/0.1"
DEFAULT_CONNECT_TIMEOUT = 5.0
# HCP answers most calls in well under a second, but a big page or a busy server can take
# several; 15 s leaves room without holding a worker for long.
DEFAULT_READ_TIMEOUT = 15.0
# Persons per access-level addPersons/deletePersons (and reapplication) call: the gateway
# catalogue says "Up to 20 person IDs are allowed" (docs/hikcentral.md).
DEFAULT_BATCH_SIZE = 20
MAX_BATCH_SIZE = 500
# userId may not contain these (HCP's rule), and is at most 32 characters.
_USER_ID_FORBIDDEN = re.compile(r"""['/\\:*?"<>|]""")


class ConfigError(ValueError):
    """A missing, malformed or contradictory HCP setting."""


@dataclass(frozen=True)
class HikCentralConfig:
    """Everything the client needs to talk to one HCP.

    ``base_url`` is ``https://host[:port]``; a trailing ``/artemis`` is accepted and dropped
    (the client adds it). ``verify`` is True (the operating system's CA store), a path to a CA
    bundle (PEM), or False (no verification: only for a self-signed server on a trusted
    network, chosen explicitly). ``utc_offset`` is the site's offset used for every time sent
    to HCP. ``batch_size`` bounds the persons per access-level or reapplication call.
    ``admin_password`` is sent with person delete (newer HCP versions require it).
    """

    base_url: str
    app_key: str
    app_secret: str = field(repr=False)
    utc_offset: tzinfo
    user_id: str | None = None
    verify: bool | str = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    user_agent: str = DEFAULT_USER_AGENT
    page_size: int = 500
    batch_size: int = DEFAULT_BATCH_SIZE
    admin_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _normalize_base_url(self.base_url))
        if not self.app_key:
            raise ConfigError("HCP AppKey is empty")
        if not self.app_secret:
            raise ConfigError("HCP AppSecret is empty")
        if isinstance(self.utc_offset, timedelta):
            object.__setattr__(self, "utc_offset", timezone(self.utc_offset))
        if not isinstance(self.utc_offset, tzinfo):
            raise ConfigError("utc_offset must be a datetime.timezone or timedelta")
        if self.user_id is not None and (
            not self.user_id or len(self.user_id) > 32 or _USER_ID_FORBIDDEN.search(self.user_id)
        ):
            raise ConfigError("HCP userId must be 1-32 characters without ' / \\ : * ? \" < > |")
        if isinstance(self.verify, str) and not Path(self.verify).is_file():
            raise ConfigError(f"HCP CA bundle not found: {self.verify}")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        if not 1 <= self.page_size <= 500:
            raise ConfigError("page_size must be between 1 and 500")
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or not 1 <= self.batch_size <= MAX_BATCH_SIZE
        ):
            raise ConfigError(f"HCP_BATCH_SIZE must be between 1 and {MAX_BATCH_SIZE}")
        if self.admin_password is not None and not self.admin_password:
            raise ConfigError("HCP admin password is empty (leave it unset instead)")

    @property
    def verify_label(self) -> str:
        """How TLS is verified, for logs and the check command."""
        if self.verify is True:
            return "system CA store"
        if self.verify is False:
            return "DISABLED"
        return f"CA bundle {self.verify}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HikCentralConfig:
        """Read ``HCP_*`` variables (see docs/hikcentral.md)."""
        env = os.environ if environ is None else environ
        return cls.from_values(
            base_url=env.get("HCP_BASE_URL"),
            app_key=env.get("HCP_APP_KEY"),
            app_secret=env.get("HCP_APP_SECRET"),
            app_secret_file=env.get("HCP_APP_SECRET_FILE"),
            user_id=env.get("HCP_USER_ID"),
            verify_tls=env.get("HCP_VERIFY_TLS"),
            ca_bundle=env.get("HCP_CA_BUNDLE"),
            connect_timeout=env.get("HCP_CONNECT_TIMEOUT"),
            read_timeout=env.get("HCP_READ_TIMEOUT"),
            utc_offset=env.get("HCP_UTC_OFFSET"),
            batch_size=env.get("HCP_BATCH_SIZE"),
            admin_password=env.get("HCP_ADMIN_PASSWORD"),
            admin_password_file=env.get("HCP_ADMIN_PASSWORD_FILE"),
        )

    @classmethod
    def from_values(
        cls,
        *,
        base_url: str | None,
        app_key: str | None,
        app_secret: str | None,
        app_secret_file: str | None,
        utc_offset: str | timedelta | tzinfo | None,
        user_id: str | None = None,
        verify_tls: str | bool | None = None,
        ca_bundle: str | None = None,
        connect_timeout: str | float | None = None,
        read_timeout: str | float | None = None,
        batch_size: str | int | None = None,
        admin_password: str | None = None,
        admin_password_file: str | None = None,
    ) -> HikCentralConfig:
        """Build from loosely typed settings (strings from the environment, or Django settings).

        Empty strings count as unset. Exactly one of ``app_secret`` / ``app_secret_file``;
        at most one of ``admin_password`` / ``admin_password_file``.
        """
        base_url = _required("HCP_BASE_URL", base_url)
        app_key = _required("HCP_APP_KEY", app_key)
        secret = _read_secret(
            "HCP_APP_SECRET", _blank_to_none(app_secret), _blank_to_none(app_secret_file)
        )
        password = None
        if _blank_to_none(admin_password) or _blank_to_none(admin_password_file):
            password = _read_secret(
                "HCP_ADMIN_PASSWORD",
                _blank_to_none(admin_password),
                _blank_to_none(admin_password_file),
            )
        offset = _parse_offset(utc_offset)
        verify: bool | str = _parse_bool("HCP_VERIFY_TLS", verify_tls, default=True)
        bundle = _blank_to_none(ca_bundle)
        if bundle is not None:
            if verify is False:
                raise ConfigError("HCP_CA_BUNDLE is set but HCP_VERIFY_TLS=false: choose one")
            if not Path(bundle).is_file():
                raise ConfigError(f"HCP_CA_BUNDLE: file not found: {bundle}")
            verify = bundle
        return cls(
            base_url=base_url,
            app_key=app_key,
            app_secret=secret,
            utc_offset=offset,
            user_id=_blank_to_none(user_id),
            verify=verify,
            connect_timeout=_parse_seconds(
                "HCP_CONNECT_TIMEOUT", connect_timeout, DEFAULT_CONNECT_TIMEOUT
            ),
            read_timeout=_parse_seconds("HCP_READ_TIMEOUT", read_timeout, DEFAULT_READ_TIMEOUT),
            batch_size=_parse_batch_size(batch_size),
            admin_password=password,
        )


def _normalize_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"HCP_BASE_URL must be http(s)://host[:port], got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("HCP_BASE_URL must not carry a query, fragment or credentials")
    path = parts.path.rstrip("/")
    if path not in ("", "/artemis"):
        raise ConfigError(f"HCP_BASE_URL must not have a path other than /artemis: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"HCP_BASE_URL has a bad port: {url!r}") from exc
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(name: str, value: str | None) -> str:
    value = _blank_to_none(value)
    if value is None:
        raise ConfigError(f"{name} is not set")
    return value


def _read_secret(name: str, secret: str | None, secret_file: str | None) -> str:
    if secret is not None and secret_file is not None:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if secret is not None:
        return secret
    if secret_file is None:
        raise ConfigError(f"{name} (or {name}_FILE) is not set")
    try:
        text = Path(secret_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE cannot be read: {secret_file}: {exc}") from exc
    if not text or "\n" in text:
        raise ConfigError(f"{name}_FILE must hold the secret on one line: {secret_file}")
    return text


def _parse_batch_size(value: str | int | None) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_BATCH_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"HCP_BATCH_SIZE must be a whole number, got {value!r}") from exc
    if isinstance(value, bool) or not 1 <= size <= MAX_BATCH_SIZE:
        raise ConfigError(f"HCP_BATCH_SIZE must be between 1 and {MAX_BATCH_SIZE}, got {value!r}")
    return size


def _parse_offset(value: str | timedelta | tzinfo | None) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, timedelta):
        return timezone(value)
    text = _required("HCP_UTC_OFFSET", value)
    try:
        return parse_utc_offset(text)
    except ValueError as exc:
        raise ConfigError(f"HCP_UTC_OFFSET: {exc}") from exc


def _parse_bool(name: str, value: str | bool | None, *, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    text = _blank_to_none(value)
    if text is None:
        return default
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _parse_seconds(name: str, value: str | float | None, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from exc
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds
