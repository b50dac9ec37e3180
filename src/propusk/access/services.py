"""Manual access operations: what staff do by hand to a visitor's access in HikCentral.

Revoke now, restore, re-enrol the face, resync one visitor, retry failed work, cancel pending
work (docs/access-engine.md#manual-operations). Each function, like the visit services:

- takes keyword-only arguments; ``actor`` is the user doing it - never the system: a manual
  operation always has a person to answer for it;
- checks the actor's role itself (``OPERATION_ROLES``; reception only for the visitors its
  pages reach) and raises ``PermissionDenied`` otherwise;
- requires a reason (``clean_reason``), kept in the audit entry (and on the hold);
- runs in one transaction, and a refusal (``ValidationError``) changes nothing;
- acts only on the engine's rows - the hold, the confirmed state, the durable work - and never
  calls HCP: the reconciler applies the change when the work comes due, and audits every call
  it makes (``hcp.*``);
- returns whether it changed anything: repeating an operation that is already in effect (a
  second "revoke now") changes nothing and records nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from propusk.access.desired import desired_state
from propusk.access.models import (
    AccessHold,
    AccessWork,
    HcpPerson,
    WorkPriority,
    WorkState,
)
from propusk.access.reconciler import note_observed_person
from propusk.access.windows import gives_access_now_or_later
from propusk.access.work import MAX_REASONS, request_reconcile, wake_reconciler
from propusk.accounts.roles import Role, roles_of
from propusk.audit.services import record
from propusk.core.text import clean_visible_text
from propusk.core.time import now as current_time
from propusk.visitors.models import Visitor
from propusk.visits.models import ACTIVE_STATUSES, Visit

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Actor = AbstractBaseUser | AnonymousUser

REASON_MAX_LENGTH = 300  # AccessHold.reason
_NATIONAL_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


class Operation(StrEnum):
    REVOKE = "revoke"
    RESTORE = "restore"
    REENROL_FACE = "reenrol"
    RESYNC = "resync"
    RETRY = "retry"
    CANCEL = "cancel"


# Who may do what (docs/access-engine.md#manual-operations). A hold is security's decision:
# the desk neither places nor lifts it. The desk sees the visitor at the turnstile and takes
# the photos: it may push the face and the person again, and retry failed work (as any change
# of the visit would). Cancelling work drops a change HCP was to receive: administrators only.
OPERATION_ROLES: dict[Operation, frozenset[Role]] = {
    Operation.REVOKE: frozenset({Role.ADMINISTRATOR, Role.SECURITY}),
    Operation.RESTORE: frozenset({Role.ADMINISTRATOR, Role.SECURITY}),
    Operation.REENROL_FACE: frozenset({Role.ADMINISTRATOR, Role.RECEPTION}),
    Operation.RESYNC: frozenset({Role.ADMINISTRATOR, Role.RECEPTION}),
    Operation.RETRY: frozenset({Role.ADMINISTRATOR, Role.RECEPTION}),
    Operation.CANCEL: frozenset({Role.ADMINISTRATOR}),
}

AUDIT_ACTIONS = {
    Operation.REVOKE: "access.revoked_now",
    Operation.RESTORE: "access.restored",
    Operation.REENROL_FACE: "access.face_reenrol",
    Operation.RESYNC: "access.resync",
    Operation.RETRY: "access.work_retried",
    Operation.CANCEL: "access.work_cancelled",
}

OPERATION_LABELS: dict[Operation, StrOrPromise] = {
    Operation.REVOKE: _("Revoke access now"),
    Operation.RESTORE: _("Restore access"),
    Operation.REENROL_FACE: _("Re-enrol the face"),
    Operation.RESYNC: _("Resync with HikCentral"),
    Operation.RETRY: _("Retry the work"),
    Operation.CANCEL: _("Cancel the work"),
}

BUSY = _(
    "The access engine is working on this visitor in HikCentral right now: try again in a minute."
)


# --- Permissions and the reason -----------------------------------------------------------


def can_operate(user: Actor, operation: Operation, visitor: Visitor | None = None) -> bool:
    """May ``user`` do ``operation`` (to ``visitor``, when given)?

    Administrators and security reach every visitor; reception only a visitor with a visit its
    pages show (today's, anyone inside, those it registered): the visit selectors decide.
    Without ``visitor`` the answer is whether the user's roles allow the operation at all (for
    buttons and admin actions; the services always pass the visitor).
    """
    allowed = roles_of(user) & OPERATION_ROLES[operation]
    if not allowed:
        return False
    if visitor is None or allowed & {Role.ADMINISTRATOR, Role.SECURITY}:
        return True
    from propusk.visits.selectors import visits_visible_to

    return visits_visible_to(user).filter(visitor_id=visitor.pk).exists()


def require(user: Actor, operation: Operation, visitor: Visitor | None) -> None:
    if visitor is None and not roles_of(user) & {Role.ADMINISTRATOR}:
        # Work left by a deleted visitor (an identity merged at the desk): no visit to reach.
        raise PermissionDenied(_("Only an administrator may do this to work with no visitor."))
    if not can_operate(user, operation, visitor):
        raise PermissionDenied(_("You are not allowed to do this to this visitor's access."))


def clean_reason(reason: str | None) -> str:
    """The reason, one line, required: it is kept in the audit log (and on a hold), so it must
    not hold an ID number. ``ValidationError`` otherwise."""
    text = clean_visible_text(reason)
    if not text:
        raise ValidationError(_("Give a reason: it is kept in the audit log."), code="required")
    if len(text) > REASON_MAX_LENGTH:
        raise ValidationError(
            _("Keep the reason under %(limit)d characters.") % {"limit": REASON_MAX_LENGTH},
            code="max_length",
        )
    if _NATIONAL_ID.search(text):
        raise ValidationError(
            _("Do not put an ID number in the reason: it is kept in the audit log."),
            code="national_id",
        )
    return text


# --- The operations -----------------------------------------------------------------------


def revoke_now(*, visitor: Visitor, actor: Actor, reason: str, now: datetime | None = None) -> bool:
    """Take every access away from ``visitor`` now, whatever their visits, until restored.

    An ``AccessHold`` makes the desired state "no access" (``access.desired``) and revocation
    work goes first in the queue. False if a hold is already active (nothing changes).
    """
    moment = now or current_time()
    with transaction.atomic():
        locked = _lock_visitor(visitor)
        require(actor, Operation.REVOKE, locked)
        text = clean_reason(reason)
        if AccessHold.objects.filter(visitor=locked, released_at__isnull=True).exists():
            return False
        hold = AccessHold.objects.create(
            visitor=locked, reason=text, created_by=_user_or_none(actor)
        )
        request_reconcile(
            person_code=locked.person_code,
            visitor_id=locked.pk,
            reason=f"manual revoke (hold {hold.pk})",
            revoke=True,
            now=moment,
        )
        _audit(actor, Operation.REVOKE, locked, reason=text, hold_id=hold.pk)
    return True


def restore(*, visitor: Visitor, actor: Actor, reason: str, now: datetime | None = None) -> bool:
    """Release the visitor's active hold(s): their visits give access again as they should.
    False if no hold is active (nothing changes)."""
    moment = now or current_time()
    with transaction.atomic():
        locked = _lock_visitor(visitor)
        require(actor, Operation.RESTORE, locked)
        text = clean_reason(reason)
        holds = list(
            AccessHold.objects.select_for_update()
            .filter(visitor=locked, released_at__isnull=True)
            .order_by("pk")
        )
        if not holds:
            return False
        AccessHold.objects.filter(pk__in=[hold.pk for hold in holds]).update(
            released_at=moment, released_by=_user_or_none(actor)
        )
        request_reconcile(
            person_code=locked.person_code,
            visitor_id=locked.pk,
            reason="manual restore",
            now=moment,
        )
        _audit(
            actor,
            Operation.RESTORE,
            locked,
            reason=text,
            hold_ids=[hold.pk for hold in holds],
            held_since=holds[0].created_at,
        )
    return True


def reenrol_face(
    *,
    visitor: Visitor,
    actor: Actor,
    reason: str,
    photo_jpeg: bytes | None = None,
    visit: Visit | None = None,
    now: datetime | None = None,
) -> bool:
    """Send the visitor's face to HCP again: a new photo taken at the desk (``photo_jpeg``,
    already checked and normalised), or the stored face once more (HCP lost it, or refused it
    for a reason that has passed).

    Only for a face that opens doors: refused (``no_access``) on a ``visit`` (the visit page
    the staff act from) that gives no access any more - cancelled, checked out, no-show or
    over - and, without ``visit`` (the admin, the command), for a visitor none of whose visits
    gives access now or later (``access.windows.gives_access_now_or_later``).

    The face HCP confirmed is marked stale (``HcpPerson.face_version`` and its rejection
    cleared), so the reconciler sends the stored file when the work runs. Refused while a
    worker holds this person's work (it would write back the face it read). False if the same
    face is already waiting to be sent.
    """
    from propusk.visitors.services import delete_new_photos_on_failure, replace_photo

    moment = now or current_time()
    with delete_new_photos_on_failure(), transaction.atomic():
        locked = _lock_visitor(visitor)
        require(actor, Operation.REENROL_FACE, locked)
        text = clean_reason(reason)
        _require_access_for_face(locked, visit, moment)
        if not locked.photo and photo_jpeg is None:
            raise ValidationError(
                _("This visitor has no face photo: take one first."), code="no_photo"
            )
        work = _locked_work(locked.person_code)
        if work is not None and _in_flight(work, moment):
            raise ValidationError(BUSY, code="busy")
        confirmed = (
            HcpPerson.objects.select_for_update().filter(person_code=locked.person_code).first()
        )
        stale = confirmed is None or not (confirmed.face_version or confirmed.face_rejected_reason)
        if photo_jpeg is None and stale and _due(work, moment):
            return False
        if photo_jpeg is not None:
            replace_photo(visitor=locked, photo_jpeg=photo_jpeg, actor=actor)
        rejected = confirmed.face_rejected_reason if confirmed is not None else ""
        if confirmed is not None:
            HcpPerson.objects.filter(pk=confirmed.pk).update(
                face_version="", face_rejected_reason=""
            )
        request_reconcile(
            person_code=locked.person_code,
            visitor_id=locked.pk,
            reason="manual face re-enrolment",
            now=moment,
        )
        _audit(
            actor,
            Operation.REENROL_FACE,
            locked,
            reason=text,
            rejected_before=rejected,
            new_photo=photo_jpeg is not None,
        )
    return True


def _require_access_for_face(visitor: Visitor, visit: Visit | None, moment: datetime) -> None:
    """Re-enrolling is for a face that opens doors: ``visit`` (read again now) or, without
    one, some visit of the visitor must give access now or later."""
    if visit is not None:
        if visit.visitor_id != visitor.pk:
            raise ValueError("the visit is not this visitor's")
        current = Visit.objects.select_related("access_policy").get(pk=visit.pk)
        if not gives_access_now_or_later(current, moment):
            raise ValidationError(
                _(
                    "This visit gives no access any more (cancelled, checked out or over): "
                    "there is no face to re-enrol for it."
                ),
                code="no_access",
            )
        return
    visits = Visit.objects.filter(visitor=visitor, status__in=ACTIVE_STATUSES).select_related(
        "access_policy"
    )
    if not any(gives_access_now_or_later(each, moment) for each in visits):
        raise ValidationError(
            _(
                "None of this visitor's visits gives access now or later: "
                "there is no face to re-enrol."
            ),
            code="no_access",
        )


def resync(*, visitor: Visitor, actor: Actor, reason: str, now: datetime | None = None) -> bool:
    """Have the reconciler compare the visitor's person in HCP with the desired state now, and
    repair any difference (a person edited by hand in HCP). Sync priority: behind revocations
    and grants. False if the visitor's work is already due (the next run does it)."""
    moment = now or current_time()
    with transaction.atomic():
        locked = _lock_visitor(visitor)
        require(actor, Operation.RESYNC, locked)
        text = clean_reason(reason)
        if _due(_locked_work(locked.person_code), moment):
            return False  # due, or held by a worker right now: the run does it
        request_reconcile(
            person_code=locked.person_code,
            visitor_id=locked.pk,
            reason="manual resync",
            priority=WorkPriority.SYNC,
            now=moment,
        )
        _audit(actor, Operation.RESYNC, locked, reason=text)
    return True


