"""Reads for invitations and the rules of who may see and manage them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from propusk.accounts.roles import Role, roles_of
from propusk.core.time import now as current_time
from propusk.invitations.models import Invitation
from propusk.visits.models import Visit, VisitGroup

AnyUser = AbstractBaseUser | AnonymousUser

# Who may open the invitation pages at all (security and users without a role may not).
INVITING_ROLES = frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.HOST})
# Who sees and manages every host's invitations.
ALL_INVITATIONS_ROLES = frozenset({Role.ADMINISTRATOR, Role.RECEPTION})


class InvitationState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return str(_STATE_LABELS[self])


_STATE_LABELS = {
    InvitationState.OPEN: _("Open"),
    InvitationState.USED: _("Used"),
    InvitationState.EXPIRED: _("Expired"),
    InvitationState.REVOKED: _("Withdrawn"),
}


def invitation_state(invitation: Invitation, *, now: datetime | None = None) -> InvitationState:
    if invitation.revoked_at is not None:
        return InvitationState.REVOKED
    if invitation.uses_count >= invitation.max_uses:
        return InvitationState.USED
    if invitation.expires_at <= (now or current_time()):
        return InvitationState.EXPIRED
    return InvitationState.OPEN


def may_invite(user: AnyUser) -> bool:
    return bool(roles_of(user) & INVITING_ROLES)


def can_manage(user: AnyUser, invitation: Invitation) -> bool:
    """See and withdraw: the host of the invitation, reception and administrators."""
    held = roles_of(user)
    if held & ALL_INVITATIONS_ROLES:
        return True
    return Role.HOST in held and invitation.host_id == user.pk


def invitations_visible_to(user: AnyUser) -> QuerySet[Invitation]:
    held = roles_of(user)
    invitations = Invitation.objects.select_related("host", "access_policy", "group", "department")
    if held & ALL_INVITATIONS_ROLES:
        return invitations
    if Role.HOST in held:
        return invitations.filter(host_id=user.pk)
    return invitations.none()


def get_invitation_for(user: AnyUser, invitation_id: int) -> Invitation:
    """The invitation if the user may see it; 404 otherwise (no hint that it exists)."""
    invitation = invitations_visible_to(user).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404
    return invitation


def visits_of(invitation: Invitation) -> QuerySet[Visit]:
    """The visits registered through the link (for a group: not those added at the desk)."""
    return invitation.visits.select_related("visitor").order_by("created_at", "id")


def invitation_of_group(group: VisitGroup) -> Invitation | None:
    """The group invitation that created this group, if any."""
    return Invitation.objects.filter(group=group).first()


def group_invitations_visible_to(user: AnyUser, group_ids: Iterable[int]) -> dict[int, int]:
    """Group id -> the id of the invitation that created it (the group's page), for the
    groups whose page the user may open; one query."""
    ids = set(group_ids)
    if not ids:
        return {}
    return dict(
        invitations_visible_to(user)
        .filter(group_id__in=ids)
        .order_by("pk")
        .values_list("group_id", "pk")
    )


def open_invitation_by_token(token: str) -> tuple[Invitation | None, InvitationState | None]:
    """The invitation a public link names and its state; (None, None) for an unknown token."""
    invitation = (
        Invitation.objects.select_related("host", "access_policy", "group", "department")
        .filter(token=token)
        .first()
    )
    if invitation is None:
        return None, None
    return invitation, invitation_state(invitation)
