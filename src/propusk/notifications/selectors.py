"""Reads for notifications: who gets what, the feed, a user's settings."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from propusk.accounts.roles import Role


def users_with_roles(*roles: Role) -> QuerySet[User]:
    """Active users holding any of ``roles`` (a role is a group of the same name; superusers
    count as administrators), each once."""
    if not roles:
        return User.objects.none()
    condition = Q(groups__name__in=[Role(role).value for role in roles])
    if Role.ADMINISTRATOR in roles:
        condition |= Q(is_superuser=True)
    ids = User.objects.filter(condition, is_active=True).values("pk")
    return User.objects.filter(pk__in=ids).order_by("pk")
