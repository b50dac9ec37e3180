"""Reads for the security dashboard and the evacuation list.

Everything here is a fixed number of queries whatever the number of people inside (the
dashboard is polled every few seconds by every security screen and must hold at 2,000 people
inside): the state of each visit is read with subqueries and ``select_related``, and the
permissions are decided from objects already loaded (``visits.permissions`` needs no query
once the user's roles are cached on the user).

"Inside now" is a checked-in visit whose last granted passage is not an exit - including a
visit checked in at the desk with no passage yet (at a site where not every way in has a
turnstile, such a visitor is on site; an evacuation list must rather name one person too
many than one too few). It is the passages app's ``inside_now`` without its query per visit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy, AccessWork, HcpPerson, WorkPriority, WorkState
from propusk.access.windows import visit_window
from propusk.accounts.roles import Role, roles_of
from propusk.core.time import now as current_time
from propusk.events.models import Direction, HcpEvent
from propusk.passages.models import Incident, IncidentKind, IncidentState, Passage
from propusk.passages.selectors import incidents_for, may_see_incidents
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.permissions import can_view_face
from propusk.visits.selectors import site_day_bounds, site_today

AnyUser = AbstractBaseUser | AnonymousUser

# Who opens the dashboard and the evacuation list (hosts do not: they see their own visits).
DASHBOARD_ROLES = frozenset({Role.ADMINISTRATOR, Role.SECURITY, Role.RECEPTION})

# How many rows each list of the dashboard shows; the counts are always complete. The people
# inside beyond the limit are on the evacuation list (all of them, without photos).
INSIDE_LIMIT = 100
EXPECTED_LIMIT = 50
RECENT_PASSAGES = 20
INCIDENT_LIMIT = 50
OVERSTAY_LIMIT = 50


def may_open_dashboard(user: AnyUser) -> bool:
    return bool(roles_of(user) & DASHBOARD_ROLES)


# --- Inside now ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InsideRow:
    """One person inside: since their last entry (or the desk check-in), through which door
    (empty: checked in at the desk, no passage recorded)."""

    visit: Visit
    since: datetime
    door: str
    window_end: datetime
    face_visible: bool = False

    @property
    def overstaying(self) -> bool:
        return self.window_end < current_time()


def _last_granted(field_name: str) -> Subquery:
    """The field of the visit's last granted passage (as ``passages.selectors.last_granted``
    orders them)."""
    return Subquery(
        Passage.objects.filter(visit=OuterRef("pk"), granted=True)
        .order_by("-happened_at", "-event__event_id")
        .values(field_name)[:1]
    )


def _inside_base() -> QuerySet[Visit]:
    """Checked-in visits whose last granted passage is not an exit, with ``since``: the last
    entry, else the desk check-in."""
    return (
        Visit.objects.filter(status=VisitStatus.CHECKED_IN)
        .annotate(last_direction=_last_granted("direction"), last_at=_last_granted("happened_at"))
        .filter(
            Q(last_direction__isnull=True) | Q(last_direction__in=[Direction.IN, Direction.UNKNOWN])
        )
        .annotate(since=Coalesce("last_at", "checked_in_at", "planned_start"))
    )


def _inside_queryset() -> QuerySet[Visit]:
    """``_inside_base`` with the entry's door and only the columns the pages show."""
    return (
        _inside_base()
        .annotate(
            last_door_name=_last_granted("door_name"),
            last_door_code=_last_granted("door_index_code"),
        )
        .select_related("visitor", "host", "access_policy")
        .only(
            "pk",
            "status",
            "planned_start",
            "planned_end",
            "checked_in_at",
            "created_by_id",
            "visitor__family_name",
            "visitor__given_name",
            "visitor__middle_name",
            "visitor__phone",
            "visitor__photo",
            "host__username",
            "host__first_name",
            "host__last_name",
            "access_policy__early_arrival_minutes",
            "access_policy__late_leave_minutes",
        )
    )


