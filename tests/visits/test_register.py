"""register_visit / register_walk_in: validation, defaults, double submit, audit, hook."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from propusk.access.models import AccessWork, WorkPriority
from propusk.audit.models import AuditEntry
from propusk.visits import services
from propusk.visits.models import Visit, VisitGroup, VisitKind, VisitStatus


@pytest.fixture
def register(visitor, host, guest_policy, reception, frozen_now):
    """register_visit with sensible defaults: alice's guest, 11:00-13:00 today, by reception."""

    def call(**overrides):
        arguments = {
            "kind": VisitKind.GUEST,
            "visitor": visitor,
            "host": host,
            "planned_start": frozen_now + timedelta(hours=1),
            "planned_end": frozen_now + timedelta(hours=3),
            "access_policy": guest_policy,
            "actor": reception,
        }
        arguments.update(overrides)
        return services.register_visit(**arguments)

    return call


def test_registers_an_expected_visit_with_defaults(register, host, reception, department):
    visit = register(purpose="Thesis defence")

    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING
    assert visit.host == host
    assert visit.department == department  # the host's department
    assert visit.single_pass is False  # the guest policy's default
    assert visit.created_by == reception
    assert visit.purpose == "Thesis defence"


def test_student_visit_takes_single_pass_from_its_policy(
    register, make_visitor_row, student_policy
):
    visit = register(
        kind=VisitKind.STUDENT,
        visitor=make_visitor_row(),
        access_policy=student_policy,
        student_id="S-1024",
        student_group="PH-21",
        course=2,
    )
    assert visit.single_pass is True
    assert (visit.student_id, visit.student_group, visit.course) == ("S-1024", "PH-21", 2)


def test_single_pass_given_explicitly_overrides_the_policy(register, student_policy):
    visit = register(kind=VisitKind.STUDENT, access_policy=student_policy, single_pass=False)
    assert visit.single_pass is False


def test_applicant_needs_no_student_id(register, student_policy):
    visit = register(kind=VisitKind.STUDENT, access_policy=student_policy)
    assert visit.student_id == ""


def test_registration_is_audited_with_actor_and_values(register, reception, visitor):
    visit = register()

    entry = AuditEntry.objects.get(target_type="visits.visit", target_id=str(visit.pk))
    assert entry.actor == reception
    assert entry.actor_label == "reception"
    assert entry.action == "visit.registered"
    assert entry.changes["status"] == [None, "awaiting"]
    assert entry.changes["host"] == [None, visit.host_id]
    assert entry.changes["planned_end"] == [None, visit.planned_end.isoformat()]
    text = str(entry.changes)
    assert "photo" not in text
    assert "national" not in text


