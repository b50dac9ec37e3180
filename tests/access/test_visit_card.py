"""The visit page's "Access in HikCentral" card, per role, over HTTP.

Security and administrators see desired beside confirmed, the work, a hold, the time to revoke
and the history of HCP changes; reception a one-line status; hosts nothing - except a face HCP
refused, which everyone who sees the visit is told about. The confirmed state is written here
as the reconciler writes it (``HcpPerson``); the reconciler itself is tested against the
simulator (test_reconciler.py, test_manual_end_to_end.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from propusk.access.models import (
    AccessHold,
    AccessLevelPolicy,
    AccessWork,
    ApplyState,
    HcpPerson,
    WorkState,
)
from propusk.audit.services import record
from propusk.visits.models import Visit
from tests.factories import make_iin

from .conftest import signed_in

pytestmark = pytest.mark.django_db

Register = Callable[..., Visit]
CARD = "Access in HikCentral"
REFUSAL = "HCP 4: [faceData parameter error] face quality too low"


@pytest.fixture(autouse=True)
def _english_after() -> object:
    yield
    translation.deactivate()


def page(user: User, visit: Visit, **headers: str) -> str:
    response = signed_in(user).get(reverse("visits:detail", args=[visit.pk]), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def confirm_enrolled(visit: Visit, **values: object) -> HcpPerson:
    """What the reconciler records once HCP accepted the person and the devices applied it."""
    now = timezone.now()
    defaults: dict[str, object] = {
        "visitor_id": visit.visitor_id,
        "person_id": "17",
        "begin_time": visit.planned_start - timedelta(minutes=15),
        "end_time": visit.planned_end + timedelta(minutes=15),
        "access_level_ids": ["1"],
        "face_version": visit.visitor.photo.name,
        "apply_state": ApplyState.APPLIED,
        "applied_at": now,
        "reconciled_at": now,
    }
    defaults.update(values)
    return HcpPerson.objects.create(person_code=visit.visitor.person_code, **defaults)


def test_administrators_and_security_see_desired_beside_confirmed(
    register: Register, admin_user: User, security: User, vip_policy: AccessLevelPolicy
) -> None:
    visit = register(family_name="Серикбаева", given_name="Дана", national_id=make_iin())
    AccessWork.objects.filter(person_code=visit.visitor.person_code).delete()
    confirm_enrolled(visit, access_level_ids=["1", "2"], apply_state=ApplyState.WAITING)

    for user in (admin_user, security):
        html = page(user, visit)

        assert CARD in html
        assert "1 (Guests)" in html  # desired: the visit's policy, named
        assert "2 (VIP guests)" in html  # confirmed: still held until the reconciler runs
        assert "HCP person id" in html
        assert ">17<" in html
        assert "waiting for the devices" in html
        assert "the photo on file" in html
        assert "enrolled" in html
        assert "waiting for HikCentral" in html  # the badge
        assert visit.visitor.national_id_encrypted not in html


def test_the_card_shows_failed_work_with_its_error_and_the_history(
    register: Register, admin_user: User
) -> None:
    visit = register()
    confirm_enrolled(visit)
    AccessWork.objects.filter(person_code=visit.visitor.person_code).update(
        state=WorkState.FAILED,
        attempts=1,
        last_error_code="org_missing",
        last_error_message="HCP has no organisation named 'Propusk visitors'",
    )
    record(
        actor=None,
        actor_label="access-engine",
        action="hcp.membership_added",
        target=visit.visitor,
        changes={
            "sent": {"person_code": visit.visitor.person_code, "access_level_ids": ["1"]},
            "answer": {"person_id": "17"},
        },
    )
    record(actor=None, action="visit.checked_in", target=visit)  # not an HCP change

    html = page(admin_user, visit)

    assert "org_missing" in html
    assert "HCP has no organisation named" in html
    assert "Changes in HikCentral" in html
    assert "Access levels added" in html
    assert "access levels: 1 (Guests)" in html
    assert "automatically (access engine)" in html  # not the raw "access-engine"
    assert "access-engine" not in html


def test_reception_sees_one_status_line_and_hosts_nothing(
    register: Register, reception: User, host: User
) -> None:
    visit = register()  # its work waits: no HCP configured

    desk = page(reception, visit)
    assert "Access: waiting for HikCentral." in desk
    assert CARD not in desk
    assert "HCP person id" not in desk

    hosted = page(host, visit)
    assert "Access:" not in hosted
    assert CARD not in hosted

    AccessWork.objects.filter(person_code=visit.visitor.person_code).update(
        state=WorkState.FAILED, last_error_code="not_ours"
    )
    desk = page(reception, visit)
    assert "Access: failed - call an administrator." in desk
    assert "not_ours" not in desk

    AccessWork.objects.all().delete()
    confirm_enrolled(visit)
    assert "Access: active in HikCentral." in page(reception, visit)


def test_a_hold_and_the_time_to_revoke_are_shown(
    register: Register, admin_user: User, security: User, reception: User
) -> None:
    visit = register()
    confirm_enrolled(visit, access_level_ids=[], revoked_at=timezone.now())
    AccessWork.objects.all().delete()
    AccessHold.objects.create(
        visitor=visit.visitor, reason="Пропуск передан другому лицу", created_by=security
    )
    ended = timezone.now() - timedelta(minutes=2)
    Visit.objects.filter(pk=visit.pk).update(
        access_should_end_at=ended, access_revoked_at=ended + timedelta(seconds=1.5)
    )

    html = page(admin_user, visit)
    assert "On hold since" in html
    assert "Пропуск передан другому лицу" in html
    assert "No access: revoked by hand." in html
    assert "Time to revoke: 1.5 s" in html
    assert "Access: revoked by hand - call an administrator." in page(reception, visit)


def test_a_refused_face_is_shown_to_everyone_who_sees_the_visit(
    register: Register, admin_user: User, reception: User, host: User, other_host: User
) -> None:
    visit = register()
    confirm_enrolled(visit, face_version=visit.visitor.photo.name, face_rejected_reason=REFUSAL)

    for user in (admin_user, reception, host):
        html = page(user, visit)
        assert "Face rejected by HikCentral" in html, user
        assert "face quality too low" in html
        assert "Take a new photo of the visitor." in html
    response = signed_in(other_host).get(reverse("visits:detail", args=[visit.pk]))
    assert response.status_code == 404


def test_a_refusal_of_an_older_photo_is_not_shown(register: Register, host: User) -> None:
    visit = register()
    confirm_enrolled(visit, face_version="faces/older.jpg", face_rejected_reason=REFUSAL)

    assert "Face rejected by HikCentral" not in page(host, visit)


@override_settings(LANGUAGE_CODE="ru")
def test_the_card_and_the_status_line_are_in_russian(
    register: Register, admin_user: User, reception: User
) -> None:
    visit = register()
    confirm_enrolled(visit, face_rejected_reason=REFUSAL)

    html = page(admin_user, visit)
    assert "Доступ в HikCentral" in html
    assert "Желаемое" in html
    assert "Фото лица отклонено HikCentral" in html
    assert CARD not in html
    assert "Доступ: ожидает HikCentral." in page(reception, visit)


def test_the_admin_link_is_only_for_staff(register: Register, admin_user: User) -> None:
    visit = register()
    link = reverse("admin:visitors_visitor_changelist")
    assert link not in page(admin_user, visit)
    admin_user.is_staff = True
    admin_user.save()
    assert f"{link}?id__exact={visit.visitor_id}" in page(admin_user, visit)
