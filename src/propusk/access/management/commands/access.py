"""``access``: the manual access operations for scripts, and a look at one visitor's access.

    manage.py access show    --visitor 42
    manage.py access revoke  --visitor 42 --reason "..." --user security.ivanov
    manage.py access restore|reenrol|resync|retry|cancel --visitor V8K2M4P7Q1ZX ...

``--visitor`` takes the visitor's id or HCP person code (``retry`` and ``cancel`` also a person
code whose visitor is gone). ``--user`` is the account answering for the operation: the
services check its role as they do in the admin (docs/access-engine.md#manual-operations) and
the audit log names it. Nothing printed holds a name, a face or an ID number. A refusal exits
with status 1 and its reason; an operation already in effect says so and exits with 0.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from propusk.access import services
from propusk.access.models import AccessWork, WorkPriority
from propusk.access.selectors import VisitorAccess, visitor_access
from propusk.access.services import Operation
from propusk.visitors.models import Visitor

SHOW = "show"
# What each operation prints when done, and when it was already in effect.
OUTCOMES: dict[Operation, tuple[str, str]] = {
    Operation.REVOKE: (
        "access revoked: the reconciler removes it from HCP now",
        "access was already revoked (an active hold): nothing changed",
    ),
    Operation.RESTORE: (
        "access restored: the reconciler grants what the visits give",
        "no access on hold: nothing changed",
    ),
    Operation.REENROL_FACE: (
        "the face will be sent to HCP again",
        "the face was already waiting to be sent: nothing changed",
    ),
    Operation.RESYNC: (
        "the person will be compared with HCP now",
        "the work was already due: nothing changed",
    ),
    Operation.RETRY: ("the work is due again now", "the work was already due: nothing changed"),
    Operation.CANCEL: ("the work is cancelled", "no such work: nothing changed"),
}


class Command(BaseCommand):
    help = (
        "Manual access operations on one visitor (revoke, restore, reenrol, resync, retry, "
        "cancel), audited with the reason and the user; or show the visitor's access in HCP."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("operation", choices=[SHOW, *(op.value for op in Operation)])
        parser.add_argument(
            "--visitor", required=True, help="the visitor's id or HCP person code (V...)"
        )
        parser.add_argument("--reason", default="", help="why (required for every operation)")
        parser.add_argument("--user", default="", help="the username answering for it")

    def handle(self, *args: Any, **options: Any) -> None:
        reference = str(options["visitor"]).strip()
        visitor = _find_visitor(reference)
        if options["operation"] == SHOW:
            if visitor is None:
                raise CommandError(f"no visitor {reference}")
            self.stdout.write("\n".join(describe(visitor_access(visitor))))
            return
        operation = Operation(options["operation"])
        actor = _find_user(options["user"])
        try:
            changed = self._run(operation, reference, visitor, actor, options["reason"])
        except PermissionDenied as exc:
            raise CommandError(f"refused: {exc}") from exc
        except ValidationError as exc:
            raise CommandError(f"refused: {' '.join(exc.messages)}") from exc
        done, unchanged = OUTCOMES[operation]
        self.stdout.write(f"{_label(reference, visitor)}: {done if changed else unchanged}")

    def _run(
        self,
        operation: Operation,
        reference: str,
        visitor: Visitor | None,
        actor: User,
        reason: str,
    ) -> bool:
        if operation in (Operation.RETRY, Operation.CANCEL):
            code = visitor.person_code if visitor is not None else reference
            if visitor is None and not code.startswith("V"):
                raise CommandError(f"no visitor {reference}")
            work = AccessWork.objects.filter(person_code=code).first()
            if work is None:
                if operation == Operation.RETRY:
                    raise CommandError(f"{_label(reference, visitor)}: no pending or failed work")
                return False
            perform_work: Callable[..., bool] = (
                services.retry_work if operation == Operation.RETRY else services.cancel_work
            )
            return perform_work(work=work, actor=actor, reason=reason)
        if visitor is None:
            raise CommandError(f"no visitor {reference}")
        perform: Callable[..., bool] = {
            Operation.REVOKE: services.revoke_now,
            Operation.RESTORE: services.restore,
            Operation.REENROL_FACE: services.reenrol_face,
            Operation.RESYNC: services.resync,
        }[operation]
        return perform(visitor=visitor, actor=actor, reason=reason)


def _find_visitor(reference: str) -> Visitor | None:
    if reference.isdigit():
        return Visitor.objects.filter(pk=int(reference)).first()
    return Visitor.objects.filter(person_code=reference).first()


def _find_user(username: str) -> User:
    if not username:
        raise CommandError("--user is required: the account answering for the operation")
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    return user


def _label(reference: str, visitor: Visitor | None) -> str:
    if visitor is None:
        return f"person {reference}"
    return f"visitor {visitor.pk} ({visitor.person_code})"


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def describe(access: VisitorAccess) -> list[str]:
    """The visitor's access as lines of text: no name, face or ID number."""
    visitor, desired, confirmed = access.visitor, access.desired, access.confirmed
    lines = [
        f"visitor {visitor.pk}, HCP person code {visitor.person_code}",
        f"status: {access.status.value}",
    ]
    if desired.person is None:
        lines.append("desired: no access" + (" (on hold)" if desired.held else ""))
    else:
        grant = desired.person.grant
        lines.append(
            f"desired: valid {_when(grant.begin)} - {_when(grant.end)}, "
            f"levels {', '.join(access.levels(grant.access_level_ids)) or '-'}, "
            f"face {'yes' if desired.person.face_version else 'none'}"
        )
    if confirmed is None:
        lines.append("confirmed: nothing (HCP never reached)")
    else:
        face = (
            f"rejected ({confirmed.face_rejected_reason})"
            if confirmed.face_rejected_reason
            else ("enrolled" if confirmed.face_version else "none")
        )
        lines.append(
            f"confirmed: person {confirmed.person_id or '-'}, valid {_when(confirmed.begin_time)}"
            f" - {_when(confirmed.end_time)}, "
            f"levels {', '.join(access.levels(confirmed.access_level_ids)) or '-'}, "
            f"face {face}, devices {confirmed.apply_state} "
            f"(applied {_when(confirmed.applied_at)}"
            f"{', ' + confirmed.apply_error if confirmed.apply_error else ''}), "
            f"revoked {_when(confirmed.revoked_at)}"
        )
    work = access.work
    if work is None:
        lines.append("work: none")
    else:
        error = f", last error {work.last_error_code} {work.last_error_message}".rstrip()
        lines.append(
            f"work: {work.state}, {WorkPriority(work.priority).name.lower()}, due "
            f"{_when(work.due_at)}, attempts {work.attempts}"
            f"{error if work.last_error_code else ''}"
        )
    hold = access.hold
    if hold is None:
        lines.append("hold: none")
    else:
        by = hold.created_by.get_username() if hold.created_by else "-"
        lines.append(f"hold: since {_when(hold.created_at)} by {by}: {hold.reason}")
    return lines
