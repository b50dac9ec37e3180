"""``manage.py acceptance_check``: the user's acceptance checks as one command, against the
configured HikCentral, which must be the HCP simulator (``make run`` starts one). Exits
non-zero, with the failed step's message, on any failure; cleans up after itself."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.integrations.hikcentral.factory import build_client
from propusk.passages.acceptance import (
    AcceptanceFailed,
    read_photo,
    run_check,
    simulator_control,
)


class Command(BaseCommand):
    help = (
        "Register a test visit with a face photo, let the access engine apply it in the HCP "
        "simulator, pass the simulator's turnstile in and out, and check the visit checked "
        "in and out, access revoked, the host notified and a later attempt refused. Cleans "
        "up after itself. Only against the HCP simulator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--photo", help="a JPEG/PNG of a real face (default: a sample)")
        parser.add_argument("--host", default="", help="the host's username (default: any)")
        parser.add_argument("--policy", default="", help="the access policy key (guest)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            control = simulator_control(settings.HCP_BASE_URL)
            try:
                photo = read_photo(options["photo"]) if options["photo"] else None
                with build_client() as client:
                    run_check(
                        client=client,
                        control=control,
                        say=self.stdout.write,
                        photo=photo,
                        host_username=options["host"],
                        policy_key=options["policy"],
                    )
            finally:
                control.close()
        except AcceptanceFailed as exc:
            raise CommandError(f"acceptance check FAILED: {exc}") from exc
        self.stdout.write(self.style.SUCCESS("acceptance check passed"))