def retry_work(*, work: AccessWork, actor: Actor, reason: str, now: datetime | None = None) -> bool:
    """Failed work (also work failed on the slow schedule of errors that may clear by
    themselves, or pending work waiting out a backoff) back to pending, due now, attempts from
    zero; its priority is kept. False if it is already due."""
    moment = now or current_time()
    with transaction.atomic():
        row = _locked_work_row(work)
        visitor = _visitor_of(row)
        require(actor, Operation.RETRY, visitor)
        text = clean_reason(reason)
        if _due(row, moment):  # pending and due, or held by a worker right now
            return False
        was = _describe(row)
        row.state = WorkState.PENDING
        row.retries_by_itself = False
        row.attempts = 0
        row.due_at = moment
        row.generation += 1
        row.reasons = [*row.reasons, "manual retry"][-MAX_REASONS:]
        row.save()
        _audit(actor, Operation.RETRY, visitor or row, reason=text, work=was)
    transaction.on_commit(wake_reconciler)
    return True


def cancel_work(
    *, work: AccessWork, actor: Actor, reason: str, now: datetime | None = None
) -> bool:
    """Delete pending or failed work; the audit entry keeps what it was. False if it is gone
    already.

    Refused while a worker holds it, and for work that takes access away in HCP (a
    revocation, or a person HCP holds with more than it should): cancelling that would leave
    access that must end, and hide the failure that says so.
    """
    moment = now or current_time()
    with transaction.atomic():
        row = AccessWork.objects.select_for_update().filter(pk=work.pk).first()
        if row is None:
            return False
        visitor = _visitor_of(row)
        require(actor, Operation.CANCEL, visitor)
        text = clean_reason(reason)
        if _in_flight(row, moment):
            raise ValidationError(BUSY, code="busy")
        if takes_access_away(row, now=moment):
            raise ValidationError(
                _(
                    "This work takes access away in HikCentral: cancelling it would leave "
                    "access that must end. Fix the cause and retry it."
                ),
                code="revocation",
            )
        was = _describe(row)
        target: models.Model = visitor or row
        _audit(actor, Operation.CANCEL, target, reason=text, work=was)
        row.delete()
    return True


