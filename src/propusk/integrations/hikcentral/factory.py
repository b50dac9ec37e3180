"""Build the HCP client from Django settings (``HCP_*``, see docs/hikcentral.md).

Keep one client per process and reuse it: it holds the keep-alive connections.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from hikcentral import ConfigError, HikCentralClient, HikCentralConfig

from .breaker import build_circuit_breaker
from .call_metrics import call_recorder
from .limiter import build_rate_limiter


def build_config() -> HikCentralConfig:
    """The client configuration from settings; ImproperlyConfigured names the bad setting."""
    try:
        return HikCentralConfig.from_values(
            base_url=_setting("HCP_BASE_URL"),
            app_key=_setting("HCP_APP_KEY"),
            app_secret=_setting("HCP_APP_SECRET"),
            app_secret_file=_setting("HCP_APP_SECRET_FILE"),
            utc_offset=_setting("HCP_UTC_OFFSET"),
            user_id=_setting("HCP_USER_ID"),
            verify_tls=_setting("HCP_VERIFY_TLS"),
            ca_bundle=_setting("HCP_CA_BUNDLE"),
            connect_timeout=_setting("HCP_CONNECT_TIMEOUT"),
            read_timeout=_setting("HCP_READ_TIMEOUT"),
            batch_size=_setting("HCP_BATCH_SIZE"),
            admin_password=_setting("HCP_ADMIN_PASSWORD"),
        )
    except ConfigError as exc:
        raise ImproperlyConfigured(f"HikCentral settings: {exc}") from exc


def build_client(
    *,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_token_wait: float | None = None,
    **kwargs: Any,
) -> HikCentralClient:
    """A client from settings; ``kwargs`` go to HikCentralClient (response_observer, ...).

    Unless given, its requests go through the one rate limiter and the one circuit breaker
    every process shares (``limiter``, ``breaker``; docs/hikcentral.md) and are counted for
    /metrics (``call_metrics``; docs/metrics.md). A caller with someone
    waiting (the desk's face check) may shorten the timeouts and the wait for a token; the
    settings stay the upper bounds.
    """
    if "rate_limiter" not in kwargs:
        kwargs["rate_limiter"] = build_rate_limiter(max_wait=max_token_wait)
    if "circuit_breaker" not in kwargs:
        kwargs["circuit_breaker"] = build_circuit_breaker()
    if "call_observer" not in kwargs:
        kwargs["call_observer"] = call_recorder()
    config = build_config()
    config = dataclasses.replace(
        config,
        connect_timeout=min(config.connect_timeout, connect_timeout or config.connect_timeout),
        read_timeout=min(config.read_timeout, read_timeout or config.read_timeout),
    )
    return HikCentralClient(config, **kwargs)


def _setting(name: str) -> Any:
    # A missing setting and an empty string both mean "unset".
    return getattr(settings, name, None)
