"""``hcp_sync [--dry-run]``: the access engine's full sync, on demand (docs/access-engine.md).

Prints the drift found person by person (person codes and HCP's ids, never a name, a phone
number or a face), then - unless ``--dry-run`` - repairs it at once in this process and says
whether each person converged. Exit status 0: in sync or repaired; 1: HCP could not be read
completely, or a repair failed.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.access.sync import FAILED_WORK, full_sync, repair_now
from propusk.integrations.hikcentral.factory import build_client


class Command(BaseCommand):
    help = (
        "Compare every person and access-level membership of ours in HCP with the desired "
        "state and repair the drift (--dry-run: only print it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="print the drift; change and queue nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        try:
            client = build_client()
        except ImproperlyConfigured as exc:
            raise CommandError(f"HCP is not configured: {exc}") from exc
        with client:
            report = full_sync(client=client, dry_run=dry_run)
            mode = " (dry run: nothing changed)" if dry_run else ""
            self.stdout.write(
                f"Compared {report.checked} person(s) of ours with HCP{mode}: "
                f"{len(report.drift)} differ."
            )
            for drift in report.drift:
                self.stdout.write(f"  {drift.describe()}")
            if report.untouched:
                self.stdout.write(
                    f"Not ours (outside our organisation or without our person code prefix), "
                    f"left untouched: {len(report.untouched)}."
                )
                for person in report.untouched:
                    self.stdout.write(f"  {person.describe()}")
            if report.in_sync:
                self.stdout.write("HCP is in sync.")
            if dry_run:
                self._fail_if_incomplete(report.complete, report.errors)
                return
            # What was queued (never a removal after an incomplete read) is repaired anyway.
            outcome = repair_now(report, client=client)
        if report.queued:
            self.stdout.write(
                f"Repaired {len(outcome.repaired)} of {len(report.queued)} queued person(s)."
            )
        for code in outcome.in_progress:
            self.stdout.write(f"  {code}: still in progress (a worker holds it, or it waits)")
        for code, error in outcome.failed:
            self.stdout.write(f"  {code}: not repaired: {error}")
        # Drift left alone because the person's work failed earlier: someone must act.
        stuck = [drift for drift in report.drift if drift.action.startswith(FAILED_WORK)]
        self._fail_if_incomplete(report.complete, report.errors)
        if outcome.failed or stuck:
            raise CommandError(
                f"{len(outcome.failed) + len(stuck)} person(s) differ from the desired state "
                "and could not be repaired (see above)."
            )

    def _fail_if_incomplete(self, complete: bool, errors: list[str]) -> None:
        if not complete:
            raise CommandError(
                "HCP could not be read completely, so nothing was taken away: " + "; ".join(errors)
            )
