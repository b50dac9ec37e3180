"""Reads for visits: who sees which visits, today's visits, one visit for a user.

What a user may *do* with a visit they see is decided in ``propusk.visits.permissions``.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from propusk.accounts.roles import Role, roles_of
from propusk.audit.models import AuditEntry
from propusk.core.time import now as current_time
from propusk.visits.models import Visit, VisitGroup, VisitStatus

AnyUser = AbstractBaseUser | AnonymousUser


def site_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight to midnight of ``day`` in the site's time zone, as aware datetimes."""
    zone = timezone.get_default_timezone()
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def site_today(now: datetime | None = None) -> date:
    return timezone.localtime(now or current_time(), timezone.get_default_timezone()).date()


# The lists filter by a site day only within these bounds: far enough back for the archive,
# far enough ahead for any planned visit, and well inside what date arithmetic and the
# database can hold (``date.max`` has no next midnight; year 1 has no UTC midnight before it).
EARLIEST_FILTER_DAY = date(2000, 1, 1)
FILTER_YEARS_AHEAD = 10


def filterable_days(now: datetime | None = None) -> tuple[date, date]:
    """The first and last day a list may be filtered by (to the end of today's year + 10)."""
    return EARLIEST_FILTER_DAY, date(site_today(now).year + FILTER_YEARS_AHEAD, 12, 31)


def overlapping_day_q(day: date) -> Q:
    """Visits whose planned window overlaps the given site day."""
    start, end = site_day_bounds(day)
    return Q(planned_start__lt=end, planned_end__gt=start)


def reception_scope_q(user: AnyUser, *, now: datetime | None = None) -> Q:
    """The visits reception works with: today's (site day), anyone inside, and their own.

    Today's = the planned window overlaps today in the site's time zone. A checked-in visitor
    is included whatever the window (an overstay is reception's business). Visits a
    receptionist registered themselves stay visible to them (e.g. booked for next week).
    Mirrored for a single visit by ``permissions.in_reception_scope``.
    """
    scope = overlapping_day_q(site_today(now)) | Q(status=VisitStatus.CHECKED_IN)
    if user.pk is not None:
        scope |= Q(created_by_id=user.pk)
    return scope


def visits_visible_to(user: AnyUser, *, now: datetime | None = None) -> QuerySet[Visit]:
    """Every visit the user may see; none for a user without a role.

    Administrators and security see all visits; reception sees its scope (see
    ``reception_scope_q``); a host sees the visits they host. A user with several roles sees
    the union.
    """
    held = roles_of(user)
    visits = Visit.objects.select_related("visitor", "host", "access_policy", "department")
    if Role.ADMINISTRATOR in held or Role.SECURITY in held:
        return visits.all()
    condition = Q()
    matched = False
    if Role.RECEPTION in held:
        condition |= reception_scope_q(user, now=now)
        matched = True
    if Role.HOST in held:
        condition |= Q(host_id=user.pk)
        matched = True
    if not matched:
        return visits.none()
    return visits.filter(condition)


def todays_visits(user: AnyUser, *, now: datetime | None = None) -> QuerySet[Visit]:
    """Visible visits overlapping today (site time zone) plus everyone checked in now."""
    today_q = overlapping_day_q(site_today(now)) | Q(status=VisitStatus.CHECKED_IN)
    return visits_visible_to(user, now=now).filter(today_q).order_by("planned_start", "pk")


def get_visit_for(user: AnyUser, visit_id: int) -> Visit:
    """The visit if the user may see it; 404 otherwise, so existence does not leak."""
    visit = visits_visible_to(user).filter(pk=visit_id).first()
    if visit is None:
        raise Http404("No such visit")
    return visit


def filter_visits(
    visits: QuerySet[Visit],
    *,
    status: str = "",
    day: date | None = None,
    search: str = "",
) -> QuerySet[Visit]:
    """Narrow a visible set by status, site day and a search: the visitor's name (every word
    must match) or phone number (see ``visitor_search_q``).

    ``day`` must be within ``filterable_days()`` (``VisitFilterForm`` checks it). An ID number
    is never searched here (it would sit in a URL): see ``visits.views.search_by_id``.
    """
    if status:
        visits = visits.filter(status=status)
    if day is not None:
        visits = visits.filter(overlapping_day_q(day))
    if search.strip():
        visits = visits.filter(visitor_search_q(search))
    return visits