def _rows(visits: Iterable[Visit], user: AnyUser | None) -> list[InsideRow]:
    rows = []
    for visit in visits:
        last_at = getattr(visit, "last_at", None)
        door = (getattr(visit, "last_door_name", "") or getattr(visit, "last_door_code", "")) or ""
        rows.append(
            InsideRow(
                visit=visit,
                since=getattr(visit, "since", None) or visit.planned_start,
                door=door if last_at is not None else "",
                window_end=visit_window(visit)[1],
                face_visible=(
                    user is not None and bool(visit.visitor.photo) and can_view_face(user, visit)
                ),
            )
        )
    return rows


def _latest_first(row: InsideRow) -> tuple[datetime, int]:
    return (row.since, row.visit.pk)


def inside_now(user: AnyUser | None = None) -> list[InsideRow]:
    """Everyone inside now, latest entry first; ``face_visible`` for ``user``. One query."""
    return sorted(_rows(_inside_queryset(), user), key=_latest_first, reverse=True)


@dataclass(frozen=True)
class InsideNow:
    """What the dashboard shows of the people inside: the ``latest`` to come in, how many are
    inside, and those past the end of their access window (longest over first)."""

    latest: list[InsideRow]
    count: int
    overstays: list[InsideRow]
    overstay_count: int


def inside_summary(
    user: AnyUser,
    *,
    now: datetime | None = None,
    limit: int = INSIDE_LIMIT,
    overstay_limit: int = OVERSTAY_LIMIT,
) -> InsideNow:
    """Three queries however many are inside: everyone's key facts (no model rows), the
    policies' grace, then the rows shown."""
    moment = now or current_time()
    # django-stubs does not see the annotation "since".
    facts = list(
        _inside_base().values_list("pk", "since", "planned_end", "access_policy_id")  # type: ignore[misc]
    )
    late = dict(AccessLevelPolicy.objects.values_list("pk", "late_leave_minutes"))
    latest = [pk for pk, *_ in sorted(facts, key=lambda f: (f[1], f[0]), reverse=True)[:limit]]
    over = sorted(
        (end + timedelta(minutes=late[policy]), pk)
        for pk, _since, end, policy in facts
        if end + timedelta(minutes=late[policy]) < moment
    )
    shown_over = [pk for _end, pk in over[:overstay_limit]]
    rows = {
        row.visit.pk: row
        for row in _rows(_inside_queryset().filter(pk__in={*latest, *shown_over}), user)
    }
    return InsideNow(
        latest=[rows[pk] for pk in latest if pk in rows],
        count=len(facts),
        overstays=[rows[pk] for pk in shown_over if pk in rows],
        overstay_count=len(over),
    )


# --- Evacuation list ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvacuationGroup:
    """The people inside who came in through one door (``door`` empty: at the desk)."""

    door: str
    rows: list[InsideRow]


@dataclass(frozen=True)
class EvacuationList:
    taken_at: datetime
    groups: list[EvacuationGroup]

    @property
    def count(self) -> int:
        return sum(len(group.rows) for group in self.groups)


def evacuation_list(*, now: datetime | None = None) -> EvacuationList:
    """Everyone inside now, by the door they came in through (the site's buildings are not
    known to us: HCP's door names are what places a person), alphabetically in each group;
    the people checked in at the desk without a passage last."""
    moment = now or current_time()

    def by_name(row: InsideRow) -> tuple[str, str, str, int]:
        visitor = row.visit.visitor
        return (
            visitor.family_name.casefold(),
            visitor.given_name.casefold(),
            visitor.middle_name.casefold(),
            row.visit.pk,
        )

    rows = sorted(inside_now(), key=lambda row: (row.door == "", row.door.casefold()))
    groups = [
        EvacuationGroup(door=door, rows=sorted(members, key=by_name))
        for door, members in groupby(rows, key=lambda row: row.door)
    ]
    return EvacuationList(taken_at=moment, groups=groups)


# --- Expected, passages, incidents ----------------------------------------------------------


