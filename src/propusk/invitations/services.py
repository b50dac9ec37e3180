"""Writes for invitations: create, revoke, and redeem a link (the visitor registering).

A single invitation is one visitor, used once; it may leave the time open, and the visit made
from it then waits in PENDING until the host or reception confirms the time. A group
invitation fixes the window, owns a VisitGroup, and is used by each member of the group, up to
``max_uses``. Redeeming is atomic with the invitation row locked: the use count cannot be
overrun, and a double submit (same ``submission_token``) returns the visit it created.
Staff may add members to the group at the desk (``visits.services.register_group_member``);
those visits are not uses of the link and do not count against ``max_uses``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from propusk.access.models import AccessLevelPolicy
from propusk.access.selectors import can_choose_policy
from propusk.accounts.models import Department, EmployeeProfile
from propusk.audit.services import record
from propusk.core.text import clean_visible_text
from propusk.core.time import now as current_time
from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.selectors import InvitationState, can_manage, invitation_state
from propusk.visitors.services import VisitorData, delete_new_photos_on_failure
from propusk.visits.models import Visit, VisitKind, VisitStatus
from propusk.visits.permissions import can_host, can_register_for
from propusk.visits.selectors import visit_by_submission_token
from propusk.visits.services import (
    create_visit_group,
    register_visit,
    register_with_visitor,
    validate_window,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser

MAX_GROUP_USES = 500
INVITATION_ACTOR_LABEL = "invitation"


class InvitationUnavailable(ValidationError):
    """The link cannot be used: unknown, revoked, expired or used up. Nothing was changed.

    ``code`` is one of the ``InvitationState`` values (or ``"unknown"``).
    """


_UNAVAILABLE_MESSAGES = {
    "unknown": _("This invitation link is not valid."),
    InvitationState.REVOKED: _("This invitation has been withdrawn by the person who sent it."),
    InvitationState.EXPIRED: _("This invitation has expired."),
    InvitationState.USED: _("This invitation has already been used."),
}


def unavailable(code: str) -> InvitationUnavailable:
    return InvitationUnavailable(_UNAVAILABLE_MESSAGES[code], code=str(code))


def create_invitation(
    *,
    host: User,
    actor: User,
    kind: InvitationKind,
    access_policy: AccessLevelPolicy,
    purpose: str,
    department: Department | None,
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    expires_at: datetime | None = None,
    max_uses: int = 1,
    group_name: str = "",
) -> Invitation:
    """A new invitation link. Hosts invite for themselves; reception and administrators for
    any host; security and users without a role cannot invite (``PermissionDenied``)."""
    if not actor.is_authenticated or not can_register_for(actor, host):
        raise PermissionDenied(_("You are not allowed to invite visitors for this host."))
    moment = current_time()
    try:
        purpose, group_name = clean_visible_text(purpose), clean_visible_text(group_name)
    except ValidationError as exc:
        raise ValidationError({"purpose": exc.error_list}) from None
    has_window = planned_start is not None or planned_end is not None
    if expires_at is None:
        expires_at = moment + timedelta(hours=settings.INVITATION_LIFETIME_HOURS)
        if planned_end is not None:
            # Registering after the visit is over makes no sense.
            expires_at = min(expires_at, planned_end)
    _validate_invitation(
        actor=actor,
        host=host,
        kind=kind,
        access_policy=access_policy,
        planned_start=planned_start,
        planned_end=planned_end,
        has_window=has_window,
        expires_at=expires_at,
        max_uses=max_uses,
        moment=moment,
    )
    with transaction.atomic():
        group = None
        if kind == InvitationKind.GROUP and planned_start and planned_end:  # validated above
            group = create_visit_group(
                name=group_name or purpose or str(_("Group visit")),
                host=host,
                planned_start=planned_start,
                planned_end=planned_end,
                access_policy=access_policy,
                actor=actor,
                department=department,
                purpose=purpose,
            )
        if group is not None:
            department = group.department
        elif department is None:
            department = _department_of(host)  # shown to the visitor on the public page
        invitation = Invitation.objects.create(
            kind=kind,
            host=host,
            department=department,
            purpose=purpose,
            access_policy=access_policy,
            planned_start=planned_start,
            planned_end=planned_end,
            group=group,
            max_uses=max_uses,
            expires_at=expires_at,
            created_by=actor,
        )
        # The token is a bearer secret: it is not written to the audit trail.
        record(
            actor=actor,
            action="invitation.created",
            target=invitation,
            changes={
                "kind": kind,
                "host": host.pk,
                "access_policy": access_policy.key,
                "planned_start": planned_start,
                "planned_end": planned_end,
                "max_uses": max_uses,
                "expires_at": expires_at,
                "group": group.pk if group is not None else None,
            },
        )
    logger.info("invitation %s created (%s)", invitation.pk, kind)
    return invitation


def revoke_invitation(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Withdraw the link: nobody can register with it any more. Visits already registered
    through it stay; the host cancels them on their own pages if needed."""
    if not can_manage(actor, invitation):
        raise PermissionDenied(_("You are not allowed to withdraw this invitation."))
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.revoked_at is None:
            locked.revoked_at = current_time()
            locked.save(update_fields=["revoked_at"])
            record(
                actor=actor,
                action="invitation.revoked",
                target=locked,
                changes={"revoked_at": locked.revoked_at},
            )
    invitation.revoked_at = locked.revoked_at
    return invitation


