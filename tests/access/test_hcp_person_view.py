"""The HikCentral view of a person, for administrators, against the real HCP simulator over
HTTP: what HCP holds beside what Propusk wants, drift named and repaired with one action,
persons outside our organisation not shown, other roles refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.access.models import AccessWork, WorkPriority
from propusk.access.reconciler import ReconcileResult
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit

from .conftest import ENTRANCE, GUEST_LEVEL, STAFF_ORG, hcp_person, signed_in
from .test_sync import by_hand, stranger

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]
URL = reverse("access:hcp_person")


def look(client, q: str, by: str = "code", **extra: str) -> str:
    response = client.post(URL, {"q": q, "by": by, **extra}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_person_in_step_then_edited_by_hand_is_shown_and_repaired(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    hcp: HikCentralClient,
    admin_user: User,
) -> None:
    visit = register(family_name="Сейткали", given_name="Ерлан")
    code = visit.visitor.person_code
    drain()
    confirm()
    admin = signed_in(admin_user)

    body = look(admin, code)
    assert "HikCentral holds what Propusk wants." in body
    assert hcp_person(site, code)["personId"] in body
    assert GUEST_LEVEL in body

    # Someone removes the access level and cuts the validity in HCP's own client.
    person_id = hcp.get_person_by_code(code).person_id
    hcp.delete_persons_from_access_level(GUEST_LEVEL, [person_id])
    info = hcp.get_person_by_code(code)
    assert info.end_time is not None
    by_hand(
        hcp,
        code,
        end_time=info.end_time.replace(microsecond=0) - (info.end_time - info.begin_time) / 2,
    )

    body = look(admin, code, by="code")
    assert "Access levels missing in HCP: 1" in body
    assert "The validity in HCP differs from the visits&#x27; windows." in body

    body = look(admin, code, repair=code, reason="Изменено вручную в HCP")
    assert "queued" in body
    assert AccessWork.objects.filter(person_code=code).exists()
    drain()
    confirm()
    assert "HikCentral holds what Propusk wants." in look(admin, code)
    assert site.control.passage(ENTRANCE, person_code=code).granted
    assert AuditEntry.objects.filter(actor=admin_user, action="access.resync").exists()


def test_found_by_id_and_by_name_and_reached_from_the_visit_page(
    register: Register, drain: Drain, hcp: HikCentralClient, admin_user: User
) -> None:
    visit = register(family_name="Жаксылыкова", given_name="Мадина")
    code = visit.visitor.person_code
    drain()
    admin = signed_in(admin_user)
    person_id = hcp.get_person_by_code(code).person_id

    assert f'id="person-{code}"' in look(admin, person_id, by="id")
    assert f'id="person-{code}"' in look(admin, "мадина жаксы", by="name")
    page = admin.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    link = f"{URL}?code={code}"
    assert link in page
    assert f'id="person-{code}"' in admin.get(link).content.decode()


def test_persons_outside_our_organisation_are_not_shown(
    site: SimulatorHandle, hcp: HikCentralClient, admin_user: User
) -> None:
    employee_id = stranger(hcp, "E1001", STAFF_ORG, level=GUEST_LEVEL)
    admin = signed_in(admin_user)

    body = look(admin, employee_id, by="id")
    assert "This person is not in our organisation." in body
    assert "Zhaksylykova" not in body
    body = look(admin, "E1001")
    assert "outside our organisation" in body
    assert "repair" not in body.split("</form>", 1)[1]  # no repair form for it


def test_a_person_of_ours_with_no_visitor_is_repaired_by_a_revocation(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, admin_user: User
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    confirm()
    # The visitor row goes (as when an identity is merged at the desk) but HCP still has it.
    visit.delete()
    visit.visitor.delete()
    admin = signed_in(admin_user)

    body = look(admin, code)
    assert "No visitor of ours has this code: no access." in body
    assert "HCP gives access that no visit gives now." in body
    look(admin, code, repair=code, reason="Посетитель удалён")
    assert AccessWork.objects.get(person_code=code).priority == WorkPriority.REVOKE
    drain()
    confirm()
    assert not site.control.passage(ENTRANCE, person_code=code).granted


def test_a_repair_without_a_reason_changes_nothing(
    register: Register, drain: Drain, admin_user: User
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    before = list(AccessWork.objects.values())
    body = look(signed_in(admin_user), code, repair=code, reason="")
    assert "This field is required." in body
    assert list(AccessWork.objects.values()) == before


def test_only_administrators_may_open_it(
    site: SimulatorHandle, security: User, reception: User, host: User
) -> None:
    for user in (security, reception, host):
        client = signed_in(user)
        assert client.get(URL).status_code == 403
        assert client.post(URL, {"q": "V1", "by": "code"}).status_code == 403