# --- Helpers ------------------------------------------------------------------------------


def takes_access_away(work: AccessWork, *, now: datetime) -> bool:
    """Does this work (still) remove access HCP gives? Pending revocations do; so does any
    work while HCP holds the person with levels or validity the desired state no longer has."""
    if work.state == WorkState.PENDING and work.priority == WorkPriority.REVOKE:
        return True
    confirmed = HcpPerson.objects.filter(person_code=work.person_code).first()
    if confirmed is None or not confirmed.person_id or confirmed.revoked_at is not None:
        return False
    wanted = desired_state(work.person_code, now=now).person
    if wanted is None:
        return True
    if set(confirmed.access_level_ids) - wanted.grant.access_level_ids:
        return True
    return confirmed.end_time is not None and confirmed.end_time > wanted.grant.end


def _lock_visitor(visitor: Visitor) -> Visitor:
    """The visitor row, locked: manual operations on one visitor take turns."""
    locked = Visitor.objects.select_for_update().filter(pk=visitor.pk).first()
    if locked is None:
        raise ValidationError(_("This visitor no longer exists."), code="gone")
    return locked


def _locked_work(person_code: str) -> AccessWork | None:
    return AccessWork.objects.select_for_update().filter(person_code=person_code).first()


def _locked_work_row(work: AccessWork) -> AccessWork:
    row = AccessWork.objects.select_for_update().filter(pk=work.pk).first()
    if row is None:
        raise ValidationError(
            _("This work is done or was cancelled: there is nothing to retry."), code="gone"
        )
    return row


