"""close_expired_visits: which visits close, how, once."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from propusk.audit.models import AuditEntry
from propusk.visits import services
from propusk.visits.models import Visit, VisitKind, VisitStatus
from propusk.visits.tasks import close_expired_visits as close_expired_task


def _status(visit):
    return Visit.objects.get(pk=visit.pk).status


def test_visits_close_when_their_time_is_over(
    make_visit, frozen_now, announced, django_capture_on_commit_callbacks
):
    hour = timedelta(hours=1)
    grace = timedelta(minutes=15)  # the guest policy's late-leave grace
    stayed = make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=frozen_now - 3 * hour,
        planned_end=frozen_now - grace - timedelta(seconds=1),
    )
    still_in_grace = make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=frozen_now - 3 * hour,
        planned_end=frozen_now - grace + timedelta(seconds=1),
    )
    never_came = make_visit(
        planned_start=frozen_now - 3 * hour, planned_end=frozen_now - grace - timedelta(seconds=1)
    )
    may_still_come = make_visit(
        planned_start=frozen_now - 3 * hour, planned_end=frozen_now - timedelta(minutes=5)
    )
    pending_over = make_visit(
        status=VisitStatus.PENDING,
        planned_start=frozen_now - 3 * hour,
        planned_end=frozen_now - timedelta(seconds=1),
    )
    pending_ahead = make_visit(status=VisitStatus.PENDING, planned_start=frozen_now + hour)
    finished = [
        make_visit(status=status, planned_start=frozen_now - 5 * hour)
        for status in (VisitStatus.CHECKED_OUT, VisitStatus.CANCELLED, VisitStatus.NO_SHOW)
    ]
    future = make_visit(planned_start=frozen_now + hour)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.close_expired_visits()

    assert counts == services.ClosedCounts(checked_out=1, no_show=2)
    stayed.refresh_from_db()
    assert stayed.status == VisitStatus.CHECKED_OUT
    assert stayed.checked_out_at == stayed.planned_end + grace  # the end of their access
    assert _status(never_came) == VisitStatus.NO_SHOW
    assert Visit.objects.get(pk=never_came.pk).closed_at == frozen_now
    assert _status(pending_over) == VisitStatus.NO_SHOW
    assert _status(still_in_grace) == VisitStatus.CHECKED_IN
    assert _status(may_still_come) == VisitStatus.AWAITING
    assert _status(pending_ahead) == VisitStatus.PENDING
    assert _status(future) == VisitStatus.AWAITING
    assert [_status(v) for v in finished] == [v.status for v in finished]
    # Access changed for the two that had access; the pending one never had any.
    assert sorted(announced) == sorted([(stayed.pk, "expired"), (never_came.pk, "expired")])


def test_closing_is_audited_as_the_system(make_visit, frozen_now):
    visit = make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=frozen_now - timedelta(hours=3),
        planned_end=frozen_now - timedelta(hours=1),
    )
    services.close_expired_visits()
    entry = AuditEntry.objects.get(target_id=str(visit.pk))
    assert (entry.actor, entry.actor_label) == (None, "system")
    assert entry.action == "visit.expired_checked_out"
    assert entry.changes["status"] == ["checked_in", "checked_out"]


def test_running_twice_changes_nothing_more(make_visit, frozen_now):
    make_visit(
        planned_start=frozen_now - timedelta(hours=3), planned_end=frozen_now - timedelta(hours=1)
    )
    make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=frozen_now - timedelta(hours=3),
        planned_end=frozen_now - timedelta(hours=1),
    )
    assert services.close_expired_visits() == services.ClosedCounts(checked_out=1, no_show=1)
    audits = AuditEntry.objects.count()
    assert services.close_expired_visits() == services.ClosedCounts()
    assert AuditEntry.objects.count() == audits


def test_a_visit_claimed_by_another_run_is_not_closed_twice(make_visit, frozen_now):
    visit = make_visit(
        planned_start=frozen_now - timedelta(hours=3), planned_end=frozen_now - timedelta(hours=1)
    )
    seen_by_both = Visit.objects.get(pk=visit.pk)
    kwargs = {
        "to": VisitStatus.NO_SHOW,
        "fields": {"closed_at": frozen_now},
        "action": "visit.no_show",
    }
    assert services._claim(seen_by_both, moment=frozen_now, **kwargs) is True
    assert services._claim(seen_by_both, moment=frozen_now, **kwargs) is False
    assert AuditEntry.objects.filter(action="visit.no_show").count() == 1


def test_a_visit_extended_meanwhile_is_left_alone(make_visit, host, frozen_now):
    visit = make_visit(
        status=VisitStatus.CHECKED_IN,
        planned_start=frozen_now - timedelta(hours=3),
        planned_end=frozen_now - timedelta(hours=1),
    )
    judged = Visit.objects.get(pk=visit.pk)  # what the sweep read...
    Visit.objects.filter(pk=visit.pk).update(planned_end=frozen_now + timedelta(hours=1))  # ...then
    claimed = services._claim(
        judged,
        to=VisitStatus.CHECKED_OUT,
        fields={"checked_out_at": frozen_now},
        action="visit.expired_checked_out",
        moment=frozen_now,
    )
    assert claimed is False
    assert _status(visit) == VisitStatus.CHECKED_IN


def test_time_passing_closes_a_registered_visit(visitor, host, reception, guest_policy, frozen_now):
    visit = services.register_visit(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_start=frozen_now,
        planned_end=frozen_now + timedelta(hours=1),
        access_policy=guest_policy,
        actor=reception,
    )
    services.check_in(visit=visit, actor=reception)
    with time_machine.travel(frozen_now + timedelta(hours=1, minutes=14), tick=False):
        assert services.close_expired_visits() == services.ClosedCounts()
    with time_machine.travel(frozen_now + timedelta(hours=1, minutes=16), tick=False):
        assert services.close_expired_visits() == services.ClosedCounts(checked_out=1)
    visit.refresh_from_db()
    assert visit.checked_out_at == frozen_now + timedelta(hours=1, minutes=15)


def test_task_calls_the_service(make_visit, frozen_now):
    make_visit(
        planned_start=frozen_now - timedelta(hours=3), planned_end=frozen_now - timedelta(hours=1)
    )
    assert close_expired_task.apply().get() == {"checked_out": 0, "no_show": 1}
    assert close_expired_task.apply().get() == {"checked_out": 0, "no_show": 0}
