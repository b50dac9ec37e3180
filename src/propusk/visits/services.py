"""All writes to visits: registration and every status change.

Each function:
- takes keyword-only arguments; ``actor`` is the user doing it, ``None`` the system (a
  periodic task, a turnstile event, an invitation link);
- checks the actor's permission itself (``PermissionDenied``), so no view can forget;
- runs in one transaction with the visit row locked, and re-reads the status under the lock;
- refuses a change the current status does not allow with ``VisitTransitionError`` (a
  ``ValidationError`` with a message for people) and then has changed nothing;
- writes an audit entry (who, what, old -> new; never the face or the ID number);
- records access-relevant changes for the access engine in the same transaction
  (``access.work.request_reconcile``: a durable row, a worker woken after commit).

Lifecycle::

    PENDING --confirm_visit_time--> AWAITING --check_in--> CHECKED_IN --check_out--> CHECKED_OUT
    PENDING/AWAITING --cancel--> CANCELLED
    PENDING/AWAITING --close_expired_visits (window over)--> NO_SHOW
    CHECKED_IN --close_expired_visits (window + late grace over)--> CHECKED_OUT

Functions return the updated visit; the instance passed in is refreshed as well.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from propusk.access.models import AccessLevelPolicy
from propusk.access.selectors import can_choose_policy
from propusk.access.windows import visit_window
from propusk.access.work import request_reconcile
from propusk.accounts.models import Department, EmployeeProfile
from propusk.audit.services import record
from propusk.core.db import in_pages
from propusk.core.text import clean_visible_text
from propusk.core.time import now as current_time
from propusk.invitations.models import Invitation
from propusk.visitors.models import Visitor
from propusk.visitors.services import (
    VisitorData,
    count_identity_disclosure,
    delete_new_photos_on_failure,
    merge_into_stored_identity,
    register_visitor,
    reject_identity_match,
)
from propusk.visits.lifecycle import VisitAction, check_in_open, status_allows
from propusk.visits.models import (
    ACTIVE_STATUSES,
    Visit,
    VisitGroup,
    VisitKind,
    VisitStatus,
)
from propusk.visits.permissions import can_host, require, require_register_for
from propusk.visits.selectors import group_is_over, is_group_member, visit_by_submission_token

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None

MAX_COURSE = 7
CANCEL_REASON_MAX_LENGTH = 300


class VisitTransitionError(ValidationError):
    """The visit's status (or the moment) does not allow this change. Nothing was changed."""


class AlreadyInGroup(ValidationError):
    """The visitor already has a (not cancelled) visit in this group. Nothing was changed."""


@dataclass(frozen=True)
class ClosedCounts:
    """What one run of ``close_expired_visits`` changed."""

    checked_out: int = 0
    no_show: int = 0


# --- Refusals -------------------------------------------------------------------------
# One message per (action, status) the action does not accept, so the user learns why.

_REFUSALS: dict[tuple[VisitAction, VisitStatus], StrOrPromise] = {
    (VisitAction.CONFIRM, VisitStatus.AWAITING): _("The time of this visit is already confirmed."),
    (VisitAction.CONFIRM, VisitStatus.CHECKED_IN): _(
        "The time of this visit is already confirmed: the visitor is inside."
    ),
    (VisitAction.CONFIRM, VisitStatus.CHECKED_OUT): _("A checked-out visit cannot be confirmed."),
    (VisitAction.CONFIRM, VisitStatus.CANCELLED): _("A cancelled visit cannot be confirmed."),
    (VisitAction.CONFIRM, VisitStatus.NO_SHOW): _(
        "A visit closed as a no-show cannot be confirmed."
    ),
    (VisitAction.CHECK_IN, VisitStatus.PENDING): _(
        "The time of this visit is not confirmed yet: confirm it before checking the visitor in."
    ),
    (VisitAction.CHECK_IN, VisitStatus.CHECKED_IN): _("The visitor is already checked in."),
    (VisitAction.CHECK_IN, VisitStatus.CHECKED_OUT): _(
        "A checked-out visit cannot be checked in again: register a new visit."
    ),
    (VisitAction.CHECK_IN, VisitStatus.CANCELLED): _("A cancelled visit cannot be checked in."),
    (VisitAction.CHECK_IN, VisitStatus.NO_SHOW): _(
        "A visit closed as a no-show cannot be checked in: register a new visit."
    ),
    (VisitAction.CHECK_OUT, VisitStatus.PENDING): _(
        "A visit awaiting confirmation cannot be checked out: the visitor never checked in."
    ),
    (VisitAction.CHECK_OUT, VisitStatus.AWAITING): _(
        "The visitor has not checked in yet: cancel the visit instead of checking it out."
    ),
    (VisitAction.CHECK_OUT, VisitStatus.CHECKED_OUT): _("The visitor is already checked out."),
    (VisitAction.CHECK_OUT, VisitStatus.CANCELLED): _("A cancelled visit cannot be checked out."),
    (VisitAction.CHECK_OUT, VisitStatus.NO_SHOW): _(
        "A visit closed as a no-show cannot be checked out."
    ),
    (VisitAction.CANCEL, VisitStatus.CHECKED_IN): _(
        "The visitor is inside: check the visit out instead of cancelling it."
    ),
    (VisitAction.CANCEL, VisitStatus.CHECKED_OUT): _("A checked-out visit cannot be cancelled."),
    (VisitAction.CANCEL, VisitStatus.CANCELLED): _("The visit is already cancelled."),
    (VisitAction.CANCEL, VisitStatus.NO_SHOW): _(
        "A visit closed as a no-show cannot be cancelled."
    ),
    (VisitAction.CHANGE_WINDOW, VisitStatus.CHECKED_OUT): _(
        "The time of a checked-out visit cannot be changed."
    ),
    (VisitAction.CHANGE_WINDOW, VisitStatus.CANCELLED): _(
        "The time of a cancelled visit cannot be changed."
    ),
    (VisitAction.CHANGE_WINDOW, VisitStatus.NO_SHOW): _(
        "The time of a visit closed as a no-show cannot be changed."
    ),
}


