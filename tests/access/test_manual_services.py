# Russian reasons look like Latin ones to ruff's confusable check: they are meant.
# ruff: noqa: RUF001

"""Manual access operations over HTTP, through the Django admin where staff reach them now:
revoke now, restore, re-enrol the face and resync on the visitor list; retry and cancel on the
pending work list. Each asks for a reason on an intermediate page, checks the role itself,
is audited, writes the durable work row and changes nothing more when repeated. HCP is not
configured here: the work waits (the simulator test is test_manual_end_to_end.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.access.models import (
    AccessHold,
    AccessWork,
    ApplyState,
    HcpPerson,
    WorkPriority,
    WorkState,
)
from propusk.audit.models import AuditEntry
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.factories import make_iin

from .conftest import signed_in

pytestmark = pytest.mark.django_db

Register = Callable[..., Visit]
VISITORS = reverse("admin:visitors_visitor_changelist")
WORK = reverse("admin:access_accesswork_changelist")
REASON = "Нарушение пропускного режима: передал пропуск"


def staff(user: User, *codenames: str) -> Client:
    """The user with the admin open to them and the view permissions the lists need - never
    a superuser: what they may do comes from their role, checked by the services."""
    user.is_staff = True
    user.save()
    for codename in codenames or ("view_visitor", "view_accesswork"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return signed_in(user)


def act(
    client: Client, url: str, action: str, objects: list[Any], reason: str | None = None
) -> Any:
    """Press an action on the list: without ``reason`` the first press (the reason page),
    with it the second (sent from that page). Follows to the list's messages."""
    data: dict[str, Any] = {"action": action, "_selected_action": [str(o.pk) for o in objects]}
    if reason is None:
        return client.post(url, data)
    data.update(apply="yes", reason=reason)
    return client.post(url, data, follow=True)


def manual_entries(action: str | None = None) -> list[AuditEntry]:
    entries = AuditEntry.objects.filter(action__startswith="access.").order_by("pk")
    return list(entries.filter(action=action) if action else entries)


def work_of(visitor: Visitor) -> AccessWork | None:
    return AccessWork.objects.filter(person_code=visitor.person_code).first()


def text(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def visit(register: Register) -> Visit:
    """A walk-in registered at the desk now (its grant work waits: no HCP here)."""
    return register(family_name="Жумабекова", given_name="Айгуль", national_id=make_iin())


def enrolled(visitor: Visitor, **values: Any) -> HcpPerson:
    """The state the reconciler records once HCP holds the person, with its face, applied;
    the work done."""
    AccessWork.objects.filter(person_code=visitor.person_code).delete()
    defaults: dict[str, Any] = {
        "visitor_id": visitor.pk,
        "person_id": "23",
        "begin_time": timezone.now() - timedelta(minutes=15),
        "end_time": timezone.now() + timedelta(hours=2),
        "access_level_ids": ["1"],
        "face_version": visitor.photo.name,
        "apply_state": ApplyState.APPLIED,
        "applied_at": timezone.now(),
        "reconciled_at": timezone.now(),
    }
    defaults.update(values)
    return HcpPerson.objects.create(person_code=visitor.person_code, **defaults)


# --- revoke now ---------------------------------------------------------------------------


def test_revoke_now_asks_for_the_reason_then_holds_and_queues_a_revocation(
    visit: Visit, security: User
) -> None:
    visitor = visit.visitor
    enrolled(visitor)
    client = staff(security)

    page = act(client, VISITORS, "revoke_access_now", [visitor])
    assert page.status_code == 200
    assert 'id="access-reason"' in text(page)
    assert visitor.full_name in text(page)
    assert not AccessHold.objects.exists()  # the first press changes nothing

    done = act(client, VISITORS, "revoke_access_now", [visitor], reason=REASON)

    assert "Access revoked for 1 visitor." in text(done)
    hold = AccessHold.objects.get(visitor=visitor)
    assert (hold.reason, hold.created_by, hold.released_at) == (REASON, security, None)
    work = work_of(visitor)
    assert work is not None
    assert (work.priority, work.state) == (WorkPriority.REVOKE, WorkState.PENDING)
    assert work.due_at <= timezone.now()
    assert work.revoke_due_at is not None  # the start of the time to revoke
    [entry] = manual_entries()
    assert (entry.action, entry.actor, entry.target_id) == (
        "access.revoked_now",
        security,
        str(visitor.pk),
    )
    assert entry.changes["reason"] == REASON
    assert entry.changes["person_code"] == visitor.person_code
    assert entry.changes["hold_id"] == hold.pk


def test_revoke_now_twice_holds_once(visit: Visit, security: User) -> None:
    client = staff(security)
    act(client, VISITORS, "revoke_access_now", [visit.visitor], reason=REASON)
    generation = work_of(visit.visitor).generation  # type: ignore[union-attr]

    again = act(client, VISITORS, "revoke_access_now", [visit.visitor], reason="Ещё раз")

    assert "1 visitor was already revoked." in text(again)
    assert AccessHold.objects.count() == 1
    assert len(manual_entries()) == 1
    assert work_of(visit.visitor).generation == generation  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        (f"Паспорт {make_iin()} не совпал", "Do not put an ID number in the reason"),
        ("Причина\u202e", "invisible or control characters"),
        ("—", "at least one letter or digit"),
        ("п" * 301, "at most 300 characters"),
    ],
)
def test_a_reason_is_required_and_checked_and_a_refusal_changes_nothing(
    visit: Visit, security: User, reason: str, message: str
) -> None:
    work_before = list(AccessWork.objects.values())
    client = staff(security)

    response = act(client, VISITORS, "revoke_access_now", [visit.visitor], reason=reason)

    assert response.status_code == 400
    assert message in text(response)
    assert not AccessHold.objects.exists()
    assert list(AccessWork.objects.values()) == work_before
    assert not manual_entries()


