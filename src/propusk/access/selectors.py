"""Reads for access policies: which policies a user may give a visitor."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.roles import Role, has_role

# Roles that may give any active policy; anyone else (a host) only those marked
# ``hosts_may_choose``.
ANY_POLICY_ROLES = (Role.ADMINISTRATOR, Role.RECEPTION)


def can_choose_policy(
    user: AbstractBaseUser | AnonymousUser | None, policy: AccessLevelPolicy
) -> bool:
    """May ``user`` give ``policy`` to a visit or an invitation? ``None`` is the system (e.g.
    a visit made from an invitation, whose policy was checked when the link was made)."""
    if user is None or has_role(user, *ANY_POLICY_ROLES):
        return True
    return policy.hosts_may_choose


def choosable_policies(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AccessLevelPolicy]:
    """The active policies ``user`` may choose, for the forms."""
    policies = AccessLevelPolicy.objects.filter(is_active=True).order_by("name")
    if has_role(user, *ANY_POLICY_ROLES):
        return policies
    return policies.filter(hosts_may_choose=True)