def _require_status(action: VisitAction, visit: Visit) -> None:
    if not status_allows(action, visit.status):
        raise VisitTransitionError(
            _REFUSALS[(action, VisitStatus(visit.status))], code="invalid_transition"
        )


# --- Validation -----------------------------------------------------------------------


def _local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%d.%m.%Y %H:%M")


def validate_window(
    *, planned_start: datetime, planned_end: datetime, now: datetime | None = None
) -> None:
    """A visit window must be aware, ordered, not too long, and must not be over already.

    Raises ``ValidationError`` keyed by ``planned_start`` / ``planned_end``.
    """
    if timezone.is_naive(planned_start) or timezone.is_naive(planned_end):
        _refuse_window("planned_start", _("Give the date and time with a time zone."), "naive")
    if planned_end <= planned_start:
        _refuse_window("planned_end", _("The visit must end after it starts."), "end_before_start")
    max_hours = settings.VISIT_MAX_DURATION_HOURS
    if planned_end - planned_start > timedelta(hours=max_hours):
        _refuse_window(
            "planned_end",
            ngettext_lazy(
                "A visit can last at most %(hours)d hour.",
                "A visit can last at most %(hours)d hours.",
                "hours",
            ),
            "too_long",
            {"hours": max_hours},
        )
    moment = now or current_time()
    if planned_end <= moment:
        _refuse_window("planned_end", _("The end of the visit is already in the past."), "past")
    latest_start = moment + timedelta(days=settings.VISIT_PLAN_AHEAD_DAYS)
    if planned_start > latest_start:
        _refuse_window(
            "planned_start",
            ngettext_lazy(
                "A visit can be planned at most %(days)d day ahead.",
                "A visit can be planned at most %(days)d days ahead.",
                "days",
            ),
            "too_far_ahead",
            {"days": settings.VISIT_PLAN_AHEAD_DAYS},
        )


def _refuse_window(
    field: str, message: StrOrPromise, code: str, params: dict[str, Any] | None = None
) -> NoReturn:
    raise ValidationError({field: ValidationError(message, code=code, params=params)})


def _add(errors: dict[str, list[ValidationError]], field: str, error: ValidationError) -> None:
    errors.setdefault(field, []).append(error)


def _check_host_and_policy(
    errors: dict[str, list[ValidationError]],
    *,
    host: User,
    access_policy: AccessLevelPolicy,
    actor: Actor,
) -> None:
    if not can_host(host):
        _add(
            errors,
            "host",
            ValidationError(
                _("This person cannot host visitors: choose an active employee who hosts."),
                code="not_a_host",
            ),
        )
    if not access_policy.is_active:
        _add(
            errors,
            "access_policy",
            ValidationError(_("This access policy is switched off."), code="inactive_policy"),
        )
    elif not can_choose_policy(actor, access_policy):
        _add(
            errors,
            "access_policy",
            ValidationError(
                _("Only reception or an administrator may give this access policy."),
                code="policy_not_allowed",
            ),
        )


def _visible_text(field: str, value: str) -> str:
    """Text others will read, normalised; ``ValidationError`` keyed by ``field`` for invisible
    or control characters (``core.text``)."""
    try:
        return clean_visible_text(value)
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from None


