# Russian reasons look like Latin ones to ruff's confusable check: they are meant.
"""Re-enrolling the face is offered, and done, only for a visit that gives access now or
later: not on a cancelled or checked-out visit's page (a button on an out-of-date page is
refused by the service with its message), and, from the admin's visitor list, not for a
visitor none of whose visits gives access any more. A refusal changes nothing."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.access import services
from propusk.access.models import AccessWork, HcpPerson
from propusk.audit.models import AuditEntry
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitStatus
from tests.factories import make_iin

from .conftest import signed_in

pytestmark = pytest.mark.django_db

Register = Callable[..., Visit]
GONE = "This visit gives no access any more (cancelled, checked out or over)"
NO_VISIT = "None of this visitor's visits gives access now or later"


def page(client: Client, visit: Visit) -> str:
    return client.get(reverse("visits:detail", args=[visit.pk])).content.decode()


def offers_reenrol(html: str) -> bool:
    return 'data-operation="reenrol"' in html


def reenrol(client: Client, visit: Visit) -> str:
    response = client.post(
        reverse("access:operate", args=[visit.pk, "reenrol"]),
        {"reason": "Лицо плохо узнаётся"},
        follow=True,
    )
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def snapshot() -> tuple[list[dict], list[dict], int]:
    return (
        list(AccessWork.objects.order_by("pk").values()),
        list(HcpPerson.objects.order_by("pk").values()),
        AuditEntry.objects.filter(action="access.face_reenrol").count(),
    )


@pytest.fixture
def later_visit(register: Register) -> Visit:
    """Planned for tomorrow at the desk: it will give access."""
    return register(
        family_name="Сейтжанова",
        given_name="Мадина",
        national_id=make_iin(),
        start=timezone.now() + timedelta(days=1),
    )


@pytest.mark.parametrize("ending", ["cancel", "check_out"])
def test_the_visit_page_offers_reenrol_only_while_the_visit_gives_access(
    register: Register, reception: User, admin_user: User, ending: str
) -> None:
    visit = register(family_name="Ахметова", given_name="Сауле", national_id=make_iin())
    desk = signed_in(reception)
    assert offers_reenrol(page(desk, visit))
    assert offers_reenrol(page(signed_in(admin_user), visit))

    if ending == "cancel":
        visit_services.cancel(visit=visit, actor=reception, reason="Встреча отменена")
    else:
        if visit.status != VisitStatus.CHECKED_IN:
            visit_services.check_in(visit=visit, actor=reception)
        visit_services.check_out(visit=visit, actor=reception)

    assert not offers_reenrol(page(desk, visit))
    assert not offers_reenrol(page(signed_in(admin_user), visit))
    assert "resync" in page(desk, visit)  # the rest of the card is still there


def test_reenrol_posted_from_an_out_of_date_page_is_refused_with_a_message(
    register: Register, reception: User
) -> None:
    visit = register(family_name="Бекова", given_name="Айжан", national_id=make_iin())
    visit_services.cancel(visit=visit, actor=reception, reason="Встреча отменена")
    before = snapshot()

    body = reenrol(signed_in(reception), visit)

    assert f"Re-enrol the face: {GONE}" in body
    assert snapshot() == before


def test_the_service_refuses_a_visit_without_access_even_if_another_visit_has_it(
    register: Register, reception: User, later_visit: Visit
) -> None:
    """Acting from a cancelled visit's page is refused although the visitor has another
    visit: the page's visit is what staff look at; the admin's list (no visit) may do it."""
    visitor = later_visit.visitor
    cancelled = Visit.objects.create(
        kind=later_visit.kind,
        status=VisitStatus.CANCELLED,
        visitor=visitor,
        host=later_visit.host,
        planned_start=timezone.now() - timedelta(hours=1),
        planned_end=timezone.now() + timedelta(hours=1),
        access_policy=later_visit.access_policy,
    )
    before = snapshot()
    with pytest.raises(ValidationError, match="gives no access any more"):
        services.reenrol_face(
            visitor=visitor, actor=reception, reason="Новое фото", visit=cancelled
        )
    assert snapshot() == before
    AccessWork.objects.all().delete()  # the registration's work done: the face goes again
    assert services.reenrol_face(visitor=visitor, actor=reception, reason="Новое фото") is True
    AccessWork.objects.all().delete()
    assert (
        services.reenrol_face(
            visitor=visitor, actor=reception, reason="Новое фото", visit=later_visit
        )
        is True
    )


def test_the_admin_list_refuses_a_visitor_whose_visits_are_all_over(
    register: Register, reception: User
) -> None:
    visit = register(family_name="Жумабаев", given_name="Ерлан", national_id=make_iin())
    if visit.status != VisitStatus.CHECKED_IN:
        visit_services.check_in(visit=visit, actor=reception)
    visit_services.check_out(visit=visit, actor=reception)
    reception.is_staff = True
    reception.save()
    reception.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    client = signed_in(reception)
    before = snapshot()

    body = html.unescape(
        client.post(
            reverse("admin:visitors_visitor_changelist"),
            {
                "action": "reenrol_face",
                "_selected_action": [str(visit.visitor_id)],
                "apply": "yes",
                "reason": "Повторная отправка",
            },
            follow=True,
        ).content.decode()
    )

    assert NO_VISIT in body
    assert snapshot() == before