# A phone number as people type it: digits, an optional +, spaces, dashes, brackets.
_PHONE_QUERY = re.compile(r"\+?[\d\s\-().]+")
_NOT_DIGITS = re.compile(r"\D")
# Fewer digits than this find too many phones to be a search.
PHONE_SEARCH_MIN_DIGITS = 4
# A whole number of the +7 plan (Kazakhstan, Russia) as people say it, "8 701 ..." or
# "+7 701 ...": the ten digits after the 8 or 7 find it however it was stored.
_WHOLE_PLUS_SEVEN_NUMBER = re.compile(r"[78](\d{10})")


def visitor_search_q(search: str) -> Q:
    """Visits whose visitor matches ``search``: a phone number (its digits, anywhere in the
    stored number, which keeps only digits and a leading +: "701 234" finds +77012345678; a
    whole +7 number finds it written with 8 or +7), or else names, every word in the family,
    given or middle name."""
    text = search.strip()
    digits = _NOT_DIGITS.sub("", text)
    if _PHONE_QUERY.fullmatch(text) and len(digits) >= PHONE_SEARCH_MIN_DIGITS:
        whole = _WHOLE_PLUS_SEVEN_NUMBER.fullmatch(digits)
        return Q(visitor__phone__contains=whole.group(1) if whole else digits)
    condition = Q()
    for word in text.split():
        condition &= (
            Q(visitor__family_name__icontains=word)
            | Q(visitor__given_name__icontains=word)
            | Q(visitor__middle_name__icontains=word)
        )
    return condition


def eligible_hosts() -> QuerySet[User]:
    """Users who can be named as a host: active, with the host or administrator role."""
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__name__in=[Role.HOST.value, Role.ADMINISTRATOR.value]) | Q(is_superuser=True)
        )
        .select_related("profile__department")
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


HOST_SEARCH_LIMIT = 20


def search_hosts(query: str, *, limit: int = HOST_SEARCH_LIMIT) -> list[User]:
    """Eligible hosts whose name, user name or department contains every word of ``query``;
    at most ``limit``, in the order of ``eligible_hosts``."""
    hosts = eligible_hosts()
    for word in query.split():
        hosts = hosts.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(username__icontains=word)
            | Q(profile__department__name__icontains=word)
        )
    return list(hosts[:limit])


def visit_by_submission_token(token: uuid.UUID) -> Visit | None:
    return Visit.objects.filter(submission_token=token).first()


# --- Groups ---------------------------------------------------------------------------


def group_is_over(group: VisitGroup, *, now: datetime | None = None) -> bool:
    """Has the group's planned window ended? Then nobody joins it any more."""
    return group.planned_end <= (now or current_time())


def group_members(group: VisitGroup) -> QuerySet[Visit]:
    """Every visit of the group (link and desk registrations, any status), oldest first."""
    return group.visits.select_related(
        "visitor", "created_by", "invitation", "access_policy"
    ).order_by("created_at", "pk")


def is_group_member(group: VisitGroup, visitor_id: int) -> bool:
    """Is this visitor already in the group? The one rule for "the same person twice".

    A cancelled visit does not count (the person may be registered again); any other
    status does. A person is one ``Visitor`` row, found by national ID at registration.
    """
    return group.visits.filter(visitor_id=visitor_id).exclude(status=VisitStatus.CANCELLED).exists()


def group_visits_of(group: VisitGroup, visitor_id: int) -> int:
    """How many visits (not cancelled) the visitor has in the group: more than one only after
    reception confirmed that two registrations were the same person."""
    return group.visits.filter(visitor_id=visitor_id).exclude(status=VisitStatus.CANCELLED).count()


def visit_group_for(user: AnyUser, group_id: int) -> VisitGroup:
    """A group the user may register members for; 404 otherwise, so existence does not leak.

    Reception and administrators: any group; a host: the groups they host (mirrors
    ``permissions.can_register_for``, which the service checks again).
    """
    held = roles_of(user)
    groups = VisitGroup.objects.select_related("host", "department", "access_policy")
    if not held & {Role.ADMINISTRATOR, Role.RECEPTION}:
        groups = groups.filter(host_id=user.pk) if Role.HOST in held else groups.none()
    group = groups.filter(pk=group_id).first()
    if group is None:
        raise Http404("No such group")
    return group


def visit_history(visit: Visit) -> QuerySet[AuditEntry]:
    """Audit entries of one visit, oldest first."""
    return AuditEntry.objects.filter(
        target_type=Visit._meta.label_lower, target_id=str(visit.pk)
    ).order_by("at", "id")