# --- restore ------------------------------------------------------------------------------


def test_restore_releases_the_hold_and_queues_a_grant(
    visit: Visit, security: User, admin_user: User
) -> None:
    visitor = visit.visitor
    act(staff(security), VISITORS, "revoke_access_now", [visitor], reason=REASON)
    AccessWork.objects.all().delete()  # the revocation was carried out
    client = staff(admin_user)

    done = act(client, VISITORS, "restore_access", [visitor], reason="Разобрались, пропуск вернули")

    assert "Access restored for 1 visitor." in text(done)
    hold = AccessHold.objects.get(visitor=visitor)
    assert hold.released_by == admin_user
    assert hold.released_at is not None
    work = work_of(visitor)
    assert work is not None
    assert (work.priority, work.state) == (WorkPriority.GRANT, WorkState.PENDING)
    entry = manual_entries("access.restored")[0]
    assert entry.actor == admin_user
    assert entry.changes["reason"] == "Разобрались, пропуск вернули"
    assert entry.changes["hold_ids"] == [hold.pk]

    again = act(client, VISITORS, "restore_access", [visitor], reason="Ещё раз")
    assert "1 visitor had no access on hold." in text(again)
    assert len(manual_entries("access.restored")) == 1


# --- re-enrol the face --------------------------------------------------------------------


def test_reenrol_marks_the_confirmed_face_stale_and_queues_work(
    visit: Visit, reception: User
) -> None:
    visitor = visit.visitor
    enrolled(visitor, face_rejected_reason="HCP 4: [faceData parameter error] too dark")
    client = staff(reception)

    done = act(client, VISITORS, "reenrol_face", [visitor], reason="Фото переснято при входе")

    assert "The face of 1 visitor will be sent again." in text(done)
    confirmed = HcpPerson.objects.get(person_code=visitor.person_code)
    assert (confirmed.face_version, confirmed.face_rejected_reason) == ("", "")
    assert confirmed.person_id == "23"  # nothing else touched
    work = work_of(visitor)
    assert work is not None
    assert (work.priority, work.state) == (WorkPriority.GRANT, WorkState.PENDING)
    entry = manual_entries("access.face_reenrol")[0]
    assert entry.changes["rejected_before"] == "HCP 4: [faceData parameter error] too dark"
    assert str(visitor.photo.name) not in str(entry.changes)

    again = act(client, VISITORS, "reenrol_face", [visitor], reason="Ещё раз")
    assert "was already waiting to be sent" in text(again)
    assert len(manual_entries()) == 1


def test_reenrol_is_refused_without_a_photo_and_while_a_worker_holds_the_person(
    visit: Visit, admin_user: User
) -> None:
    visitor = visit.visitor
    enrolled(visitor)
    client = staff(admin_user)
    AccessWork.objects.create(
        person_code=visitor.person_code,
        visitor_id=visitor.pk,
        due_at=timezone.now(),
        leased_until=timezone.now() + timedelta(minutes=5),
        lease_token="worker-1",
    )

    busy = act(client, VISITORS, "reenrol_face", [visitor], reason="Повторная отправка")
    assert "working on this visitor in HikCentral right now" in text(busy)
    assert HcpPerson.objects.get(person_code=visitor.person_code).face_version

    Visitor.objects.filter(pk=visitor.pk).update(photo="")
    AccessWork.objects.all().delete()
    no_photo = act(client, VISITORS, "reenrol_face", [visitor], reason="Повторная отправка")
    assert "This visitor has no face photo: take one first." in text(no_photo)
    assert not AccessWork.objects.exists()
    assert not manual_entries()


# --- resync -------------------------------------------------------------------------------