def test_access_work_is_recorded_in_the_registrations_own_transaction(
    register, announced, visitor, django_capture_on_commit_callbacks
):
    """A process that dies between commit and any callback loses nothing: the work row
    commits with the visit (and a worker is only woken after commit)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        visit = register()
        assert announced == [(visit.pk, "registered")]  # already, inside the transaction
    work = AccessWork.objects.get()
    assert (work.person_code, work.visitor_id) == (visitor.person_code, visitor.pk)
    assert work.priority == WorkPriority.GRANT
    assert work.revoke_due_at is None
    assert len(callbacks) == 1  # the wake-up, after commit


def test_a_refused_registration_records_no_access_work(register, announced, frozen_now):
    with pytest.raises(ValidationError):
        register(planned_end=frozen_now - timedelta(hours=1))  # already over
    assert announced == []
    assert not AccessWork.objects.exists()


def test_pending_registration_announces_nothing(
    register, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        visit = register(status=VisitStatus.PENDING)
    assert visit.status == VisitStatus.PENDING
    assert announced == []


def test_other_statuses_cannot_be_registered(register):
    with pytest.raises(ValueError, match="AWAITING or PENDING"):
        register(status=VisitStatus.CHECKED_IN)
    assert not Visit.objects.exists()


def test_double_submit_returns_the_same_visit(register):
    token = uuid.uuid4()
    first = register(submission_token=token)
    second = register(submission_token=token, purpose="changed on the second click")

    assert second.pk == first.pk
    assert Visit.objects.count() == 1
    assert Visit.objects.get().purpose == ""
    assert AuditEntry.objects.filter(action="visit.registered").count() == 1


def test_walk_in_starts_now(visitor, host, guest_policy, reception, frozen_now):
    visit = services.register_walk_in(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_end=frozen_now + timedelta(hours=1),
        access_policy=guest_policy,
        actor=reception,
    )
    assert visit.planned_start == frozen_now
    assert visit.status == VisitStatus.AWAITING
    assert visit.checked_in_at is None


def test_invitation_registration_by_the_system_is_labelled(register):
    from propusk.invitations.models import Invitation

    visit = register(actor=None, status=VisitStatus.PENDING)
    invitation = Invitation.objects.create(
        kind="single",
        host=visit.host,
        access_policy=visit.access_policy,
        expires_at=visit.planned_end,
    )
    second = register(actor=None, invitation=invitation, visitor=visit.visitor)
    assert second.created_by is None
    entry = AuditEntry.objects.get(action="visit.registered", target_id=str(second.pk))
    assert entry.actor is None
    assert entry.actor_label == f"invitation:{invitation.pk}"


# --- Refusals: each leaves nothing behind ------------------------------------------


def _assert_nothing_written():
    assert not Visit.objects.exists()
    assert not AuditEntry.objects.filter(target_type="visits.visit").exists()


@pytest.mark.parametrize(
    ("start_hours", "end_hours", "code"),
    [
        (3, 1, "end_before_start"),
        (1, 1, "end_before_start"),
        (-5, -1, "past"),
        (1, 1 + 14 * 24 + 1, "too_long"),
    ],
)
def test_bad_windows_are_refused(register, frozen_now, start_hours, end_hours, code):
    with pytest.raises(ValidationError) as caught:
        register(
            planned_start=frozen_now + timedelta(hours=start_hours),
            planned_end=frozen_now + timedelta(hours=end_hours),
        )
    assert [error.code for error in caught.value.error_dict["planned_end"]] == [code]
    _assert_nothing_written()


def test_maximum_length_comes_from_settings(register, frozen_now, settings):
    settings.VISIT_MAX_DURATION_HOURS = 2
    register(planned_start=frozen_now, planned_end=frozen_now + timedelta(hours=2))
    with pytest.raises(ValidationError, match="at most 2 hours"):
        register(planned_start=frozen_now, planned_end=frozen_now + timedelta(hours=2, seconds=1))


def test_naive_datetimes_are_refused(register, frozen_now):
    with pytest.raises(ValidationError) as caught:
        register(planned_start=frozen_now.replace(tzinfo=None))
    assert "planned_start" in caught.value.error_dict
    _assert_nothing_written()


@pytest.mark.parametrize("who", ["security", "no_role_user", "reception"])
def test_host_must_hold_a_hosting_role(register, request, who):
    with pytest.raises(ValidationError) as caught:
        register(host=request.getfixturevalue(who))
    assert caught.value.error_dict["host"][0].code == "not_a_host"
    _assert_nothing_written()


def test_inactive_host_is_refused(register, host):
    host.is_active = False
    host.save()
    with pytest.raises(ValidationError, match="cannot host"):
        register()
    _assert_nothing_written()


def test_administrator_can_host(register, admin_user):
    assert register(host=admin_user).host == admin_user


def test_inactive_policy_is_refused(register, guest_policy):
    guest_policy.is_active = False
    guest_policy.save()
    with pytest.raises(ValidationError, match="switched off"):
        register()
    _assert_nothing_written()


def test_inactive_department_is_refused(register, other_department):
    other_department.is_active = False
    other_department.save()
    with pytest.raises(ValidationError, match="closed"):
        register(department=other_department)
    _assert_nothing_written()


@pytest.mark.parametrize("status", [VisitStatus.AWAITING, VisitStatus.PENDING])
def test_visitor_without_photo_is_refused(register, make_visitor_row, status):
    with pytest.raises(ValidationError) as caught:
        register(visitor=make_visitor_row(photo=""), status=status)
    assert caught.value.error_dict["photo"][0].code == "no_photo"
    _assert_nothing_written()


@pytest.mark.parametrize("status", [VisitStatus.AWAITING, VisitStatus.PENDING])
def test_visitor_without_consent_is_refused(register, make_visitor_row, status):
    with pytest.raises(ValidationError) as caught:
        register(visitor=make_visitor_row(consent_given_at=None), status=status)
    assert caught.value.error_dict["consent"][0].code == "no_consent"
    _assert_nothing_written()


def test_student_details_on_a_guest_visit_are_refused(register):
    with pytest.raises(ValidationError, match="student visits only"):
        register(student_id="S-1")
    _assert_nothing_written()


@pytest.mark.parametrize("course", [0, 8])
def test_course_out_of_range_is_refused(register, student_policy, course):
    with pytest.raises(ValidationError, match="course"):
        register(kind=VisitKind.STUDENT, access_policy=student_policy, course=course)
    _assert_nothing_written()


def test_group_visit_needs_a_group_and_its_host(
    register, host, other_host, guest_policy, frozen_now
):
    with pytest.raises(ValidationError, match="visit group"):
        register(kind=VisitKind.GROUP)
    group = VisitGroup.objects.create(
        name="School trip",
        host=other_host,
        purpose="Tour",
        planned_start=frozen_now,
        planned_end=frozen_now + timedelta(hours=2),
        access_policy=guest_policy,
    )
    with pytest.raises(ValidationError, match="host of the group"):
        register(kind=VisitKind.GROUP, group=group)
    with pytest.raises(ValidationError, match="visit group"):
        register(kind=VisitKind.GUEST, group=group, host=other_host)
    _assert_nothing_written()
    visit = register(kind=VisitKind.GROUP, group=group, host=other_host)
    assert visit.group == group


def test_several_problems_are_reported_together(register, make_visitor_row, frozen_now, security):
    with pytest.raises(ValidationError) as caught:
        register(
            visitor=make_visitor_row(photo=""),
            host=security,
            planned_end=frozen_now - timedelta(hours=1),
            planned_start=frozen_now - timedelta(hours=2),
        )
    assert set(caught.value.error_dict) == {"photo", "host", "planned_end"}


# --- Who may register --------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "for_host", "allowed"),
    [
        ("admin_user", "host", True),
        ("reception", "host", True),
        ("reception", "other_host", True),
        ("host", "host", True),
        ("host", "other_host", False),
        ("security", "host", False),
        ("no_role_user", "host", False),
    ],
)
def test_who_may_register_for_whom(register, request, actor, for_host, allowed):
    actor_user = request.getfixturevalue(actor)
    host_user = request.getfixturevalue(for_host)
    if allowed:
        assert register(actor=actor_user, host=host_user).host == host_user
    else:
        with pytest.raises(PermissionDenied):
            register(actor=actor_user, host=host_user)
        _assert_nothing_written()


def test_create_visit_group(host, guest_policy, frozen_now):
    group = services.create_visit_group(
        name=" Physics olympiad ",
        host=host,
        planned_start=frozen_now,
        planned_end=frozen_now + timedelta(hours=4),
        access_policy=guest_policy,
        actor=host,
    )
    assert group.name == "Physics olympiad"
    assert group.department == host.profile.department
    assert AuditEntry.objects.filter(action="visit_group.created").count() == 1
    with pytest.raises(ValidationError) as caught:
        services.create_visit_group(
            name="",
            host=host,
            planned_start=frozen_now,
            planned_end=frozen_now,
            access_policy=guest_policy,
            actor=host,
        )
    assert set(caught.value.error_dict) == {"name", "planned_end"}


@pytest.mark.parametrize(
    ("field", "length"), [("purpose", 301), ("student_id", 33), ("student_group", 65)]
)
def test_overlong_text_is_refused(register, student_policy, field, length):
    with pytest.raises(ValidationError) as caught:
        register(kind=VisitKind.STUDENT, access_policy=student_policy, **{field: "x" * length})
    assert caught.value.error_dict[field][0].code == "too_long"
    _assert_nothing_written()
