"""The permission matrix for visits.

A role reaches a visit:
- administrator: every visit;
- security: every visit, to look at only;
- reception: visits in its scope (today's in the site time zone, anyone checked in, visits
  the receptionist registered) - see ``selectors.reception_scope_q``;
- host: the visits they host.

What each role may do with a visit it reaches is ``ACTION_ROLES``. Hosts change their own
visits (confirm the time, extend or shorten, cancel) but do not check visitors in or out:
that is done at the desk or by the turnstile, where the visitor is seen.

The services call ``require`` themselves, so a view cannot forget a check.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from propusk.access.windows import visit_window
from propusk.accounts.roles import Role, roles_of
from propusk.core.time import now as current_time
from propusk.visits.lifecycle import VisitAction, moment_allows, status_allows
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.selectors import site_day_bounds, site_today

AnyUser = AbstractBaseUser | AnonymousUser


ALL_ROLES = frozenset(Role)
# Roles that may open the pages at all; anyone else gets 403.
STAFF_ROLES = ALL_ROLES
RECEPTION_PAGE_ROLES = frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.SECURITY})
REGISTER_ROLES = frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.HOST})
# Who can be named as the host of a visit.
HOSTING_ROLES = frozenset({Role.ADMINISTRATOR, Role.HOST})

ACTION_ROLES: dict[VisitAction, frozenset[Role]] = {
    VisitAction.VIEW: ALL_ROLES,
    VisitAction.CHECK_IN: frozenset({Role.ADMINISTRATOR, Role.RECEPTION}),
    VisitAction.CHECK_OUT: frozenset({Role.ADMINISTRATOR, Role.RECEPTION}),
    VisitAction.CANCEL: frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.HOST}),
    VisitAction.CHANGE_WINDOW: frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.HOST}),
    VisitAction.CONFIRM: frozenset({Role.ADMINISTRATOR, Role.RECEPTION, Role.HOST}),
}


def in_reception_scope(visit: Visit, user: AnyUser, *, now: datetime | None = None) -> bool:
    """One visit against ``selectors.reception_scope_q`` (keep the two in step)."""
    day_start, day_end = site_day_bounds(site_today(now))
    return (
        (visit.planned_start < day_end and visit.planned_end > day_start)
        or visit.status == VisitStatus.CHECKED_IN
        or (visit.created_by_id is not None and visit.created_by_id == user.pk)
    )


def roles_reaching(user: AnyUser, visit: Visit, *, now: datetime | None = None) -> frozenset[Role]:
    """The user's roles that reach this visit (empty: the visit is invisible to them)."""
    held = roles_of(user)
    reaching = set(held & {Role.ADMINISTRATOR, Role.SECURITY})
    if Role.RECEPTION in held and in_reception_scope(visit, user, now=now):
        reaching.add(Role.RECEPTION)
    if Role.HOST in held and visit.host_id == user.pk:
        reaching.add(Role.HOST)
    return frozenset(reaching)


def can_view_face(user: AnyUser, visit: Visit, *, now: datetime | None = None) -> bool:
    """Faces follow the visit, more narrowly than the visit itself.

    Administrators see the face of any visit; reception and security of the visits of the
    desk's day (``in_reception_scope``: today's, anyone inside) - not of every past visit;
    a host of their own visits, except cancelled ones.
    """
    reaching = roles_reaching(user, visit, now=now)
    if Role.ADMINISTRATOR in reaching:
        return True
    if reaching & {Role.RECEPTION, Role.SECURITY} and in_reception_scope(visit, user, now=now):
        return True
    return Role.HOST in reaching and visit.status != VisitStatus.CANCELLED


def can(
    user: AnyUser | None, action: VisitAction, visit: Visit, *, now: datetime | None = None
) -> bool:
    """May the user do ``action`` with ``visit``? ``None`` is the system: always yes."""
    if user is None:
        return True
    return bool(roles_reaching(user, visit, now=now) & ACTION_ROLES[action])


def allowed_actions(
    user: AnyUser, visit: Visit, *, now: datetime | None = None
) -> frozenset[VisitAction]:
    """The actions the user's roles allow on this visit (the status may still refuse)."""
    moment = now or current_time()
    return frozenset(action for action in VisitAction if can(user, action, visit, now=moment))


def available_actions(
    user: AnyUser, visit: Visit, *, now: datetime | None = None
) -> frozenset[VisitAction]:
    """The changes this user may make to this visit in its current status and at this
    moment (for buttons): what the services would accept - a check-in only inside the
    visit's access window (``lifecycle.moment_allows``)."""
    moment = now or current_time()
    return frozenset(
        action
        for action in allowed_actions(user, visit, now=moment)
        if action != VisitAction.VIEW
        and status_allows(action, visit.status)
        and moment_allows(action, visit, moment)
    )


def check_in_opens_later(
    user: AnyUser, visit: Visit, *, now: datetime | None = None
) -> datetime | None:
    """When check-in opens for a visit this user could check in, but not yet (a hint where
    the button would be); ``None`` if it is open, over, or not theirs to check in."""
    moment = now or current_time()
    if not (
        can(user, VisitAction.CHECK_IN, visit, now=moment)
        and status_allows(VisitAction.CHECK_IN, visit.status)
    ):
        return None
    opens = visit_window(visit)[0]
    return opens if moment < opens else None


def require(user: AnyUser | None, action: VisitAction, visit: Visit) -> None:
    if not can(user, action, visit):
        raise PermissionDenied(_("You are not allowed to do this with this visit."))


def can_host(user: AbstractBaseUser) -> bool:
    """Can this user be named as the host of a visit? Active, with a hosting role."""
    return user.is_active and bool(roles_of(user) & HOSTING_ROLES)


def can_register_for(user: AnyUser | None, host: AbstractBaseUser) -> bool:
    """Reception and administrators register visits for any host; a host only for themselves.

    ``None`` is the system (an invitation link, a management command).
    """
    if user is None:
        return True
    held = roles_of(user)
    if held & {Role.ADMINISTRATOR, Role.RECEPTION}:
        return True
    return Role.HOST in held and host.pk == user.pk


def require_register_for(user: AnyUser | None, host: AbstractBaseUser) -> None:
    if not can_register_for(user, host):
        raise PermissionDenied(_("You may register visits only for yourself as the host."))
