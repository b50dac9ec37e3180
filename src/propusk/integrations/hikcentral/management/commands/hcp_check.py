"""``hcp_check``: connect to HCP with the configured partner and show what it can see.

``--deep`` also tries, on a throw-away person, every call whose answer no public source shows
and prints what came back (deep_check.py; docs/hikcentral.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

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
from hikcentral.limits import NoCircuitBreaker
from propusk.integrations.hikcentral.deep_check import (
    AnswerLog,
    DeepCheckOptions,
    run_deep_check,
)
from propusk.integrations.hikcentral.factory import build_client

JPEG_MAGIC = b"\xff\xd8\xff"

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

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--deep",
            action="store_true",
            help="also try every unverified call on a throw-away person (removed at the end)",
        )
        parser.add_argument(
            "--org",
            default=None,
            help="--deep: orgIndexCode of the organisation for the person (default: ours, the "
            "one named HCP_ORG_NAME)",
        )
        parser.add_argument(
            "--access-level",
            default=None,
            help="--deep: access level to add the person to (default: the first listed)",
        )
        parser.add_argument(
            "--face",
            type=Path,
            default=None,
            help="--deep: a JPEG face photo to send (default: a generated picture, which a "
            "real HCP may refuse as not a face)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        face = self._face(options["face"])
        answers = AnswerLog()
        try:
            # A diagnosis asks HCP itself even while the workers' breaker is open (it shares
            # the call rate, though: the site's quota is one).
            client = build_client(response_observer=answers, circuit_breaker=NoCircuitBreaker())
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        config = client.config
        self.stdout.write(f"HCP: {config.base_url} (TLS verification: {config.verify_label})")
        try:
            with client:
                self._report(client)
                if options["deep"]:
                    deep = DeepCheckOptions(
                        org_index_code=options["org"],
                        org_name=settings.HCP_ORG_NAME,
                        access_level_id=options["access_level"],
                        face_jpeg=face,
                    )
                    result = run_deep_check(client, answers, self.stdout.write, deep)
        except HikCentralError as exc:
            kind = "transient" if exc.retryable else "permanent"
            message = f"HCP check failed ({type(exc).__name__}, {kind}): {exc}"
            hint = next((text for cls, text in HINTS if isinstance(exc, cls)), None)
            if hint:
                message += f"\nHint: {hint}"
            raise CommandError(message) from exc
        if options["deep"]:
            problems = []
            if result.failed_steps:
                problems.append("failed steps: " + "; ".join(result.failed_steps))
            if result.person_left_behind:
                problems.append(
                    f"the throw-away person {result.person_code} may still be in HCP: "
                    "delete it there (personCode search)"
                )
            if problems:
                raise CommandError("HCP deep check failed: " + "\n".join(problems))
            self.stdout.write(self.style.SUCCESS("HCP deep check OK"))
            return
        self.stdout.write(self.style.SUCCESS("HCP connection OK"))

    @staticmethod
    def _face(path: Path | None) -> bytes:
        if path is None:
            return b""
        try:
            jpeg = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"--face: cannot read {path}: {exc.strerror}") from exc
        if not jpeg.startswith(JPEG_MAGIC):
            raise CommandError(f"--face: {path} is not a JPEG picture")
        return jpeg

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
