"""Status changes: what each does, and every refused (status, action) pair."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict

from propusk.access.models import AccessWork, WorkPriority
from propusk.audit.models import AuditEntry
from propusk.visits import services
from propusk.visits.lifecycle import ALLOWED_FROM, VisitAction
from propusk.visits.models import Visit, VisitStatus


def _call(action, visit, actor, now):
    """Run one change with arguments that would be valid for a visit that accepts it."""
    if action == VisitAction.CHECK_IN:
        return services.check_in(visit=visit, actor=actor)
    if action == VisitAction.CHECK_OUT:
        return services.check_out(visit=visit, actor=actor)
    if action == VisitAction.CANCEL:
        return services.cancel(visit=visit, actor=actor, reason="plans changed")
    if action == VisitAction.CONFIRM:
        return services.confirm_visit_time(
            visit=visit,
            planned_start=visit.planned_start,
            planned_end=visit.planned_end + timedelta(hours=1),
            actor=actor,
        )
    if action == VisitAction.CHANGE_WINDOW:
        return services.change_window(
            visit=visit,
            planned_start=None,
            planned_end=visit.planned_end + timedelta(hours=1),
            actor=actor,
        )
    raise AssertionError(action)


CHANGES = [action for action in VisitAction if action != VisitAction.VIEW]
REFUSED = [
    (action, status)
    for action in CHANGES
    for status in VisitStatus
    if status not in ALLOWED_FROM[action]
]


@pytest.mark.parametrize(("action", "status"), REFUSED, ids=[f"{a}-{s}" for a, s in REFUSED])
def test_refused_transition_changes_nothing(
    action,
    status,
    make_visit,
    admin_user,
    frozen_now,
    announced,
    django_capture_on_commit_callbacks,
):
    # A window around now, so only the status can be the reason for the refusal.
    visit = make_visit(
        status=status,
        planned_start=frozen_now - timedelta(minutes=30),
        planned_end=frozen_now + timedelta(hours=2),
    )
    before = model_to_dict(Visit.objects.get(pk=visit.pk))

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(services.VisitTransitionError) as caught,
    ):
        _call(action, visit, admin_user, frozen_now)

    assert caught.value.code == "invalid_transition"
    assert caught.value.messages[0]
    assert model_to_dict(Visit.objects.get(pk=visit.pk)) == before
    assert not AuditEntry.objects.exists()
    assert callbacks == []
    assert announced == []


def test_every_refusal_has_its_own_message(make_visit, admin_user, frozen_now):
    messages = set()
    for action, status in REFUSED:
        visit = make_visit(status=status, planned_start=frozen_now - timedelta(minutes=30))
        with pytest.raises(services.VisitTransitionError) as caught:
            _call(action, visit, admin_user, frozen_now)
        messages.add(caught.value.messages[0])
    assert len(messages) == len(REFUSED)


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        (VisitAction.CHECK_OUT, VisitStatus.CANCELLED, "A cancelled visit cannot be checked out."),
        (VisitAction.CANCEL, VisitStatus.CHECKED_IN, "check the visit out instead"),
        (VisitAction.CHECK_IN, VisitStatus.PENDING, "not confirmed yet"),
        (VisitAction.CHECK_OUT, VisitStatus.AWAITING, "has not checked in yet"),
        (VisitAction.CONFIRM, VisitStatus.AWAITING, "already confirmed"),
        (VisitAction.CHANGE_WINDOW, VisitStatus.NO_SHOW, "no-show"),
    ],
)
def test_refusal_messages_say_why(make_visit, admin_user, frozen_now, action, status, message):
    visit = make_visit(status=status, planned_start=frozen_now - timedelta(minutes=30))
    with pytest.raises(services.VisitTransitionError, match=message):
        _call(action, visit, admin_user, frozen_now)


def test_transition_error_is_a_validation_error():
    assert issubclass(services.VisitTransitionError, ValidationError)


# --- Allowed transitions -----------------------------------------------------------


def _only_audit_entry():
    (entry,) = AuditEntry.objects.filter(target_type="visits.visit")
    return entry


def test_check_in_and_out(
    make_visit, reception, frozen_now, announced, django_capture_on_commit_callbacks
):
    visit = make_visit(planned_start=frozen_now - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        returned = services.check_in(visit=visit, actor=reception)
    assert returned is visit  # the caller's instance is refreshed
    assert visit.status == VisitStatus.CHECKED_IN
    assert Visit.objects.get(pk=visit.pk).checked_in_at == frozen_now
    entry = _only_audit_entry()
    assert (entry.actor, entry.action) == (reception, "visit.checked_in")
    assert entry.changes["status"] == ["awaiting", "checked_in"]
    assert announced == [(visit.pk, "checked_in")]

    later = frozen_now + timedelta(minutes=40)
    with django_capture_on_commit_callbacks(execute=True):
        services.check_out(visit=visit, actor=reception, at=later)
    visit.refresh_from_db()
    assert (visit.status, visit.checked_out_at) == (VisitStatus.CHECKED_OUT, later)
    assert announced[-1] == (visit.pk, "checked_out")
    # Checking out is a revocation: it goes first, and the time to revoke starts now.
    assert visit.access_should_end_at == later
    work = AccessWork.objects.get()
    assert work.priority == WorkPriority.REVOKE
    assert work.revoke_due_at is not None
    assert AuditEntry.objects.filter(action="visit.checked_out", actor=reception).count() == 1


def test_system_check_in_from_a_turnstile_event(make_visit, frozen_now):
    visit = make_visit(planned_start=frozen_now)
    entered = frozen_now + timedelta(minutes=3)
    services.check_in(visit=visit, actor=None, at=entered)
    assert visit.checked_in_at == entered
    entry = _only_audit_entry()
    assert (entry.actor, entry.actor_label) == (None, "system")


@pytest.mark.parametrize(
    ("minutes_from_start", "accepted"),
    [
        (-16, False),  # guest policy: 15 minutes early grace
        (-15, True),
        (0, True),
        (120 + 15, True),  # 2-hour visit + 15 minutes late grace
        (120 + 16, False),
    ],
)
def test_check_in_only_inside_the_access_window(
    make_visit, reception, frozen_now, minutes_from_start, accepted
):
    visit = make_visit(planned_start=frozen_now, planned_end=frozen_now + timedelta(hours=2))
    at = frozen_now + timedelta(minutes=minutes_from_start)
    if accepted:
        services.check_in(visit=visit, actor=reception, at=at)
        assert Visit.objects.get(pk=visit.pk).status == VisitStatus.CHECKED_IN
    else:
        expected = "Too early" if minutes_from_start < 0 else "Too late"
        with pytest.raises(services.VisitTransitionError, match=expected):
            services.check_in(visit=visit, actor=reception, at=at)
        assert Visit.objects.get(pk=visit.pk).status == VisitStatus.AWAITING
        assert not AuditEntry.objects.exists()


def test_too_early_message_names_the_local_opening_time(make_visit, reception, frozen_now):
    visit = make_visit(planned_start=frozen_now + timedelta(hours=2))  # 12:00 Almaty
    with pytest.raises(services.VisitTransitionError, match="11:45"):
        services.check_in(visit=visit, actor=reception)


def test_naive_moment_is_refused(make_visit, reception, frozen_now):
    visit = make_visit(planned_start=frozen_now)
    with pytest.raises(ValueError, match="aware"):
        services.check_in(visit=visit, actor=reception, at=frozen_now.replace(tzinfo=None))


def test_check_out_before_check_in_is_refused(make_visit, reception, frozen_now):
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=frozen_now)
    with pytest.raises(services.VisitTransitionError, match="before the check-in"):
        services.check_out(visit=visit, actor=reception, at=frozen_now - timedelta(minutes=1))
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.CHECKED_IN


@pytest.mark.parametrize(
    ("status", "announces"), [(VisitStatus.AWAITING, True), (VisitStatus.PENDING, False)]
)
def test_cancel(make_visit, host, status, announces, announced, django_capture_on_commit_callbacks):
    visit = make_visit(status=status)
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel(visit=visit, actor=host, reason="  Meeting   moved ")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED
    assert visit.cancel_reason == "Meeting moved"
    assert visit.cancelled_at is not None
    entry = _only_audit_entry()
    assert (entry.actor, entry.action) == (host, "visit.cancelled")
    assert entry.changes["status"] == [status.value, "cancelled"]
    assert announced == ([(visit.pk, "cancelled")] if announces else [])
    assert (visit.access_should_end_at is not None) is announces


def test_cancel_reason_too_long_is_refused(make_visit, host):
    visit = make_visit()
    with pytest.raises(ValidationError, match="300"):
        services.cancel(visit=visit, actor=host, reason="x" * 301)
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.AWAITING


def test_confirm_pending_time(
    make_visit, host, frozen_now, announced, django_capture_on_commit_callbacks
):
    visit = make_visit(status=VisitStatus.PENDING)
    start, end = frozen_now + timedelta(days=1), frozen_now + timedelta(days=1, hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.confirm_visit_time(visit=visit, planned_start=start, planned_end=end, actor=host)
    visit.refresh_from_db()
    assert (visit.status, visit.planned_start, visit.planned_end) == (
        VisitStatus.AWAITING,
        start,
        end,
    )
    entry = _only_audit_entry()
    assert entry.action == "visit.time_confirmed"
    assert entry.changes["status"] == ["pending", "awaiting"]
    assert entry.changes["planned_end"][1] == end.isoformat()
    assert announced == [(visit.pk, "confirmed")]


def test_confirm_with_a_bad_window_changes_nothing(make_visit, host, frozen_now):
    visit = make_visit(status=VisitStatus.PENDING)
    with pytest.raises(ValidationError, match="end after it starts"):
        services.confirm_visit_time(
            visit=visit,
            planned_start=frozen_now + timedelta(hours=3),
            planned_end=frozen_now + timedelta(hours=2),
            actor=host,
        )
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.PENDING
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("status", [VisitStatus.PENDING, VisitStatus.AWAITING])
def test_change_both_ends_before_arrival(make_visit, host, frozen_now, status):
    visit = make_visit(status=status)
    start, end = frozen_now + timedelta(hours=4), frozen_now + timedelta(hours=5)
    services.change_window(visit=visit, planned_start=start, planned_end=end, actor=host)
    visit.refresh_from_db()
    assert (visit.planned_start, visit.planned_end) == (start, end)
    entry = _only_audit_entry()
    assert entry.action == "visit.window_changed"
    assert entry.changes["planned_start"][1] == start.isoformat()


def test_extend_and_shorten_a_stay(
    make_visit, host, frozen_now, announced, django_capture_on_commit_callbacks
):
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=frozen_now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.change_window(
            visit=visit, planned_start=None, planned_end=frozen_now + timedelta(hours=6), actor=host
        )
        services.change_window(
            visit=visit,
            planned_start=visit.planned_start,  # unchanged start is fine
            planned_end=frozen_now + timedelta(minutes=10),
            actor=host,
        )
    assert Visit.objects.get(pk=visit.pk).planned_end == frozen_now + timedelta(minutes=10)
    assert AuditEntry.objects.filter(action="visit.window_changed").count() == 2
    assert announced == [(visit.pk, "window_changed")] * 2


def test_stay_cannot_move_its_start_or_end_in_the_past(make_visit, host, frozen_now):
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=frozen_now - timedelta(hours=1))
    before = model_to_dict(Visit.objects.get(pk=visit.pk))
    with pytest.raises(services.VisitTransitionError, match="only the end"):
        services.change_window(
            visit=visit,
            planned_start=frozen_now,
            planned_end=frozen_now + timedelta(hours=2),
            actor=host,
        )
    with pytest.raises(ValidationError, match="already in the past"):
        services.change_window(
            visit=visit,
            planned_start=None,
            planned_end=frozen_now - timedelta(minutes=1),
            actor=host,
        )
    assert model_to_dict(Visit.objects.get(pk=visit.pk)) == before
    assert not AuditEntry.objects.exists()


def test_unchanged_window_writes_nothing(make_visit, host):
    visit = make_visit()
    services.change_window(
        visit=visit, planned_start=visit.planned_start, planned_end=visit.planned_end, actor=host
    )
    assert not AuditEntry.objects.exists()


def test_status_is_read_under_the_lock_not_from_the_stale_instance(daytime, make_visit, reception):
    visit = make_visit()
    stale = Visit.objects.get(pk=visit.pk)
    services.cancel(visit=visit, actor=reception)
    with pytest.raises(services.VisitTransitionError, match="cancelled visit cannot be checked in"):
        services.check_in(visit=stale, actor=reception)
