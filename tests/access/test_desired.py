"""The desired HCP state of a person: the pure plan, and its reading of the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propusk.access.desired import AccessSpan, Grant, Plan, desired_state, plan_access
from propusk.access.models import AccessHold
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.factories import make_visitor

T0 = datetime(2030, 3, 12, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def span(start: float, end: float, *levels: str) -> AccessSpan:
    return AccessSpan(start=at(start), end=at(end), access_level_ids=frozenset(levels or ("1",)))


# --- plan_access -----------------------------------------------------------------------


def test_no_span_no_grant():
    assert plan_access([], at(0)) == Plan(grant=None, next_change_at=None)


def test_an_open_window_is_granted_until_its_end():
    plan = plan_access([span(-1, 2, "1")], at(0))
    assert plan.grant == Grant(begin=at(-1), end=at(2), access_level_ids=frozenset({"1"}))
    assert plan.next_change_at == at(2)


def test_a_future_window_is_granted_in_advance_with_its_own_validity():
    plan = plan_access([span(24, 26)], at(0))
    assert plan.grant == Grant(begin=at(24), end=at(26), access_level_ids=frozenset({"1"}))
    assert plan.next_change_at == at(26)


def test_a_window_that_is_over_gives_nothing():
    assert plan_access([span(-5, -1)], at(0)).grant is None
    assert plan_access([span(-5, 0)], at(0)).grant is None  # the end is exclusive


def test_overlapping_visits_never_cut_each_other():
    """Checked out of one visit while another runs: access stays until the last one ends."""
    plan = plan_access([span(-1, 1, "1"), span(0.5, 3, "2")], at(0))
    assert plan.grant is not None
    assert (plan.grant.begin, plan.grant.end) == (at(-1), at(3))
    assert plan.grant.access_level_ids == {"1"}  # the second opens at 0.5
    assert plan.next_change_at == at(0.5)
    later = plan_access([span(-1, 1, "1"), span(0.5, 3, "2")], at(0.75))
    assert later.grant is not None
    assert later.grant.access_level_ids == {"1", "2"}
    assert later.next_change_at == at(1)


def test_touching_windows_are_one_run():
    plan = plan_access([span(0, 2), span(2, 4)], at(1))
    assert plan.grant is not None
    assert plan.grant.end == at(4)


def test_a_gap_between_visits_is_not_granted():
    """Today's visit, then next week's: the face must not open the doors in between."""
    today, next_week = span(-1, 2), span(7 * 24, 7 * 24 + 2)
    plan = plan_access([next_week, today], at(0))
    assert plan.grant is not None
    assert plan.grant.end == at(2)
    after = plan_access([next_week, today], at(2))
    assert after.grant is not None
    assert after.grant.begin == at(7 * 24)


spans = st.lists(
    st.tuples(st.integers(-48, 48), st.integers(1, 24), st.sampled_from(["1", "2", "3"])).map(
        lambda t: span(t[0], t[0] + t[1], t[2])
    ),
    max_size=6,
)


@given(spans=spans, now=st.integers(-48, 72).map(at))
def test_the_grant_never_covers_a_moment_no_visit_covers(spans, now):
    plan = plan_access(spans, now)
    if plan.grant is None:
        assert all(s.end <= now for s in spans)
        return
    grant = plan.grant
    # Every moment of the validity is inside some span (checked at each boundary and midpoint).
    edges = sorted({grant.begin, grant.end, *(s.start for s in spans), *(s.end for s in spans)})
    for left, right in pairwise(edges):
        if grant.begin <= left and right <= grant.end:
            middle = left + (right - left) / 2
            assert any(s.start <= middle < s.end for s in spans)
    moment = max(now, grant.begin)
    open_levels = {lvl for s in spans if s.start <= moment < s.end for lvl in s.access_level_ids}
    assert grant.access_level_ids == open_levels
    assert plan.next_change_at is not None
    assert moment < plan.next_change_at <= grant.end


@given(spans=spans, now=st.integers(-48, 72).map(at))
def test_a_span_open_now_is_always_granted(spans, now):
    plan = plan_access(spans, now)
    for s in spans:
        if s.start <= now < s.end:
            assert plan.grant is not None
            assert plan.grant.begin <= now < plan.grant.end
            assert s.access_level_ids <= plan.grant.access_level_ids


# --- desired_state --------------------------------------------------------------------


def _visit(
    visitor, host, policy, *, start: datetime, hours: float = 2, status=VisitStatus.AWAITING
):
    return Visit.objects.create(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        access_policy=policy,
        planned_start=start,
        planned_end=start + timedelta(hours=hours),
        status=status,
    )


@pytest.mark.django_db
def test_desired_state_of_a_visitor_with_visits(host, guest_policy, vip_policy):
    visitor = make_visitor(family_name="Ахметов", given_name="Нұрлан")
    _visit(visitor, host, guest_policy, start=at(0))
    _visit(visitor, host, vip_policy, start=at(1))
    _visit(visitor, host, vip_policy, start=at(-5), status=VisitStatus.CANCELLED)
    _visit(visitor, host, vip_policy, start=at(5), status=VisitStatus.PENDING)

    desired = desired_state(visitor.person_code, now=at(1.5))

    assert desired.person is not None
    assert desired.person.family_name == "Ахметов"
    assert desired.person.face_version == visitor.photo.name
    grant = desired.person.grant
    # Guest grace 15/15 minutes, VIP 30/60: 08:45 .. 13:00.
    assert grant.begin == at(-0.25)
    assert grant.end == at(4)
    assert grant.access_level_ids == {"1", "2"}


@pytest.mark.django_db
def test_no_access_when_visits_are_over_held_or_the_visitor_is_gone(host, guest_policy):
    visitor = make_visitor()
    _visit(visitor, host, guest_policy, start=at(0), status=VisitStatus.CHECKED_OUT)
    assert desired_state(visitor.person_code, now=at(0)).person is None

    _visit(visitor, host, guest_policy, start=at(0))
    assert desired_state(visitor.person_code, now=at(0)).person is not None
    AccessHold.objects.create(visitor=visitor, reason="Lost badge, identity in doubt")
    held = desired_state(visitor.person_code, now=at(0))
    assert held.person is None
    assert held.held

    gone = desired_state("VNOSUCHPERSON", now=at(0))
    assert (gone.person, gone.visitor_id) == (None, None)