def _check_length(errors: dict[str, list[ValidationError]], field: str, value: str) -> None:
    limit = getattr(Visit._meta.get_field(field), "max_length", None)
    if limit is not None and len(value) > limit:
        _add(
            errors,
            field,
            ValidationError(
                ngettext_lazy(
                    "At most %(limit)d character, please.",
                    "At most %(limit)d characters, please.",
                    "limit",
                ),
                code="too_long",
                params={"limit": limit},
            ),
        )


def _validate_registration(
    *,
    kind: VisitKind,
    visitor: Visitor,
    host: User,
    planned_start: datetime,
    planned_end: datetime,
    access_policy: AccessLevelPolicy,
    department: Department | None,
    purpose: str,
    student_id: str,
    student_group: str,
    course: int | None,
    group: VisitGroup | None,
    now: datetime,
    actor: Actor,
) -> None:
    errors: dict[str, list[ValidationError]] = {}
    try:
        validate_window(planned_start=planned_start, planned_end=planned_end, now=now)
    except ValidationError as exc:
        for field, field_errors in exc.error_dict.items():
            for error in field_errors:
                _add(errors, field, error)
    _check_host_and_policy(errors, host=host, access_policy=access_policy, actor=actor)
    if department is not None and not department.is_active:
        _add(
            errors,
            "department",
            ValidationError(_("This department is closed."), code="inactive_department"),
        )
    for field, value in (
        ("purpose", purpose),
        ("student_id", student_id),
        ("student_group", student_group),
    ):
        _check_length(errors, field, value)
    if kind == VisitKind.STUDENT:
        if course is not None and not 1 <= course <= MAX_COURSE:
            _add(
                errors,
                "course",
                ValidationError(
                    _("The course is a number from 1 to %(max)d."),
                    code="bad_course",
                    params={"max": MAX_COURSE},
                ),
            )
    elif student_id or student_group or course is not None:
        _add(
            errors,
            "kind",
            ValidationError(
                _("Student details are for student visits only."), code="student_fields"
            ),
        )
    if (kind == VisitKind.GROUP) != (group is not None):
        _add(
            errors,
            "kind",
            ValidationError(
                _("A group visit belongs to a visit group, and only a group visit does."),
                code="group_mismatch",
            ),
        )
    if group is not None and group.host_id != host.pk:
        _add(
            errors,
            "host",
            ValidationError(
                _("The host of a group member's visit is the host of the group."),
                code="group_host",
            ),
        )
    if not visitor.photo:
        _add(
            errors,
            "photo",
            ValidationError(
                _("The visitor has no face photo: the turnstile needs one."), code="no_photo"
            ),
        )
    if visitor.consent_given_at is None:
        _add(
            errors,
            "consent",
            ValidationError(
                _("The visitor has not agreed to the processing of personal data."),
                code="no_consent",
            ),
        )
    if errors:
        raise ValidationError(errors)


# --- Registration ---------------------------------------------------------------------