def _visitor_of(work: AccessWork) -> Visitor | None:
    return Visitor.objects.filter(person_code=work.person_code).first()


def _in_flight(work: AccessWork, now: datetime) -> bool:
    """A worker holds the work's lease (one that expired belongs to a worker that died)."""
    return work.leased_until is not None and work.leased_until > now


def _due(work: AccessWork | None, now: datetime) -> bool:
    """Pending and due: the next run of the reconciler takes it."""
    return work is not None and work.state == WorkState.PENDING and work.due_at <= now


def _describe(work: AccessWork) -> dict[str, Any]:
    return {
        "id": work.pk,
        "person_code": work.person_code,
        "priority": WorkPriority(work.priority).name.lower(),
        "state": work.state,
        "due_at": work.due_at,
        "attempts": work.attempts,
        "last_error_code": work.last_error_code,
        "last_error_message": work.last_error_message,
        "reasons": work.reasons,
    }


def _user_or_none(actor: Actor) -> Any:
    return actor if actor.is_authenticated else None


def _audit(
    actor: Actor, operation: Operation, target: models.Model, *, reason: str, **details: Any
) -> None:
    """Who, what, why; never a face or an ID number (the reason is checked for one)."""
    person_code = getattr(target, "person_code", "")
    record(
        actor=actor,
        action=AUDIT_ACTIONS[operation],
        target=target,
        changes={"reason": reason, "person_code": person_code, **details},
    )


