"""When a visit gives access: the planned window widened by the policy's grace minutes.

Pure functions, no database writes and no HCP calls. The access engine uses them to compute
grants; the visit services use the same window to decide whether a check-in is on time and
when an unattended visit expires, so all three agree on one definition.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from propusk.visits.models import ACTIVE_STATUSES, Visit


def access_window(
    *,
    planned_start: datetime,
    planned_end: datetime,
    early_minutes: int,
    late_minutes: int,
) -> tuple[datetime, datetime]:
    """``(planned_start - early_minutes, planned_end + late_minutes)``.

    Refuses naive datetimes, negative grace and a window that does not end after it starts
    (``ValueError``): every caller works with aware, ordered windows.
    """
    if timezone.is_naive(planned_start) or timezone.is_naive(planned_end):
        raise ValueError("access_window needs timezone-aware datetimes")
    if early_minutes < 0 or late_minutes < 0:
        raise ValueError("grace minutes cannot be negative")
    if planned_end <= planned_start:
        raise ValueError("planned_end must be after planned_start")
    return (
        planned_start - timedelta(minutes=early_minutes),
        planned_end + timedelta(minutes=late_minutes),
    )


def visit_window(visit: Visit) -> tuple[datetime, datetime]:
    """The visit's access window whatever its status: planned start - early-arrival grace to
    planned end + late-leave grace of its policy - the window the turnstile honours."""
    policy = visit.access_policy
    return access_window(
        planned_start=visit.planned_start,
        planned_end=visit.planned_end,
        early_minutes=policy.early_arrival_minutes,
        late_minutes=policy.late_leave_minutes,
    )


def visit_access_window(visit: Visit) -> tuple[datetime, datetime] | None:
    """The access window of a visit that gives access now or later, else ``None``.

    Only expected (AWAITING) and checked-in visits give access. A visit awaiting
    confirmation (PENDING) has no confirmed time yet; a checked-out, cancelled or no-show
    visit is over.
    """
    if visit.status not in ACTIVE_STATUSES:
        return None
    return visit_window(visit)


def gives_access_now_or_later(visit: Visit, now: datetime) -> bool:
    """Does the visit give access now or later: expected or checked in, its access window not
    over? The rule ``access.desired`` applies to each visit (a span counts while it has not
    ended)."""
    window = visit_access_window(visit)
    return window is not None and window[1] > now