def register_visit(
    *,
    kind: VisitKind,
    visitor: Visitor,
    host: User,
    planned_start: datetime,
    planned_end: datetime,
    access_policy: AccessLevelPolicy,
    actor: Actor,
    department: Department | None = None,
    purpose: str = "",
    single_pass: bool | None = None,
    student_id: str = "",
    student_group: str = "",
    course: int | None = None,
    group: VisitGroup | None = None,
    invitation: Invitation | None = None,
    status: VisitStatus = VisitStatus.AWAITING,
    submission_token: uuid.UUID | None = None,
) -> Visit:
    """Register one visit: AWAITING (time fixed) or PENDING (time to be confirmed).

    - The host must be an active user holding the host or administrator role; the actor must
      be reception or an administrator, or the host themselves (``None``: the system, e.g.
      an invitation link the host sent).
    - The visitor must have a face photo and recorded consent, whatever the status.
    - ``department`` defaults to the host's department; ``single_pass`` to the policy's default.
    - Student details (``student_id`` optional: applicants have none) only on student visits;
      a group visit needs ``group`` and the group's host.
    - A person is in a group once (``selectors.is_group_member``): ``AlreadyInGroup``
      otherwise. The group row is locked for the check, so two registrations of the same
      person (link and desk alike) cannot both get in.
    - A repeated ``submission_token`` (double submit) returns the visit it created, unchanged.
    """
    if status not in (VisitStatus.AWAITING, VisitStatus.PENDING):
        raise ValueError(f"a visit is registered as AWAITING or PENDING, not {status}")
    if submission_token is not None:
        existing = visit_by_submission_token(submission_token)
        if existing is not None:
            return existing
    require_register_for(actor, host)
    moment = current_time()
    purpose = _visible_text("purpose", purpose)
    student_id = _visible_text("student_id", student_id)
    student_group = _visible_text("student_group", student_group)
    _validate_registration(
        kind=kind,
        visitor=visitor,
        host=host,
        planned_start=planned_start,
        planned_end=planned_end,
        access_policy=access_policy,
        department=department,
        purpose=purpose,
        student_id=student_id,
        student_group=student_group,
        course=course,
        group=group,
        now=moment,
        # A group's own policy was checked when the group was made.
        actor=None if group is not None and access_policy.pk == group.access_policy_id else actor,
    )
    if department is None:
        department = _department_of(host)
    visit = Visit(
        kind=kind,
        status=status,
        visitor=visitor,
        host=host,
        department=department,
        purpose=purpose,
        planned_start=planned_start,
        planned_end=planned_end,
        group=group,
        invitation=invitation,
        student_id=student_id,
        student_group=student_group,
        course=course,
        access_policy=access_policy,
        single_pass=access_policy.single_pass_default if single_pass is None else single_pass,
        created_by=_user_or_none(actor),
        submission_token=submission_token,
    )
    with transaction.atomic():
        if group is not None:
            _require_not_in_group(group, visitor)
        try:
            with transaction.atomic():
                visit.save()
        except IntegrityError:
            # The same form was submitted twice at the same moment: the other one won.
            if submission_token is not None:
                existing = visit_by_submission_token(submission_token)
                if existing is not None:
                    return existing
            raise
        record(
            actor=actor,
            actor_label=_actor_label(actor, invitation),
            action="visit.registered",
            target=visit,
            changes={
                "status": [None, visit.status],
                "kind": [None, visit.kind],
                "visitor": [None, visit.visitor_id],
                "host": [None, visit.host_id],
                "department": [None, visit.department_id],
                "planned_start": [None, visit.planned_start],
                "planned_end": [None, visit.planned_end],
                "access_policy": [None, access_policy.key],
                "single_pass": [None, visit.single_pass],
                "group": [None, visit.group_id],
                "invitation": [None, visit.invitation_id],
            },
        )
        if visit.status in ACTIVE_STATUSES:
            _reconcile_access(visit, reason="registered")
    logger.info("visit %s registered (%s, %s)", visit.pk, visit.kind, visit.status)
    return visit


class _LostRace(Exception):
    """A simultaneous submit of the same form won. Raised (not ``set_rollback``) inside the
    registration block so that ``delete_new_photos_on_failure`` also deletes the face file
    this submit wrote: a rolled-back visitor must not leave biometric data behind."""

    def __init__(self, visit: Visit) -> None:
        super().__init__(visit.pk)
        self.visit = visit


def register_with_visitor(
    *,
    visitor: VisitorData,
    actor: Actor,
    register: Callable[[Visitor], Visit],
    actor_label: str | None = None,
) -> Visit:
    """Register a visitor (new or returning: ``visitors.services.register_visitor``) and their
    visit, in one transaction: the one way in for the registration pages, the desk's group
    members and the invitation link.

    ``register`` makes the visit for the registered visitor (``register_visit``,
    ``register_walk_in``, ``register_group_member`` with the caller's arguments). If it is
    refused, nothing is kept: no visitor row, no face file. If a simultaneous submit of the
    same form (same ``submission_token``) won the race, its visit is returned and this
    submit's visitor and face are dropped.
    """
    try:
        with delete_new_photos_on_failure(), transaction.atomic():
            person = register_visitor(data=visitor, actor=actor, actor_label=actor_label)
            visit = register(person)
            if visit.visitor_id != person.pk:
                raise _LostRace(visit)
    except _LostRace as lost:
        return lost.visit
    return visit


def register_walk_in(
    *,
    kind: VisitKind,
    visitor: Visitor,
    host: User,
    planned_end: datetime,
    access_policy: AccessLevelPolicy,
    actor: Actor,
    department: Department | None = None,
    purpose: str = "",
    single_pass: bool | None = None,
    student_id: str = "",
    student_group: str = "",
    course: int | None = None,
    submission_token: uuid.UUID | None = None,
) -> Visit:
    """A visit that starts now (the visitor is at the desk).

    It is AWAITING like any other: the access engine grants access from now, and the visitor
    is checked in by their first entry through a turnstile or by reception's button.
    """
    return register_visit(
        kind=kind,
        visitor=visitor,
        host=host,
        planned_start=current_time().replace(microsecond=0),
        planned_end=planned_end,
        access_policy=access_policy,
        actor=actor,
        department=department,
        purpose=purpose,
        single_pass=single_pass,
        student_id=student_id,
        student_group=student_group,
        course=course,
        submission_token=submission_token,
    )


