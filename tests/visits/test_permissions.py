"""Who sees which visits (selectors) and who may change them (services)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from propusk.visits import selectors, services
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.permissions import in_reception_scope

from .conftest import NOW

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def test_host_sees_only_their_own_visits(make_visit, host, other_host, frozen_now):
    mine = make_visit()
    theirs = make_visit(host=other_host)
    assert list(selectors.visits_visible_to(host)) == [mine]
    assert selectors.get_visit_for(host, mine.pk) == mine
    with pytest.raises(Http404):
        selectors.get_visit_for(host, theirs.pk)


@pytest.mark.parametrize("who", ["admin_user", "security"])
def test_administrators_and_security_see_everything(
    make_visit, other_host, request, who, frozen_now
):
    visits = {make_visit(), make_visit(host=other_host, planned_start=NOW - 30 * DAY)}
    assert set(selectors.visits_visible_to(request.getfixturevalue(who))) == visits


def test_no_role_sees_nothing(make_visit, no_role_user, frozen_now):
    visit = make_visit()
    assert not selectors.visits_visible_to(no_role_user).exists()
    with pytest.raises(Http404):
        selectors.get_visit_for(no_role_user, visit.pk)


def test_a_missing_visit_is_a_404_like_an_invisible_one(admin_user, db):
    with pytest.raises(Http404):
        selectors.get_visit_for(admin_user, 123456)


@pytest.fixture
def scope_cases(make_visit, other_host, reception, frozen_now):
    """Visits around today (10:00 Almaty); True = reception works with it."""
    midnight = NOW.replace(hour=0)
    return [
        (make_visit(planned_start=NOW + HOUR), True),  # later today
        (make_visit(planned_start=midnight - 2 * HOUR, planned_end=midnight + HOUR), True),
        (make_visit(planned_start=midnight - 3 * HOUR, planned_end=midnight), False),  # yesterday
        (make_visit(planned_start=midnight + DAY - HOUR, planned_end=midnight + DAY), True),
        (make_visit(planned_start=midnight + DAY, planned_end=midnight + DAY + HOUR), False),
        (make_visit(planned_start=NOW + 3 * DAY), False),  # next week, someone else's booking
        (
            make_visit(planned_start=NOW + 3 * DAY, created_by=reception),
            True,
        ),  # booked by reception
        (
            make_visit(
                status=VisitStatus.CHECKED_IN,
                planned_start=NOW - 2 * DAY,
                planned_end=NOW - 2 * DAY + HOUR,
            ),
            True,  # overstaying: still inside
        ),
        (
            make_visit(
                status=VisitStatus.CHECKED_OUT,
                planned_start=NOW - 2 * DAY,
                planned_end=NOW - 2 * DAY + HOUR,
            ),
            False,
        ),
        (make_visit(host=other_host, status=VisitStatus.PENDING, planned_start=NOW), True),
    ]


def test_reception_scope_is_today_in_the_site_time_zone(scope_cases, reception):
    visible = set(selectors.visits_visible_to(reception))
    for visit, expected in scope_cases:
        assert (visit in visible) is expected, visit
        # The single-visit check used by the services agrees with the query.
        assert in_reception_scope(visit, reception) is expected, visit


def test_todays_visits_for_security_are_today_only(scope_cases, security):
    todays = set(selectors.todays_visits(security))
    expected = {visit for visit, in_scope in scope_cases if in_scope and visit.created_by is None}
    assert todays == expected


def test_a_receptionist_who_also_hosts_sees_both(make_visit, reception, host, frozen_now):
    from django.contrib.auth.models import Group

    reception.groups.add(Group.objects.get(name="host"))
    own_next_week = make_visit(host=reception, planned_start=NOW + 3 * DAY)
    today = make_visit()
    assert set(selectors.visits_visible_to(reception)) == {own_next_week, today}


def test_filters(make_visit, make_visitor_row, frozen_now):
    aigerim = make_visit(visitor=make_visitor_row(family_name="Nurlanova", given_name="Aigerim"))
    make_visit(
        visitor=make_visitor_row(family_name="Petrov", given_name="Ivan"),
        status=VisitStatus.CANCELLED,
        planned_start=NOW + 2 * DAY,
    )
    visits = Visit.objects.all()
    assert list(selectors.filter_visits(visits, search="nurlan aig")) == [aigerim]
    assert list(selectors.filter_visits(visits, search="nurlan ivan")) == []
    assert list(selectors.filter_visits(visits, status=VisitStatus.AWAITING)) == [aigerim]
    assert list(selectors.filter_visits(visits, day=NOW.date())) == [aigerim]
    assert selectors.filter_visits(visits, day=(NOW + 2 * DAY).date()).count() == 1


# --- The services enforce the matrix themselves ------------------------------------

ACTIONS = {
    "check_in": (VisitStatus.AWAITING, lambda v, a: services.check_in(visit=v, actor=a)),
    "check_out": (VisitStatus.CHECKED_IN, lambda v, a: services.check_out(visit=v, actor=a)),
    "cancel": (VisitStatus.AWAITING, lambda v, a: services.cancel(visit=v, actor=a)),
    "change_window": (
        VisitStatus.AWAITING,
        lambda v, a: services.change_window(
            visit=v, planned_start=None, planned_end=v.planned_end + HOUR, actor=a
        ),
    ),
    "confirm": (
        VisitStatus.PENDING,
        lambda v, a: services.confirm_visit_time(
            visit=v, planned_start=v.planned_start, planned_end=v.planned_end, actor=a
        ),
    ),
}
# The status after each action, and how far the end moved.
EFFECT = {
    "check_in": (VisitStatus.CHECKED_IN, timedelta(0)),
    "check_out": (VisitStatus.CHECKED_OUT, timedelta(0)),
    "cancel": (VisitStatus.CANCELLED, timedelta(0)),
    "change_window": (VisitStatus.AWAITING, HOUR),
    "confirm": (VisitStatus.AWAITING, timedelta(0)),
}
# Who may do what to alice's visit today.
ALLOWED = {
    "admin_user": {"check_in", "check_out", "cancel", "change_window", "confirm"},
    "reception": {"check_in", "check_out", "cancel", "change_window", "confirm"},
    "host": {"cancel", "change_window", "confirm"},
    "other_host": set(),
    "security": set(),
    "no_role_user": set(),
}
MATRIX = [(who, action) for who in ALLOWED for action in ACTIONS]


@pytest.mark.parametrize(("who", "action"), MATRIX)
def test_services_enforce_the_permission_matrix(make_visit, request, frozen_now, who, action):
    status, call = ACTIONS[action]
    visit = make_visit(status=status, planned_start=NOW - timedelta(minutes=10))
    actor = request.getfixturevalue(who)
    if action in ALLOWED[who]:
        planned_end = visit.planned_end
        call(visit, actor)
        after = Visit.objects.get(pk=visit.pk)
        new_status, moved = EFFECT[action]
        assert (after.status, after.planned_end) == (new_status, planned_end + moved)
    else:
        with pytest.raises(PermissionDenied):
            call(visit, actor)
        assert Visit.objects.get(pk=visit.pk).status == status


def test_reception_cannot_touch_a_visit_outside_its_scope(make_visit, reception, frozen_now):
    visit = make_visit(planned_start=NOW + 3 * DAY)
    with pytest.raises(PermissionDenied):
        services.cancel(visit=visit, actor=reception)
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.AWAITING