# --- What the visit page offers -----------------------------------------------------------


def manual_operations(user: Actor, visit: Any, *, now: datetime | None = None) -> list[Operation]:
    """The operations ``user`` may do by hand to the access of ``visit``'s visitor now, in the
    order the page shows them: the role allows it (``can_operate``) and the visitor's state
    makes it mean something (restore only under a hold, cancel only work that gives access,
    retry only work that failed or waits out a backoff, re-enrol only a stored face and only
    on a visit that gives access now or later - as ``reenrol_face`` refuses otherwise)."""
    from propusk.access.selectors import access_work, active_hold

    visitor: Visitor = visit.visitor
    moment = now or current_time()
    work = access_work(visitor)
    held = active_hold(visitor) is not None
    wanted = {
        Operation.REVOKE: not held,
        Operation.RESTORE: held,
        Operation.REENROL_FACE: bool(visitor.photo) and gives_access_now_or_later(visit, moment),
        Operation.RESYNC: True,
        Operation.RETRY: work is not None
        and (work.state == WorkState.FAILED or (work.attempts > 0 and work.due_at > moment)),
        Operation.CANCEL: work is not None and not takes_access_away(work, now=moment),
    }
    return [op for op, offered in wanted.items() if offered and can_operate(user, op, visitor)]


# --- Repair from the HikCentral person view -----------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What HCP was just read to hold for a person of ours."""

    person_id: str
    access_level_ids: frozenset[str]


def repair_person(
    *,
    person_code: str,
    actor: Actor,
    reason: str,
    observed: Observed | None = None,
    now: datetime | None = None,
) -> bool:
    """Have the reconciler bring one person in HCP back to the desired state (the HCP person
    view's "repair"): a visitor's person is resynced (``resync``); a person of ours that no
    visitor has any more is queued as a revocation, so its access ends and the retention
    cleanup removes it. ``observed``: what HCP was just read to hold for the person (its id
    and the access levels of our policies holding it), recorded first as the full sync does
    (``reconciler.note_observed_person``), so that a membership removed or added by hand is
    repaired too. Administrators only. False if the work is already due."""
    if not roles_of(actor) & {Role.ADMINISTRATOR}:
        raise PermissionDenied(_("Only an administrator may do this."))
    clean_reason(reason)  # refused before anything is recorded
    visitor = Visitor.objects.filter(person_code=person_code).first()
    if observed is not None:
        wanted = desired_state(person_code, now=now or current_time()).person
        wanted_levels = wanted.grant.access_level_ids if wanted is not None else frozenset()
        note_observed_person(
            person_code=person_code,
            visitor_id=visitor.pk if visitor is not None else None,
            person_id=observed.person_id,
            access_level_ids=observed.access_level_ids,
            lacks_wanted_level=bool(wanted_levels - set(observed.access_level_ids)),
        )
    if visitor is not None:
        return resync(visitor=visitor, actor=actor, reason=reason, now=now)
    moment = now or current_time()
    with transaction.atomic():
        require(actor, Operation.RESYNC, None)
        text = clean_reason(reason)
        if _due(_locked_work(person_code), moment):
            return False
        request_reconcile(
            person_code=person_code,
            visitor_id=None,
            reason="manual repair: no visitor",
            revoke=True,
            now=moment,
        )
        target = HcpPerson.objects.filter(
            person_code=person_code
        ).first() or AccessWork.objects.get(person_code=person_code)
        _audit(actor, Operation.RESYNC, target, reason=text)
    return True
