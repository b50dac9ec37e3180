"""Reads for passages: whose event it is, which visit it belongs to, who is inside, who is
expected at a door, what a user may see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When

from propusk.access.models import HcpPerson
from propusk.access.windows import visit_window
from propusk.accounts.roles import Role, roles_of
from propusk.events.models import Direction, HcpEvent
from propusk.passages.models import Incident, IncidentState, Passage
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitStatus

AnyUser = AbstractBaseUser | AnonymousUser

# Roles that see incidents and the pictures of faces nobody recognised.
INCIDENT_ROLES = frozenset({Role.ADMINISTRATOR, Role.SECURITY, Role.RECEPTION})

# A visit matched to an event: checked in first (the visitor is on site), then expected,
# then the visits that are over (recorded on them, never revived).
_STATUS_PREFERENCE = {
    VisitStatus.CHECKED_IN: 0,
    VisitStatus.AWAITING: 1,
    VisitStatus.CHECKED_OUT: 2,
    VisitStatus.NO_SHOW: 3,
    VisitStatus.CANCELLED: 4,
    VisitStatus.PENDING: 5,
}


def visitor_of_event(event: HcpEvent) -> Visitor | None:
    """Our visitor an event names: by person code, else by the HCP person id the access
    engine recorded for the code."""
    if event.person_code:
        visitor = Visitor.objects.filter(person_code=event.person_code).first()
        if visitor is not None:
            return visitor
    if event.person_id:
        person = HcpPerson.objects.filter(person_id=event.person_id).first()
        if person is not None:
            return Visitor.objects.filter(person_code=person.person_code).first()
    return None


def visitors_of_events(events: Sequence[HcpEvent]) -> dict[int, Visitor | None]:
    """``visitor_of_event`` of each event (by its pk), in at most three queries."""
    codes = {event.person_code for event in events if event.person_code}
    by_code = {v.person_code: v for v in Visitor.objects.filter(person_code__in=codes)}
    found: dict[int, Visitor | None] = {}
    by_person_id: dict[int, str] = {}
    for event in events:
        visitor = by_code.get(event.person_code) if event.person_code else None
        found[event.pk] = visitor
        if visitor is None and event.person_id:
            by_person_id[event.pk] = event.person_id
    if by_person_id:
        hcp_codes = dict(
            # The lowest pk last, so it wins: visitor_of_event's .first().
            HcpPerson.objects.filter(person_id__in=set(by_person_id.values()))
            .order_by("-pk")
            .values_list("person_id", "person_code")
        )
        wanted = {hcp_codes[pid] for pid in by_person_id.values() if pid in hcp_codes}
        if wanted:
            more = {v.person_code: v for v in Visitor.objects.filter(person_code__in=wanted)}
            for pk, person_id in by_person_id.items():
                code = hcp_codes.get(person_id)
                found[pk] = more.get(code) if code else None
    return found


def visit_for_moment(visitor: Visitor, at: datetime) -> Visit | None:
    """The visit of ``visitor`` an event at ``at`` belongs to: one whose access window holds
    ``at``, checked in before expected before the ones that are over; among equals, the one
    that started last (a returning visitor's latest visit)."""
    candidates = [
        visit
        for visit in _visits_around(visitor, at)
        if visit_window(visit)[0] <= at <= visit_window(visit)[1]
    ]
    if not candidates:
        return None
    candidates.sort(
        key=lambda v: (_STATUS_PREFERENCE[VisitStatus(v.status)], -v.planned_start.timestamp())
    )
    return candidates[0]


def nearest_visit(visitor: Visitor, at: datetime) -> Visit | None:
    """For a refusal outside every window: the visitor's visit nearest to ``at`` (the next
    one if it starts within a day, else the last one before), cancelled ones last."""
    visits = _visits_around(visitor, at)
    if not visits:
        return None

    def distance(visit: Visit) -> tuple[int, float]:
        opens, closes = visit_window(visit)
        gap = (opens - at) if at < opens else (at - closes)
        return (1 if visit.status == VisitStatus.CANCELLED else 0, gap.total_seconds())

    return min(visits, key=distance)


def _visits_around(visitor: Visitor, at: datetime) -> list[Visit]:
    reach = timedelta(hours=settings.VISIT_MAX_DURATION_HOURS + 24)
    return list(
        Visit.objects.filter(
            visitor=visitor, planned_start__lte=at + reach, planned_end__gte=at - reach
        )
        .select_related("access_policy", "visitor", "host")
        .order_by("planned_start", "pk")
    )


def visit_passages(visit: Visit) -> QuerySet[Passage]:
    return (
        Passage.objects.filter(visit=visit)
        .select_related("event")
        .order_by("happened_at", "event__event_id")
    )


def _last_granted(visits_ref: Any) -> QuerySet[Passage]:
    """Granted passages of a visit, the last first - in the order the rules use: by time, and
    within one second an exit after an entry (``rules.plan_visit``)."""
    return Passage.objects.filter(visit=visits_ref, granted=True).order_by(
        "-happened_at", "-direction", "-event__event_id"
    )


def last_granted(visit: Visit) -> Passage | None:
    return _last_granted(visit).first()


def is_inside(visit: Visit) -> bool | None:
    """Inside or outside by the visit's last granted passage (an unknown direction counts as
    an entry); None: no passage yet (checked in at the desk, say)."""
    last = last_granted(visit)
    if last is None:
        return None
    return last.direction != Direction.OUT


def inside_now() -> QuerySet[Visit]:
    """Checked-in visits whose last granted passage is an entry (for the dashboard), in one
    query."""
    last_direction = Subquery(_last_granted(OuterRef("pk")).values("direction")[:1])
    return (
        Visit.objects.filter(status=VisitStatus.CHECKED_IN)
        .annotate(last_direction=last_direction)
        .filter(last_direction__in=[Direction.IN, Direction.UNKNOWN])
        .select_related("visitor", "host")
    )


def expected_around(at: datetime) -> QuerySet[Visit]:
    """Visits expected around ``at`` and not checked in: whose access window, widened by
    ``PROPUSK_PASSAGE_EXPECTED_MINUTES``, holds it. Shown with a face nobody recognised, so
    reception finds the stuck guest among them. (Which doors a policy opens is known to HCP,
    not to us: the list is not narrowed by door.)"""
    margin = timedelta(minutes=settings.PROPUSK_PASSAGE_EXPECTED_MINUTES)
    candidates = Visit.objects.filter(
        status__in=[VisitStatus.AWAITING, VisitStatus.PENDING],
        planned_start__lte=at + margin + timedelta(hours=24),
        planned_end__gte=at - margin - timedelta(hours=24),
    ).select_related("visitor", "access_policy", "host")
    ids = []
    for visit in candidates:
        opens, closes = visit_window(visit)
        if opens - margin <= at <= closes + margin:
            ids.append(visit.pk)
    return (
        Visit.objects.filter(pk__in=ids)
        .select_related("visitor", "host")
        .order_by("planned_start", "pk")
    )


def may_see_incidents(user: AnyUser) -> bool:
    return bool(roles_of(user) & INCIDENT_ROLES)


def incidents_for(user: AnyUser, *, state: str = "") -> QuerySet[Incident]:
    """Incidents for reception, security and administrators: open first, newest first."""
    if not may_see_incidents(user):
        return Incident.objects.none()
    incidents = Incident.objects.select_related(
        "visit__visitor", "visit__host", "passage", "acknowledged_by", "resolved_by"
    )
    if state:
        incidents = incidents.filter(state=state)
    order = {IncidentState.OPEN: 0, IncidentState.ACKNOWLEDGED: 1, IncidentState.RESOLVED: 2}
    rank = Case(
        *[When(state=key, then=Value(value)) for key, value in order.items()],
        output_field=IntegerField(),
    )
    return incidents.annotate(rank=rank).order_by("rank", "-last_seen_at", "-pk")


def recent_failures_q(door: str, since: datetime, until: datetime) -> Q:
    return Q(
        door_index_code=door,
        granted=False,
        happened_at__gte=since,
        happened_at__lte=until,
    )