def test_resync_queues_sync_work_now_and_brings_scheduled_work_forward(
    visit: Visit, reception: User
) -> None:
    visitor = visit.visitor
    enrolled(visitor)
    client = staff(reception)

    done = act(client, VISITORS, "resync_access", [visitor], reason="Турникет не пускает")

    assert "1 visitor will be compared with HikCentral." in text(done)
    work = work_of(visitor)
    assert work is not None
    assert (work.priority, work.state) == (WorkPriority.SYNC, WorkState.PENDING)
    assert work.due_at <= timezone.now()
    again = act(client, VISITORS, "resync_access", [visitor], reason="Ещё раз")
    assert "The work of 1 visitor was already due." in text(again)
    assert len(manual_entries("access.resync")) == 1

    # The revocation scheduled for the window's end comes forward, still a revocation.
    later = timezone.now() + timedelta(hours=2)
    AccessWork.objects.filter(pk=work.pk).update(priority=WorkPriority.REVOKE, due_at=later)
    act(client, VISITORS, "resync_access", [visitor], reason="Проверить ещё раз")
    work.refresh_from_db()
    assert work.priority == WorkPriority.REVOKE
    assert work.due_at <= timezone.now()
    assert len(manual_entries("access.resync")) == 2


# --- who may do what ----------------------------------------------------------------------

VISITOR_ACTIONS = ("revoke_access_now", "restore_access", "reenrol_face", "resync_access")
ALLOWED = {
    "revoke_access_now": {"admin", "security"},
    "restore_access": {"admin", "security"},
    "reenrol_face": {"admin", "reception"},
    "resync_access": {"admin", "reception"},
}


def _ready_for(action: str, visitor: Visitor) -> None:
    """The state in which ``action`` has something to do."""
    enrolled(visitor)
    if action == "restore_access":
        AccessHold.objects.create(visitor=visitor, reason="Проверка")


@pytest.mark.parametrize("action", VISITOR_ACTIONS)
@pytest.mark.parametrize("role", ["admin", "security", "reception", "host"])
def test_who_may_do_what_to_a_visitor(
    visit: Visit, request: pytest.FixtureRequest, action: str, role: str
) -> None:
    user: User = request.getfixturevalue({"admin": "admin_user"}.get(role, role))
    visitor = visit.visitor
    _ready_for(action, visitor)
    client = staff(user)
    listed = text(client.get(VISITORS))

    response = act(client, VISITORS, action, [visitor], reason="Проверка прав")

    if role in ALLOWED[action]:
        assert f'value="{action}"' in listed
        assert manual_entries()[0].actor == user
    else:
        assert f'value="{action}"' not in listed
        assert response.status_code == 200  # the list again: an action not offered is not run
        assert not manual_entries()
        assert AccessHold.objects.filter(released_at__isnull=False).count() == 0
        assert AccessHold.objects.count() == (1 if action == "restore_access" else 0)
        assert not AccessWork.objects.exists()


def test_reception_acts_only_on_visitors_its_pages_reach(
    register: Register, reception: User
) -> None:
    """A visit next week that someone else registered is not on the desk's pages."""
    visit = register(start=timezone.now() + timedelta(days=7))
    Visit.objects.filter(pk=visit.pk).update(created_by=None)
    AccessWork.objects.all().delete()

    response = act(staff(reception), VISITORS, "resync_access", [visit.visitor], reason="Проверка")

    assert "You are not allowed to do this to this visitor&#x27;s access." in text(response)
    assert not AccessWork.objects.exists()
    assert not manual_entries()


# --- retry and cancel pending work --------------------------------------------------------


def _failed(visitor: Visitor, **values: Any) -> AccessWork:
    AccessWork.objects.filter(person_code=visitor.person_code).delete()
    defaults: dict[str, Any] = {
        "person_code": visitor.person_code,
        "visitor_id": visitor.pk,
        "priority": WorkPriority.GRANT,
        "state": WorkState.FAILED,
        "due_at": timezone.now() - timedelta(minutes=10),
        "attempts": 3,
        "last_error_code": "org_missing",
        "last_error_message": "HCP has no organisation named 'Propusk visitors'",
    }
    defaults.update(values)
    return AccessWork.objects.create(**defaults)


def test_retry_puts_failed_work_back_to_pending_now(visit: Visit, reception: User) -> None:
    work = _failed(visit.visitor, retries_by_itself=True)  # on the slow schedule
    client = staff(reception)
    listed = text(client.get(WORK))
    assert visit.visitor.person_code in listed
    assert "org_missing" in listed

    done = act(client, WORK, "retry", [work], reason="Организацию создали в HCP")

    assert "1 work item is due again now." in text(done)
    work.refresh_from_db()
    assert (work.state, work.attempts, work.priority) == (WorkState.PENDING, 0, WorkPriority.GRANT)
    assert not work.retries_by_itself
    assert work.due_at <= timezone.now()
    entry = manual_entries("access.work_retried")[0]
    assert (entry.actor, entry.target_id) == (reception, str(visit.visitor_id))
    assert entry.changes["work"]["last_error_code"] == "org_missing"
    assert entry.changes["reason"] == "Организацию создали в HCP"

    again = act(client, WORK, "retry", [work], reason="Ещё раз")
    assert "1 work item was already due." in text(again)
    assert len(manual_entries()) == 1