def register_group_member(
    *,
    group: VisitGroup,
    visitor: Visitor,
    actor: Actor,
    single_pass: bool | None = None,
    submission_token: uuid.UUID | None = None,
) -> Visit:
    """Staff add one member to a group (at the desk: a class with its teacher, no phone).

    The visit takes everything from the group - its host, window, department, purpose and
    access policy; only ``single_pass`` is chosen. Reception and administrators may add to any
    group, a host to the groups they host (``PermissionDenied`` otherwise). Refused once the
    group's window is over, and for a person already in the group (``AlreadyInGroup``).
    The visit has no invitation: it is not a use of the group's link and does not count
    against the link's ``max_uses``.
    """
    require_register_for(actor, group.host)
    if group_is_over(group):
        raise ValidationError(
            _("The group's visit ended at %(time)s: no more members can be registered."),
            code="group_over",
            params={"time": _local(group.planned_end)},
        )
    return register_visit(
        kind=VisitKind.GROUP,
        visitor=visitor,
        host=group.host,
        planned_start=group.planned_start,
        planned_end=group.planned_end,
        access_policy=group.access_policy,
        actor=actor,
        department=group.department,
        purpose=group.purpose,
        single_pass=single_pass,
        group=group,
        submission_token=submission_token,
    )


def create_visit_group(
    *,
    name: str,
    host: User,
    planned_start: datetime,
    planned_end: datetime,
    access_policy: AccessLevelPolicy,
    actor: Actor,
    department: Department | None = None,
    purpose: str = "",
) -> VisitGroup:
    """A group (one host, one window); members join with ``register_visit(kind=GROUP)``."""
    require_register_for(actor, host)
    errors: dict[str, list[ValidationError]] = {}
    try:
        validate_window(planned_start=planned_start, planned_end=planned_end)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    name = _visible_text("name", name)
    purpose = _visible_text("purpose", purpose)
    if not name:
        _add(errors, "name", ValidationError(_("Name the group."), code="required"))
    _check_host_and_policy(errors, host=host, access_policy=access_policy, actor=actor)
    _check_length(errors, "purpose", purpose.strip())
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        group = VisitGroup.objects.create(
            name=name.strip(),
            host=host,
            department=department if department is not None else _department_of(host),
            purpose=purpose.strip(),
            planned_start=planned_start,
            planned_end=planned_end,
            access_policy=access_policy,
            created_by=_user_or_none(actor),
        )
        record(
            actor=actor,
            action="visit_group.created",
            target=group,
            changes={
                "name": [None, group.name],
                "host": [None, host.pk],
                "planned_start": [None, planned_start],
                "planned_end": [None, planned_end],
                "access_policy": [None, access_policy.key],
            },
        )
    return group


# --- Transitions ----------------------------------------------------------------------


def confirm_visit_time(
    *, visit: Visit, planned_start: datetime, planned_end: datetime, actor: Actor
) -> Visit:
    """PENDING -> AWAITING with the confirmed window (the host, reception or an admin)."""
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CONFIRM, locked)
        _require_status(VisitAction.CONFIRM, locked)
        validate_window(planned_start=planned_start, planned_end=planned_end)
        _save_change(
            locked,
            actor=actor,
            action="visit.time_confirmed",
            values={
                "status": VisitStatus.AWAITING,
                "planned_start": planned_start,
                "planned_end": planned_end,
            },
            reconcile="confirmed",
        )
    return _refreshed(visit, locked)


def check_in(*, visit: Visit, actor: Actor, at: datetime | None = None) -> Visit:
    """AWAITING -> CHECKED_IN at ``at`` (default now), inside the visit's access window.

    The window is the planned one widened by the policy's early-arrival and late-leave grace
    (``access.windows``): the same window the turnstile honours, so a passage the turnstile
    let through is never refused here.
    """
    moment = _aware(at) if at is not None else current_time()
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CHECK_IN, locked)
        _require_status(VisitAction.CHECK_IN, locked)
        if not check_in_open(locked, moment):
            # The same rule as the check-in button (``permissions.available_actions``).
            opens = visit_window(locked)[0]
            if moment < opens:
                raise VisitTransitionError(
                    _("Too early: check-in for this visit opens at %(time)s."),
                    code="too_early",
                    params={"time": _local(opens)},
                )
            raise VisitTransitionError(
                _("Too late: this visit ended at %(time)s."),
                code="too_late",
                params={"time": _local(locked.planned_end)},
            )
        _save_change(
            locked,
            actor=actor,
            action="visit.checked_in",
            values={"status": VisitStatus.CHECKED_IN, "checked_in_at": moment},
            reconcile="checked_in",
        )
    return _refreshed(visit, locked)


