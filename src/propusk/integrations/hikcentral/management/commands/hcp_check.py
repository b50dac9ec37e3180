"""``hcp_check``: connect to HCP with the configured partner and show what it can see."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from hikcentral import (
    HCPNetworkError,
    HCPPermissionDenied,
    HCPSignatureRejected,
    HCPTimeout,
    HCPTLSError,
    HCPUnsupported,
    HikCentralClient,
    HikCentralError,
)
from propusk.integrations.hikcentral.factory import build_client

HINTS: list[tuple[type[HikCentralError], str]] = [
    (HCPTLSError, "set HCP_CA_BUNDLE to the server's CA, or HCP_VERIFY_TLS=false if you must"),
    (HCPTimeout, "check HCP_BASE_URL, the network path and HCP_CONNECT/READ_TIMEOUT"),
    (HCPNetworkError, "check HCP_BASE_URL (scheme, host, port) and the network path"),
    (
        HCPSignatureRejected,
        "check HCP_APP_KEY / HCP_APP_SECRET against the partner in HCP, and that this "
        "server's clock agrees with HCP's (every request is signed with a timestamp)",
    ),
    (HCPPermissionDenied, "authorise the partner for this API group in HCP (docs/hikcentral.md)"),
    (HCPUnsupported, "this HCP version or licence lacks the API (docs/hikcentral.md)"),
]


class Command(BaseCommand):
    help = "Check the HCP connection: print HCP's version and the access levels and doors it shows."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client = build_client()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        config = client.config
        self.stdout.write(f"HCP: {config.base_url} (TLS verification: {config.verify_label})")
        try:
            with client:
                self._report(client)
        except HikCentralError as exc:
            kind = "transient" if exc.retryable else "permanent"
            message = f"HCP check failed ({type(exc).__name__}, {kind}): {exc}"
            hint = next((text for cls, text in HINTS if isinstance(exc, cls)), None)
            if hint:
                message += f"\nHint: {hint}"
            raise CommandError(message) from exc
        self.stdout.write(self.style.SUCCESS("HCP connection OK"))

    def _report(self, client: HikCentralClient) -> None:
        version = client.version()
        self.stdout.write(f"Version: {version.product_name} {version.soft_version}")
        levels = client.list_access_levels()
        self.stdout.write(f"Access levels: {len(levels)}")
        for level in levels:
            self.stdout.write(f"  {level.access_level_id}: {level.name}")
        doors = client.list_doors()
        self.stdout.write(f"Doors: {len(doors)}")
        for door in doors:
            self.stdout.write(f"  {door.door_index_code}: {door.door_name}")
