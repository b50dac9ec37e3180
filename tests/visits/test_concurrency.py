"""Two writers at once: two sweeps, two clicks. Needs a database with concurrent writers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.visits import services
from propusk.visits.models import Visit, VisitStatus

VISITS = 30

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs a database with concurrent writers"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _run_together(*calls):
    """Start the calls at the same moment in threads; their results and exceptions."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = []

    def run(call) -> None:
        try:
            start.wait()
            outcomes.append(call())
        except BaseException as exc:  # collected for the test to inspect
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_concurrent_sweeps_close_and_audit_each_visit_once(make_visit):
    now = timezone.now()
    for index in range(VISITS):
        make_visit(
            status=VisitStatus.CHECKED_IN if index % 2 else VisitStatus.AWAITING,
            planned_start=now - timedelta(hours=5),
            planned_end=now - timedelta(hours=2),
        )
    results = _run_together(services.close_expired_visits, services.close_expired_visits)

    assert all(isinstance(result, services.ClosedCounts) for result in results), results
    assert sum(r.checked_out + r.no_show for r in results) == VISITS
    assert not Visit.objects.filter(
        status__in=[VisitStatus.AWAITING, VisitStatus.CHECKED_IN]
    ).exists()
    assert AuditEntry.objects.filter(actor_label="system").count() == VISITS


def test_two_clicks_on_check_out_check_out_once(make_visit, reception):
    now = timezone.now()
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=now - timedelta(hours=1))

    def click():
        return services.check_out(visit=Visit.objects.get(pk=visit.pk), actor=reception)

    outcomes = _run_together(click, click)

    assert sum(isinstance(o, Visit) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, services.VisitTransitionError) for o in outcomes) == 1, outcomes
    assert AuditEntry.objects.filter(action="visit.checked_out").count() == 1


def test_the_same_person_joins_a_group_once_from_the_link_and_the_desk(
    visitor, host, guest_policy, reception
):
    """The link and the desk at the same moment: the group row lock lets one in."""
    from propusk.invitations.models import Invitation, InvitationKind
    from propusk.visits.models import VisitGroup, VisitKind

    now = timezone.now()
    group = VisitGroup.objects.create(
        name="School No. 12",
        host=host,
        purpose="Open day",
        planned_start=now + timedelta(hours=1),
        planned_end=now + timedelta(hours=3),
        access_policy=guest_policy,
    )
    invitation = Invitation.objects.create(
        kind=InvitationKind.GROUP,
        host=host,
        access_policy=guest_policy,
        group=group,
        max_uses=10,
        expires_at=group.planned_end,
    )

    def desk():
        return services.register_group_member(group=group, visitor=visitor, actor=reception)

    def link():  # what redeem_invitation does once it has the visitor
        return services.register_visit(
            kind=VisitKind.GROUP,
            visitor=visitor,
            host=host,
            planned_start=group.planned_start,
            planned_end=group.planned_end,
            access_policy=guest_policy,
            actor=None,
            group=group,
            invitation=invitation,
        )

    outcomes = _run_together(desk, link, desk)

    assert sum(isinstance(o, Visit) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, services.AlreadyInGroup) for o in outcomes) == 2, outcomes
    assert group.visits.count() == 1