def check_out(*, visit: Visit, actor: Actor, at: datetime | None = None) -> Visit:
    """CHECKED_IN -> CHECKED_OUT at ``at`` (default now); access ends."""
    moment = _aware(at) if at is not None else current_time()
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CHECK_OUT, locked)
        _require_status(VisitAction.CHECK_OUT, locked)
        if locked.checked_in_at is not None and moment < locked.checked_in_at:
            raise VisitTransitionError(
                _("The check-out time cannot be before the check-in time (%(time)s)."),
                code="out_before_in",
                params={"time": _local(locked.checked_in_at)},
            )
        _save_change(
            locked,
            actor=actor,
            action="visit.checked_out",
            values={
                "status": VisitStatus.CHECKED_OUT,
                "checked_out_at": moment,
                "access_should_end_at": moment,
            },
            reconcile="checked_out",
            revoke=True,
        )
    return _refreshed(visit, locked)


def cancel(*, visit: Visit, actor: Actor, reason: str = "") -> Visit:
    """PENDING/AWAITING -> CANCELLED. A visitor who is inside is checked out instead."""
    reason = " ".join(reason.split())
    if len(reason) > CANCEL_REASON_MAX_LENGTH:
        raise ValidationError(
            {
                "reason": ValidationError(
                    ngettext_lazy(
                        "At most %(limit)d character, please.",
                        "At most %(limit)d characters, please.",
                        "limit",
                    ),
                    code="too_long",
                    params={"limit": CANCEL_REASON_MAX_LENGTH},
                )
            }
        )
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CANCEL, locked)
        _require_status(VisitAction.CANCEL, locked)
        had_access = locked.status in ACTIVE_STATUSES
        moment = current_time()
        values: dict[str, Any] = {
            "status": VisitStatus.CANCELLED,
            "cancelled_at": moment,
            "cancel_reason": reason,
        }
        if had_access:
            values["access_should_end_at"] = moment
        _save_change(
            locked,
            actor=actor,
            action="visit.cancelled",
            values=values,
            reconcile="cancelled" if had_access else None,
            revoke=True,
        )
    return _refreshed(visit, locked)


def change_window(
    *,
    visit: Visit,
    planned_start: datetime | None,
    planned_end: datetime,
    actor: Actor,
) -> Visit:
    """Extend or shorten a visit.

    PENDING / AWAITING: both ends may move. CHECKED_IN: only the end (``planned_start`` None
    or unchanged), and it must stay in the future. Final statuses: refused. The window rules
    of registration apply (ordered, not too long, not over).
    """
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CHANGE_WINDOW, locked)
        _require_status(VisitAction.CHANGE_WINDOW, locked)
        new_start = locked.planned_start if planned_start is None else planned_start
        if locked.status == VisitStatus.CHECKED_IN and new_start != locked.planned_start:
            raise VisitTransitionError(
                _("The visitor is already inside: only the end of the visit can be changed."),
                code="start_locked",
            )
        validate_window(planned_start=new_start, planned_end=planned_end)
        if (new_start, planned_end) == (locked.planned_start, locked.planned_end):
            return _refreshed(visit, locked)
        shrinks = new_start > locked.planned_start or planned_end < locked.planned_end
        _save_change(
            locked,
            actor=actor,
            action="visit.window_changed",
            values={"planned_start": new_start, "planned_end": planned_end},
            reconcile="window_changed" if locked.status in ACTIVE_STATUSES else None,
            revoke=shrinks,
        )
    return _refreshed(visit, locked)


# --- Identity at the desk ----------------------------------------------------------------


def confirm_visitor_identity(
    *, visit: Visit, actor: Actor, same_person: bool, take_submitted: bool = False
) -> Visit:
    """Reception checked the ID document of a visitor whose ID number matched a stored
    visitor (``Visitor.needs_identity_check``; see ``visitors.services.register_visitor``).

    ``same_person``: every visit of the submitted record moves to the stored identity (one
    HCP person), keeping the stored details and face unless ``take_submitted``. Otherwise the
    number is removed from the submitted record and its visits stay with it. Reception and
    administrators who may open the visit (``PermissionDenied`` otherwise). Each moved visit
    is audited; both HCP persons are queued for the access engine. A same-person decision
    shows the stored identity, so it counts as a look-up unless the actor compared this match
    within the hour (``count_identity_disclosure``: ``LookupThrottled`` over the allowance).
    """
    require(actor, VisitAction.VIEW, visit)
    if same_person:
        # Outside the transaction: a refusal's audit entry must stay.
        count_identity_disclosure(claimant=visit.visitor, actor=actor)
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.VIEW, locked)
        claimant = locked.visitor
        if not same_person:
            reject_identity_match(claimant=claimant, actor=actor)
            return _refreshed(visit, _lock(visit))
        holder, moved = merge_into_stored_identity(
            claimant=claimant, actor=actor, take_submitted=take_submitted
        )
        for visit_id in moved:
            record(
                actor=actor,
                action="visit.visitor_confirmed",
                target=Visit(pk=visit_id),
                changes={"visitor": [claimant.pk, holder.pk]},
            )
        if moved:
            # The submitted record's HCP person goes; the stored identity's takes its visits.
            request_reconcile(
                person_code=claimant.person_code,
                visitor_id=None,
                reason=f"visitor {claimant.pk} merged into {holder.pk}",
                revoke=True,
            )
            request_reconcile(
                person_code=holder.person_code,
                visitor_id=holder.pk,
                reason=f"visits of visitor {claimant.pk} moved here",
            )
        locked = _lock(visit)
    logger.info("visit %s: visitor identity confirmed at the desk", visit.pk)
    return _refreshed(visit, locked)


