"""The four roles of the site. A role is a Django group of the same name.

Administrators (and superusers) may do everything; security sees every visit read-only;
reception works with today's visits of every host; a host works with their own visits only.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SECURITY = "security"
    RECEPTION = "reception"
    HOST = "host"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.ADMINISTRATOR: _("Administrator"),
    Role.SECURITY: _("Security"),
    Role.RECEPTION: _("Reception"),
    Role.HOST: _("Host employee"),
}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """The roles a user holds; cached on the user object for the request."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, "_propusk_roles", None)
    if cached is not None:
        return cached
    names = set(getattr(user, "groups").values_list("name", flat=True))  # noqa: B009
    roles = {role for role in Role if role.value in names}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMINISTRATOR)
    result = frozenset(roles)
    setattr(user, "_propusk_roles", result)  # noqa: B010
    return result


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    return bool(roles_of(user).intersection(roles))