def expected_today(*, now: datetime | None = None) -> QuerySet[Visit]:
    """Today's expected visits (AWAITING) whose time is not over, by time."""
    moment = now or current_time()
    _day_start, day_end = site_day_bounds(site_today(moment))
    return (
        Visit.objects.filter(
            status=VisitStatus.AWAITING, planned_start__lt=day_end, planned_end__gt=moment
        )
        .select_related("visitor", "host")
        .order_by("planned_start", "pk")
    )


@dataclass(frozen=True)
class PassageRow:
    passage: Passage
    picture_visible: bool


def picture_visible(user: AnyUser, passage: Passage, visit: Visit | None) -> bool:
    """``passages.views.may_view_picture`` decided from loaded objects, with no query: the
    picture follows the visitor's face (``can_view_face``; a visit the user does not reach
    gives no roles), a face nobody recognised is shown to incident staff, and a visitor's
    passage outside any visit only to administrators."""
    if not passage.has_picture:
        return False
    if passage.visit_id is not None:
        return visit is not None and can_view_face(user, visit)
    if passage.visitor_id is None:
        return may_see_incidents(user)
    return Role.ADMINISTRATOR in roles_of(user)


def recent_passages(user: AnyUser, *, limit: int = RECENT_PASSAGES) -> list[PassageRow]:
    passages = Passage.objects.select_related("visit__visitor", "visit__host", "visitor").order_by(
        "-happened_at", "-pk"
    )[:limit]
    return [PassageRow(p, picture_visible(user, p, p.visit)) for p in passages]


@dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    picture_visible: bool
    expected: list[Visit] = field(default_factory=list)


def open_incidents(user: AnyUser, *, limit: int = INCIDENT_LIMIT) -> tuple[list[IncidentRow], int]:
    """Incidents not yet resolved (open first, newest first) and how many there are; for a
    face nobody recognised, the visitors expected around its time (as the incident page
    shows them: ``passages.selectors.expected_around``, read once for all of them)."""
    unresolved = incidents_for(user).exclude(state=IncidentState.RESOLVED)
    total = unresolved.count()
    incidents = list(unresolved.select_related("passage__visit")[:limit])
    faces = [i for i in incidents if i.kind == IncidentKind.FACE_NOT_RECOGNISED]
    expected = _expected_around_each([i.happened_at for i in faces]) if faces else {}
    rows = [
        IncidentRow(
            incident=incident,
            picture_visible=incident.passage is not None
            and picture_visible(user, incident.passage, incident.passage.visit),
            expected=expected.get(incident.happened_at, [])
            if incident.kind == IncidentKind.FACE_NOT_RECOGNISED
            else [],
        )
        for incident in incidents
    ]
    return rows, total


EXPECTED_PER_INCIDENT = 10


def _expected_around_each(moments: Sequence[datetime]) -> dict[datetime, list[Visit]]:
    """``passages.selectors.expected_around`` for several moments in one query."""
    margin = timedelta(minutes=settings.PROPUSK_PASSAGE_EXPECTED_MINUTES)
    reach = margin + timedelta(hours=24)
    candidates = list(
        Visit.objects.filter(
            status__in=[VisitStatus.AWAITING, VisitStatus.PENDING],
            planned_start__lte=max(moments) + reach,
            planned_end__gte=min(moments) - reach,
        )
        .select_related("visitor", "access_policy", "host")
        .order_by("planned_start", "pk")
    )
    windows = [(visit, visit_window(visit)) for visit in candidates]
    return {
        at: [
            visit for visit, (opens, closes) in windows if opens - margin <= at <= closes + margin
        ][:EXPECTED_PER_INCIDENT]
        for at in moments
    }


# --- The HikCentral link ----------------------------------------------------------------------


@dataclass(frozen=True)
class CircuitView:
    """The circuit breaker of HCP calls as operators see it; ``error``: its shared state
    could not be read (Redis down, say), so its state is not known."""

    state: str = ""
    since: datetime | None = None
    failures: int = 0
    retry_at: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class HcpHealth:
    circuit: CircuitView
    last_confirmed_at: datetime | None  # the last change HCP confirmed (a person reconciled)
    last_event_at: datetime | None  # the last door event received from HCP (push or poll)
    pending_work: int
    failed_work: int
    pending_revocations: int  # pending work items that take access away
    worst_time_to_revoke_today: timedelta | None
    revocations_waiting: int  # visits whose access should have ended, not confirmed yet
    oldest_waiting_since: datetime | None

    @property
    def circuit_open(self) -> bool:
        return self.circuit.state in ("open", "half-open")


