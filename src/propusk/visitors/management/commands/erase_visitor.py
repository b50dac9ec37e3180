"""``erase_visitor``: erase one visitor's personal data now (docs/privacy.md).

    manage.py erase_visitor 42 --reason "the person asked (letter of 02.12.2026)"
    manage.py erase_visitor 42 --reason "..." --user admin.nurlanova

The visitor is given by id or HCP person code. The face, the camera pictures, the names,
contacts and ID number go at once (``retention.erase_visitor``); the visits stay. Refused
(exit status 1, with the reason) while a visit is not over or an incident is open.
``--user`` names the administrator answering for it (checked like in the admin); without it
the audit log says the server's operator did it through this command. Nothing printed holds a
name, a face or an ID number.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from propusk.visitors.models import Visitor
from propusk.visitors.retention import erase_visitor

COMMAND_LABEL = "manage.py erase_visitor"


class Command(BaseCommand):
    help = (
        "Erase a visitor's personal data now (face, camera pictures, names, contacts, ID "
        "number); the visits stay. Audited with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("visitor", help="the visitor's id or HCP person code")
        parser.add_argument("--reason", required=True, help="why (no names: it is audited)")
        parser.add_argument("--user", default="", help="the administrator answering for it")

    def handle(self, *args: Any, **options: Any) -> None:
        reference = str(options["visitor"]).strip()
        visitor = _find_visitor(reference)
        if visitor is None:
            raise CommandError(f"no visitor {reference}")
        username = str(options["user"]).strip()
        user = None
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"no active user {username!r}")
        try:
            result = erase_visitor(
                visitor=visitor,
                actor=user,
                reason=options["reason"],
                actor_label=None if user is not None else COMMAND_LABEL,
            )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(str(m) for m in exc.messages)) from None
        self.stdout.write(
            f"visitor {result.visitor_id} ({visitor.person_code}): personal data erased; "
            f"face {'deleted' if result.face_deleted else 'none on file'}, "
            f"{result.passage_pictures} passage picture(s) deleted, "
            f"{result.visits_kept} visit(s) kept; HCP person: {result.hcp_person}"
        )


def _find_visitor(reference: str) -> Visitor | None:
    if reference.isdigit():
        return Visitor.objects.filter(pk=int(reference)).first()
    return Visitor.objects.filter(person_code=reference).first()
