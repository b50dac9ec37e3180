"""``purge_personal_data``: the retention purge now, or what it would do (docs/privacy.md).

    manage.py purge_personal_data --dry-run
    manage.py purge_personal_data

Faces past ``PROPUSK_FACE_RETENTION_DAYS`` deleted, visitors past
``PROPUSK_VISITOR_DATA_RETENTION_DAYS`` anonymised, as beat does every ten minutes.
``--dry-run`` changes nothing and prints what would go. Prints counts and visitor ids, never
names.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from propusk.visitors.retention import purge_personal_data, purge_plan


class Command(BaseCommand):
    help = "Delete faces and anonymise visitors past their retention (or --dry-run: list them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="change nothing; print what would go"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry = bool(options["dry_run"])
        result = purge_plan() if dry else purge_personal_data()
        prefix = "would " if dry else ""
        self.stdout.write(
            f"{prefix}anonymise {len(result.anonymised)} visitor(s): {_ids(result.anonymised)}"
        )
        self.stdout.write(
            f"{prefix}delete the face of {len(result.faces_deleted)} visitor(s): "
            f"{_ids(result.faces_deleted)}"
        )
        if not dry:
            self.stdout.write(f"deleted {result.passage_pictures} passage picture(s)")


def _ids(ids: list[int]) -> str:
    return ", ".join(str(pk) for pk in ids) if ids else "-"