def circuit_view() -> CircuitView:
    """The shared circuit breaker's state (a read of Redis or the state file)."""
    from propusk.integrations.hikcentral.breaker import build_circuit_breaker
    from propusk.integrations.hikcentral.shared_state import SharedStateUnavailable

    try:
        state = build_circuit_breaker().state()
    except SharedStateUnavailable as exc:
        return CircuitView(error=str(exc)[:200])
    return CircuitView(
        state=state.state, since=state.since, failures=state.failures, retry_at=state.retry_at
    )


def hcp_health(*, now: datetime | None = None) -> HcpHealth:
    moment = now or current_time()
    day_start, day_end = site_day_bounds(site_today(moment))
    work = AccessWork.objects.aggregate(
        pending=Count("pk", filter=Q(state=WorkState.PENDING)),
        failed=Count("pk", filter=Q(state=WorkState.FAILED)),
        revocations=Count("pk", filter=Q(state=WorkState.PENDING, priority=WorkPriority.REVOKE)),
    )
    revoked_today = Visit.objects.filter(
        access_revoked_at__gte=day_start,
        access_revoked_at__lt=day_end,
        access_should_end_at__isnull=False,
    ).aggregate(
        worst=Max(
            ExpressionWrapper(
                F("access_revoked_at") - F("access_should_end_at"), output_field=DurationField()
            )
        )
    )
    waiting = Visit.objects.filter(
        access_should_end_at__lte=moment, access_revoked_at__isnull=True
    ).aggregate(count=Count("pk"), oldest=Min("access_should_end_at"))
    last_event = HcpEvent.objects.order_by("-pk").values_list("received_at", flat=True).first()
    return HcpHealth(
        circuit=circuit_view(),
        last_confirmed_at=HcpPerson.objects.aggregate(at=Max("reconciled_at"))["at"],
        last_event_at=last_event,
        pending_work=work["pending"],
        failed_work=work["failed"],
        pending_revocations=work["revocations"],
        worst_time_to_revoke_today=revoked_today["worst"],
        revocations_waiting=waiting["count"],
        oldest_waiting_since=waiting["oldest"],
    )


# --- The whole dashboard ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """``expected`` and ``health`` are None in a quick refresh (``full=False``)."""

    taken_at: datetime
    inside: list[InsideRow]
    inside_count: int
    overstays: list[InsideRow]
    overstay_count: int
    expected: list[Visit] | None
    expected_count: int
    passages: list[PassageRow]
    incidents: list[IncidentRow]
    incident_count: int
    circuit: CircuitView
    health: HcpHealth | None


def dashboard(user: AnyUser, *, now: datetime | None = None, full: bool = True) -> Dashboard:
    """What the dashboard shows to ``user`` (reception, security or an administrator).

    ``full=False`` is the quick refresh the page asks for between full ones: the list of
    expected visitors and the HikCentral section (which change slowly and cost the most
    queries after the people inside) are left out; their counts in the summary stay fresh."""
    moment = now or current_time()
    expected = expected_today(now=moment)
    incidents, incident_count = open_incidents(user)
    inside = inside_summary(user, now=moment)
    health = hcp_health(now=moment) if full else None
    return Dashboard(
        taken_at=moment,
        inside=inside.latest,
        inside_count=inside.count,
        overstays=inside.overstays,
        overstay_count=inside.overstay_count,
        expected=list(expected[:EXPECTED_LIMIT]) if full else None,
        expected_count=expected.count(),
        passages=recent_passages(user),
        incidents=incidents,
        incident_count=incident_count,
        circuit=health.circuit if health is not None else circuit_view(),
        health=health,
    )


def door_label(door: str) -> str:
    return door or str(_("Checked in at the desk"))
