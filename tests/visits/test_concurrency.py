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