# --- Expiry ---------------------------------------------------------------------------


def close_expired_visits(*, now: datetime | None = None) -> ClosedCounts:
    """Close visits whose time is over. Idempotent; safe to run in several workers at once.

    - CHECKED_IN whose access window (planned end + late-leave grace) is over -> CHECKED_OUT,
      ``checked_out_at`` = the end of that window (the last moment they had access).
    - AWAITING whose access window is over -> NO_SHOW (never came; the same window as
      ``check_in`` accepts, so a late arrival inside the grace can still check in).
    - PENDING whose proposed end has passed -> NO_SHOW (it never had access).

    Each row is claimed with a conditional UPDATE on the status and end it was judged by, so
    of two concurrent runs only one changes (and audits) a given visit, and a visit extended
    meanwhile is left alone.
    """
    moment = now or current_time()
    checked_out = no_show = 0
    candidates = (
        Visit.objects.filter(
            status__in=[VisitStatus.CHECKED_IN, VisitStatus.AWAITING, VisitStatus.PENDING],
            planned_end__lte=moment,
        )
        .select_related("access_policy")
        .order_by("planned_end", "pk")
    )
    for visit in in_pages(candidates, order=("planned_end", "pk")):
        if visit.status == VisitStatus.PENDING:
            if _claim(
                visit,
                to=VisitStatus.NO_SHOW,
                fields={"closed_at": moment},
                action="visit.no_show",
                moment=moment,
            ):
                no_show += 1
            continue
        access_end = visit_window(visit)[1]
        if access_end > moment:
            continue
        if visit.status == VisitStatus.CHECKED_IN:
            if _claim(
                visit,
                to=VisitStatus.CHECKED_OUT,
                fields={"checked_out_at": access_end},
                action="visit.expired_checked_out",
                moment=moment,
            ):
                checked_out += 1
        elif _claim(
            visit,
            to=VisitStatus.NO_SHOW,
            fields={"closed_at": moment},
            action="visit.no_show",
            moment=moment,
        ):
            no_show += 1
    if checked_out or no_show:
        logger.info("closed expired visits: %d checked out, %d no-show", checked_out, no_show)
    return ClosedCounts(checked_out=checked_out, no_show=no_show)


def _claim(
    visit: Visit,
    *,
    to: VisitStatus,
    fields: dict[str, Any],
    action: str,
    moment: datetime,
) -> bool:
    """Move one visit from the status it was read with; False if someone else got there."""
    had_access = visit.status in ACTIVE_STATUSES
    if had_access:
        fields = {**fields, "access_should_end_at": visit_window(visit)[1]}
    with transaction.atomic():
        claimed = Visit.objects.filter(
            pk=visit.pk, status=visit.status, planned_end=visit.planned_end
        ).update(status=to, updated_at=moment, **fields)
        if claimed != 1:
            return False
        changes: dict[str, Any] = {"status": [visit.status, to]}
        changes.update({name: [None, value] for name, value in fields.items()})
        record(actor=None, action=action, target=visit, changes=changes)
        if had_access:
            _reconcile_access(visit, reason="expired", revoke=True)
    return True


# --- Helpers --------------------------------------------------------------------------


def _lock(visit: Visit) -> Visit:
    return Visit.objects.select_for_update().get(pk=visit.pk)


def _save_change(
    visit: Visit,
    *,
    actor: Actor,
    action: str,
    values: dict[str, Any],
    reconcile: str | None,
    revoke: bool = False,
) -> None:
    """Set ``values`` on the locked visit, save only them, audit old -> new for the fields
    that changed (an unchanged field is not a change), and (when the change touches access:
    ``reconcile`` names why) record work for the access engine."""
    changes = {
        name: [getattr(visit, name), value]
        for name, value in values.items()
        if getattr(visit, name) != value
    }
    for name, value in values.items():
        setattr(visit, name, value)
    visit.save(update_fields=[*values, "updated_at"])
    record(actor=actor, action=action, target=visit, changes=changes)
    if reconcile is not None:
        _reconcile_access(visit, reason=reconcile, revoke=revoke)


