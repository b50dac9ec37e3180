"""What HikCentral must hold for one of our persons, computed from the database alone.

One visitor identity is one HCP person, found by its stable ``person_code``. The person must
exist while any of the visitor's visits gives access now or later (expected or checked in,
access window not over) and no manual hold is active; its validity (``beginTime`` /
``endTime``) is exactly the current (or next) run of overlapping access windows, so the
turnstile itself refuses the face outside it even when no worker of ours runs; its access
levels are the union of the policies of the visits whose window is open at that moment.

Two visits of one visitor that overlap or touch form one run, so revoking one never cuts the
other. Between two runs (today's visit, then next week's) the person holds only the current
run: the face does not open the doors in the gap. ``next_change_at`` says when the desired
state changes by time alone (a window opens or closes), so the work queue reconciles then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from propusk.access.models import AccessHold
from propusk.access.windows import visit_access_window
from propusk.visitors.models import Visitor
from propusk.visits.models import ACTIVE_STATUSES, Visit


@dataclass(frozen=True)
class AccessSpan:
    """One visit's access window and the HCP access levels it gives."""

    start: datetime
    end: datetime
    access_level_ids: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """What the person is allowed, as HCP must hold it."""

    begin: datetime
    end: datetime
    access_level_ids: frozenset[str]


@dataclass(frozen=True)
class Plan:
    """The grant now (None: no access) and when it changes by time alone (None: never)."""

    grant: Grant | None
    next_change_at: datetime | None


def plan_access(spans: Iterable[AccessSpan], now: datetime) -> Plan:
    """The grant of a person with these spans at ``now``: a pure function.

    The run is the earliest chain of spans, among those not over, that overlap or touch; the
    grant's validity is the whole run, and its access levels are those of the spans open at
    ``max(now, run start)``. The plan changes at the next span boundary inside the run.
    """
    live = sorted((span for span in spans if span.end > now), key=lambda span: span.start)
    if not live:
        return Plan(grant=None, next_change_at=None)
    run = [live[0]]
    run_end = live[0].end
    for span in live[1:]:
        if span.start > run_end:
            break
        run.append(span)
        run_end = max(run_end, span.end)
    run_start = run[0].start
    moment = max(now, run_start)
    levels: frozenset[str] = frozenset().union(
        *(span.access_level_ids for span in run if span.start <= moment < span.end)
    )
    boundaries = [span.start for span in run if span.start > moment]
    boundaries += [span.end for span in run if span.end > moment]
    return Plan(
        grant=Grant(begin=run_start, end=run_end, access_level_ids=levels),
        next_change_at=min(boundaries),
    )


@dataclass(frozen=True)
class DesiredPerson:
    """The HCP person of a visitor, as it must be."""

    person_code: str
    visitor_id: int
    family_name: str
    given_name: str
    phone: str
    email: str
    grant: Grant
    # The stored face file's name: it changes whenever the face does. "" when there is none.
    face_version: str


@dataclass(frozen=True)
class Desired:
    """``person`` None: HCP must not give this person code any access (remove it)."""

    person_code: str
    visitor_id: int | None
    person: DesiredPerson | None
    next_change_at: datetime | None
    held: bool = False


def desired_state(person_code: str, *, now: datetime) -> Desired:
    """What HCP must hold for ``person_code`` at ``now``, read from the database."""
    visitor = Visitor.objects.filter(person_code=person_code).first()
    if visitor is None:  # deleted (e.g. merged into the stored identity at the desk)
        return Desired(person_code=person_code, visitor_id=None, person=None, next_change_at=None)
    if AccessHold.objects.filter(visitor=visitor, released_at__isnull=True).exists():
        return Desired(
            person_code=person_code,
            visitor_id=visitor.pk,
            person=None,
            next_change_at=None,
            held=True,
        )
    visits = Visit.objects.filter(visitor=visitor, status__in=ACTIVE_STATUSES).select_related(
        "access_policy"
    )
    plan = plan_access(_spans(visits), now)
    if plan.grant is None:
        return Desired(
            person_code=person_code, visitor_id=visitor.pk, person=None, next_change_at=None
        )
    return Desired(
        person_code=person_code,
        visitor_id=visitor.pk,
        person=DesiredPerson(
            person_code=person_code,
            visitor_id=visitor.pk,
            family_name=visitor.family_name,
            given_name=visitor.given_name,
            phone=visitor.phone,
            email=visitor.email,
            grant=plan.grant,
            face_version=(visitor.photo.name or "") if visitor.photo else "",
        ),
        next_change_at=plan.next_change_at,
    )


def _spans(visits: Iterable[Visit]) -> list[AccessSpan]:
    spans = []
    for visit in visits:
        window = visit_access_window(visit)
        if window is None:
            continue
        spans.append(
            AccessSpan(
                start=window[0],
                end=window[1],
                access_level_ids=frozenset(visit.access_policy.hcp_access_level_ids),
            )
        )
    return spans
