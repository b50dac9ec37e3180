"""The simulator's settings: one frozen object built by the CLI and read everywhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path

from hcp_simulator.quirks import Quirks


@dataclass(frozen=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8900
    app_key: str = "simulator-key"
    app_secret: str = "simulator-secret"  # noqa: S105 - a development default
    # Site time zone: every time the simulator writes carries this offset.
    utc_offset: timezone = field(default_factory=lambda: timezone(timedelta(hours=5)))
    seed_demo: bool = False
    # Organisations (by name) under the root that the site always has: added at start, after
    # loading a state file and on reset, when no organisation has that name.
    orgs: tuple[str, ...] = ()
    # Devices: seconds between a reapplication call and the change reaching the turnstiles.
    apply_delay: float = 1.0
    # Gateway.
    timestamp_window: float = 900.0
    auth_failure_status: int = 200
    quota_rps: float | None = None
    latency_ms: float = 0.0
    admin_password: str | None = None
    admin_lock_attempts: int = 5
    # Switchable behaviours (quirks.py); the control API changes them at run time and
    # `reset` restores these.
    quirks: Quirks = field(default_factory=Quirks)
    max_face_bytes: int = 200 * 1024
    soft_version: str = "V2.6.0"
    # Storage and housekeeping.
    state_file: Path | None = None
    max_events: int = 100_000
    push_buffer_size: int = 500
    push_buffer_seconds: float = 24 * 3600.0
    push_timeout: float = 3.0
    control_api: bool = True
    # TLS: certificate and key paths, filled in by the CLI when --tls is given.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ca_cert: Path | None = None
    access_log: bool = False
    log_level: str = "info"