def test_cancel_deletes_pending_grant_work_and_the_audit_keeps_what_it_was(
    visit: Visit, admin_user: User
) -> None:
    work = work_of(visit.visitor)  # the registration's grant, not carried out yet
    assert work is not None
    client = staff(admin_user)

    done = act(client, WORK, "cancel", [work], reason="Визит зарегистрирован по ошибке")

    assert "1 work item cancelled." in text(done)
    assert not AccessWork.objects.exists()
    entry = manual_entries("access.work_cancelled")[0]
    assert entry.target_id == str(visit.visitor_id)
    was = entry.changes["work"]
    assert (was["id"], was["person_code"], was["priority"], was["state"]) == (
        work.pk,
        visit.visitor.person_code,
        "grant",
        "pending",
    )
    assert was["reasons"] == work.reasons


def test_cancel_refuses_work_that_takes_access_away(visit: Visit, admin_user: User) -> None:
    visitor = visit.visitor
    client = staff(admin_user)
    refusal = "cancelling it would leave access that must end"

    # A pending revocation (here: the visit cancelled at the desk).
    enrolled(visitor)
    revoking = AccessWork.objects.create(
        person_code=visitor.person_code,
        visitor_id=visitor.pk,
        priority=WorkPriority.REVOKE,
        due_at=timezone.now(),
    )
    assert refusal in text(act(client, WORK, "cancel", [revoking], reason="Не нужно"))
    assert AccessWork.objects.filter(pk=revoking.pk).exists()

    # Failed work while HCP holds a level the desired state no longer has.
    HcpPerson.objects.filter(person_code=visitor.person_code).update(access_level_ids=["1", "2"])
    failed = _failed(visitor)
    assert refusal in text(act(client, WORK, "cancel", [failed], reason="Не нужно"))
    assert AccessWork.objects.filter(pk=failed.pk).exists()

    # A worker holds it right now.
    HcpPerson.objects.filter(person_code=visitor.person_code).update(access_level_ids=["1"])
    AccessWork.objects.filter(pk=failed.pk).update(
        state=WorkState.PENDING, leased_until=timezone.now() + timedelta(minutes=5)
    )
    busy = act(client, WORK, "cancel", [failed], reason="Не нужно")
    assert "working on this visitor in HikCentral right now" in text(busy)
    assert AccessWork.objects.filter(pk=failed.pk).exists()
    assert not manual_entries()


def test_cancel_of_failed_work_for_a_person_not_ours(visit: Visit, admin_user: User) -> None:
    """A code HCP holds in another organisation fails as not_ours forever: nothing of ours
    is in HCP, so cancelling takes nothing away."""
    failed = _failed(visit.visitor, priority=WorkPriority.REVOKE, last_error_code="not_ours")

    done = act(staff(admin_user), WORK, "cancel", [failed], reason="Персона не наша")

    assert "1 work item cancelled." in text(done)
    assert not AccessWork.objects.exists()


@pytest.mark.parametrize(
    ("role", "retry", "cancel"),
    [("security", False, False), ("reception", True, False), ("host", False, False)],
)
def test_who_may_retry_and_cancel(
    visit: Visit, request: pytest.FixtureRequest, role: str, retry: bool, cancel: bool
) -> None:
    work = _failed(visit.visitor)
    client = staff(request.getfixturevalue(role))
    listed = text(client.get(WORK))

    assert ('value="retry"' in listed) is retry
    assert ('value="cancel"' in listed) is cancel
    act(client, WORK, "cancel", [work], reason="Проверка прав")
    assert AccessWork.objects.filter(pk=work.pk).exists()
    assert not manual_entries()


def test_work_of_a_deleted_visitor_is_for_administrators_only(
    visit: Visit, reception: User, admin_user: User
) -> None:
    work = _failed(visit.visitor, person_code="VGONE0000001", visitor_id=None)

    refused = act(staff(reception), WORK, "retry", [work], reason="Проверка")
    assert "Only an administrator may do this to work with no visitor." in text(refused)
    work.refresh_from_db()
    assert work.state == WorkState.FAILED

    act(staff(admin_user), WORK, "retry", [work], reason="Проверка")
    work.refresh_from_db()
    assert work.state == WorkState.PENDING
    entry = manual_entries("access.work_retried")[0]
    assert (entry.target_type, entry.target_id) == ("access.accesswork", str(work.pk))