def redeem_invitation(*, token: str, data: VisitorData, submission_token: uuid.UUID) -> Visit:
    """A visitor registers through the link: their visitor record and their visit.

    Refuses an unknown, revoked, expired or used-up link (``InvitationUnavailable``) and
    anything the visitor or visit services refuse (``ValidationError``), creating nothing.
    """
    # The outer block owns the face file: it goes if anything below fails (the use count too).
    with delete_new_photos_on_failure(), transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("access_policy", "group", "host")
            .filter(token=token)
            .first()
        )
        if invitation is None:
            raise unavailable("unknown")
        earlier = visit_by_submission_token(submission_token)
        if earlier is not None:
            if earlier.invitation_id != invitation.pk:
                raise ValidationError(_("Please reload the page and send the form again."))
            return earlier  # the same form sent twice: one visit, counted once
        state = invitation_state(invitation)
        if state != InvitationState.OPEN:
            raise unavailable(state)
        planned_start, planned_end, status = _window_for(invitation)
        visit = register_with_visitor(
            visitor=data,
            actor=None,
            actor_label=INVITATION_ACTOR_LABEL,
            register=lambda visitor: register_visit(
                kind=VisitKind.GROUP
                if invitation.kind == InvitationKind.GROUP
                else VisitKind.GUEST,
                visitor=visitor,
                host=invitation.host,
                planned_start=planned_start,
                planned_end=planned_end,
                access_policy=invitation.access_policy,
                actor=None,
                department=invitation.department,
                purpose=invitation.purpose,
                group=invitation.group,
                invitation=invitation,
                status=status,
                submission_token=submission_token,
            ),
        )
        invitation.uses_count += 1
        invitation.save(update_fields=["uses_count"])
    logger.info("invitation %s used: visit %s", invitation.pk, visit.pk)
    return visit


def _department_of(host: User) -> Department | None:
    profile = EmployeeProfile.objects.filter(user=host).select_related("department").first()
    return profile.department if profile is not None else None


def _window_for(invitation: Invitation) -> tuple[datetime, datetime, VisitStatus]:
    """The visit window and status for a visit made from this invitation.

    Without a fixed time the visit is PENDING with a proposed window starting now and lasting
    as long as an invitation does: it grants no access, and if nobody confirms a time by its
    end the visit is closed as a no-show.
    """
    if invitation.group is not None:
        return invitation.group.planned_start, invitation.group.planned_end, VisitStatus.AWAITING
    if invitation.planned_start is not None and invitation.planned_end is not None:
        return invitation.planned_start, invitation.planned_end, VisitStatus.AWAITING
    start = current_time().replace(second=0, microsecond=0)
    hours = min(settings.INVITATION_LIFETIME_HOURS, settings.VISIT_MAX_DURATION_HOURS)
    return start, start + timedelta(hours=max(hours, 1)), VisitStatus.PENDING


def _validate_invitation(
    *,
    actor: User,
    host: User,
    kind: InvitationKind,
    access_policy: AccessLevelPolicy,
    planned_start: datetime | None,
    planned_end: datetime | None,
    has_window: bool,
    expires_at: datetime,
    max_uses: int,
    moment: datetime,
) -> None:
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: StrOrPromise, code: str) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    if not can_host(host):
        add("host", _("This person cannot host visitors."), "not_a_host")
    if not access_policy.is_active:
        add("access_policy", _("This access policy is switched off."), "inactive_policy")
    elif not can_choose_policy(actor, access_policy):
        add(
            "access_policy",
            _("Only reception or an administrator may give this access policy."),
            "policy_not_allowed",
        )
    if kind not in InvitationKind.values:
        add("kind", _("Choose one visitor or a group."), "bad_kind")
    if has_window:
        if planned_start is None or planned_end is None:
            add("planned_end", _("Give both the start and the end, or neither."), "half_window")
        else:
            try:
                validate_window(planned_start=planned_start, planned_end=planned_end, now=moment)
            except ValidationError as exc:
                for field, field_errors in exc.error_dict.items():
                    errors.setdefault(field, []).extend(field_errors)
    elif kind == InvitationKind.GROUP:
        add("planned_start", _("A group invitation needs the time of the visit."), "no_window")
    if kind == InvitationKind.SINGLE and max_uses != 1:
        add("max_uses", _("A single invitation is used once."), "single_uses")
    if not 1 <= max_uses <= MAX_GROUP_USES:
        add(
            "max_uses",
            _("The number of registrations is from 1 to %(max)s.") % {"max": MAX_GROUP_USES},
            "bad_uses",
        )
    if expires_at <= moment:
        add("expires_at", _("The link must expire in the future."), "expired")
    elif expires_at > moment + timedelta(days=settings.VISIT_PLAN_AHEAD_DAYS):
        add(
            "expires_at",
            ngettext_lazy(
                "A link can stay open at most %(days)d day.",
                "A link can stay open at most %(days)d days.",
                settings.VISIT_PLAN_AHEAD_DAYS,
            )
            % {"days": settings.VISIT_PLAN_AHEAD_DAYS},
            "too_far_ahead",
        )
    if errors:
        raise ValidationError(errors)
