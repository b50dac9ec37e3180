"""The access engine's rows in the admin: pending work, confirmed HCP persons and holds are
looked at there and changed only through the manual operations (test_manual_services.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
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
from propusk.visits.models import Visit

from .conftest import signed_in

pytestmark = pytest.mark.django_db

Register = Callable[..., Visit]


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    return signed_in(admin_user)


@pytest.fixture
def rows(register: Register, security: User) -> dict[str, object]:
    visit = register(family_name="Ахметова", given_name="Сауле")
    visitor = visit.visitor
    work = AccessWork.objects.get(person_code=visitor.person_code)
    AccessWork.objects.filter(pk=work.pk).update(
        state=WorkState.FAILED,
        attempts=2,
        last_error_code="org_missing",
        last_error_message="HCP has no organisation named 'Propusk visitors'",
    )
    person = HcpPerson.objects.create(
        person_code=visitor.person_code,
        visitor_id=visitor.pk,
        person_id="31",
        begin_time=timezone.now(),
        end_time=timezone.now() + timedelta(hours=2),
        access_level_ids=["1", "3"],
        face_version=str(visitor.photo.name),
        face_rejected_reason="HCP 4: [faceData parameter error] no face found",
        apply_state=ApplyState.FAILED,
        apply_error="Main entrance: 0x1f offline",
    )
    hold = AccessHold.objects.create(visitor=visitor, reason="Проверка", created_by=security)
    return {"visit": visit, "work": work, "person": person, "hold": hold}


def test_the_work_list_shows_what_operators_need(admin_client: Client, rows: dict) -> None:
    visitor = rows["visit"].visitor
    html = admin_client.get(reverse("admin:access_accesswork_changelist")).content.decode()

    assert visitor.person_code in html
    assert reverse("admin:visitors_visitor_change", args=[visitor.pk]) in html
    assert "grant" in html
    assert "failed" in html
    assert "org_missing HCP has no organisation named" in html
    assert 'value="retry"' in html
    assert 'value="cancel"' in html
    assert visitor.family_name not in html  # the list names people by code, not by name

    for query in ({"state__exact": "failed"}, {"priority__exact": str(WorkPriority.GRANT)}):
        filtered = admin_client.get(reverse("admin:access_accesswork_changelist"), query)
        assert visitor.person_code in filtered.content.decode()
    pending = admin_client.get(
        reverse("admin:access_accesswork_changelist"), {"state__exact": "pending"}
    )
    assert visitor.person_code not in pending.content.decode()


@pytest.mark.parametrize(
    ("model", "key"),
    [("accesswork", "work"), ("hcpperson", "person"), ("accesshold", "hold")],
)
def test_the_engine_rows_are_read_only(
    admin_client: Client, rows: dict, model: str, key: str
) -> None:
    obj = rows[key]
    change = reverse(f"admin:access_{model}_change", args=[obj.pk])

    assert admin_client.get(reverse(f"admin:access_{model}_changelist")).status_code == 200
    page = admin_client.get(change)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert 'name="person_code"' not in html
    assert 'name="reason"' not in html
    assert admin_client.get(reverse(f"admin:access_{model}_add")).status_code == 403
    deleted = reverse(f"admin:access_{model}_delete", args=[obj.pk])
    assert admin_client.post(deleted, {"post": "yes"}).status_code == 403
    assert admin_client.post(change, {}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_hcp_person_page_shows_the_refusal_and_the_devices(
    admin_client: Client, rows: dict
) -> None:
    person = rows["person"]
    listed = admin_client.get(reverse("admin:access_hcpperson_changelist")).content.decode()
    assert "rejected" in listed
    assert "1, 3" in listed

    html = admin_client.get(
        reverse("admin:access_hcpperson_change", args=[person.pk])
    ).content.decode()
    assert "no face found" in html
    assert "Main entrance: 0x1f offline" in html


def test_the_hold_list_shows_active_and_released_holds(admin_client: Client, rows: dict) -> None:
    url = reverse("admin:access_accesshold_changelist")
    assert "Проверка" in admin_client.get(url, {"released_at__isempty": "1"}).content.decode()
    assert "Проверка" not in admin_client.get(url, {"released_at__isempty": "0"}).content.decode()