def _reconcile_access(visit: Visit, *, reason: str, revoke: bool = False) -> None:
    """In this transaction: the visitor's HCP person must be reconciled (``access.work``)."""
    person_code = Visitor.objects.values_list("person_code", flat=True).get(pk=visit.visitor_id)
    request_reconcile(
        person_code=person_code,
        visitor_id=visit.visitor_id,
        reason=f"visit {visit.pk} {reason}",
        revoke=revoke,
    )


def _refreshed(visit: Visit, locked: Visit) -> Visit:
    """Copy the saved state onto the caller's instance, so it is not left stale."""
    if visit is not locked:
        for field in Visit._meta.concrete_fields:
            setattr(visit, field.attname, getattr(locked, field.attname))
    return visit


def _aware(value: datetime) -> datetime:
    if timezone.is_naive(value):
        raise ValueError("`at` must be timezone-aware")
    return value


def _user_or_none(actor: Actor) -> User | None:
    if actor is not None and actor.is_authenticated and isinstance(actor, User):
        return actor
    return None


def _actor_label(actor: Actor, invitation: Invitation | None) -> str | None:
    if actor is None and invitation is not None:
        return f"invitation:{invitation.pk}"
    return None


def _require_not_in_group(group: VisitGroup, visitor: Visitor) -> None:
    """Lock the group row (serialising its registrations) and refuse a second membership."""
    VisitGroup.objects.select_for_update().get(pk=group.pk)
    if is_group_member(group, visitor.pk):
        raise AlreadyInGroup(
            _("%(name)s is already registered in this group."),
            code="already_in_group",
            params={"name": visitor.full_name},
        )


def _department_of(host: User) -> Department | None:
    profile = EmployeeProfile.objects.filter(user=host).select_related("department").first()
    return profile.department if profile is not None else None


# --- Passages (propusk.passages) --------------------------------------------------------


def correct_check_in_time(*, visit: Visit, at: datetime, actor: Actor) -> Visit:
    """Move ``checked_in_at`` of a checked-in (or checked-out) visit earlier, to ``at``: a
    turnstile entry that happened before the recorded check-in arrived late (events out of
    order, or the visitor passed the door before the desk). Only earlier, never before the
    access window opened nor after a check-out; access is not affected. Audited."""
    moment = _aware(at)
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CHECK_IN, locked)
        if locked.status not in (VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT):
            raise VisitTransitionError(
                _("Only a visit that was checked in has a check-in time to correct."),
                code="not_checked_in",
            )
        if locked.checked_in_at is not None and moment >= locked.checked_in_at:
            return _refreshed(visit, locked)
        if moment < visit_window(locked)[0]:
            raise VisitTransitionError(
                _("Too early: check-in for this visit opens at %(time)s."),
                code="too_early",
                params={"time": _local(visit_window(locked)[0])},
            )
        _save_change(
            locked,
            actor=actor,
            action="visit.check_in_time_corrected",
            values={"checked_in_at": moment},
            reconcile=None,
        )
    return _refreshed(visit, locked)


def correct_check_out_time(*, visit: Visit, at: datetime, actor: Actor) -> Visit:
    """Move ``checked_out_at`` of a checked-out visit earlier, to ``at``: a turnstile exit
    that ended the visit (single pass) happened before the recorded check-out but arrived
    late (events out of order). Only earlier, never before the check-in; access is already
    revoked and stays so. Audited."""
    moment = _aware(at)
    with transaction.atomic():
        locked = _lock(visit)
        require(actor, VisitAction.CHECK_OUT, locked)
        if locked.status != VisitStatus.CHECKED_OUT:
            raise VisitTransitionError(
                _("Only a checked-out visit has a check-out time to correct."),
                code="not_checked_out",
            )
        if locked.checked_out_at is not None and moment >= locked.checked_out_at:
            return _refreshed(visit, locked)
        if locked.checked_in_at is not None and moment < locked.checked_in_at:
            raise VisitTransitionError(
                _("The check-out time cannot be before the check-in time (%(time)s)."),
                code="out_before_in",
                params={"time": _local(locked.checked_in_at)},
            )
        values: dict[str, Any] = {"checked_out_at": moment}
        if locked.access_should_end_at is None or moment < locked.access_should_end_at:
            values["access_should_end_at"] = moment
        _save_change(
            locked,
            actor=actor,
            action="visit.check_out_time_corrected",
            values=values,
            reconcile=None,
        )
    return _refreshed(visit, locked)
