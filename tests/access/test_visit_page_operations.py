"""Access by hand on the visit page, over HTTP against the real HCP simulator: security revokes
and restores from the visit page and the turnstile follows; each operation asks for a reason,
is offered only to the roles allowed it and only when it means something; refusals change
nothing; the card refreshes itself from its own URL while a change is on its way."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from hcp_simulator.testing import SimulatorHandle
from propusk.access.models import AccessHold, AccessWork
from propusk.access.reconciler import ReconcileResult
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit

from .conftest import ENTRANCE, distinct_face, hcp_person, photo_upload, signed_in

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]


def operate(client: Client, visit: Visit, operation: str, reason: str = "Пропуск утерян"):
    return client.post(
        reverse("access:operate", args=[visit.pk, operation]), {"reason": reason}, follow=True
    )


def page(client: Client, visit: Visit) -> str:
    return client.get(reverse("visits:detail", args=[visit.pk])).content.decode()


def offered(html: str) -> set[str]:
    """The operations whose forms the page shows."""
    return {
        op
        for op in ("revoke", "restore", "reenrol", "resync", "retry", "cancel")
        if f'data-operation="{op}"' in html
    }


def test_security_revokes_from_the_visit_page_and_restores(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, security: User
) -> None:
    visit = register(family_name="Жумабекова", given_name="Дана")
    code = visit.visitor.person_code
    drain()
    confirm()
    officer = signed_in(security)
    assert offered(page(officer, visit)) == {"revoke"}

    response = operate(officer, visit, "revoke", reason="Пропуск утерян")

    assert response.redirect_chain == [(reverse("visits:detail", args=[visit.pk]) + "#access", 303)]
    body = response.content.decode()
    assert "on its way to HikCentral" in body
    assert "data-settling" in body  # the card keeps refreshing until HikCentral confirms
    drain()
    confirm()
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    card = officer.get(reverse("access:card", args=[visit.pk])).content.decode()
    assert "data-settling" not in card
    assert "revoked by hand" in card
    assert "Пропуск утерян" in card
    assert offered(card) >= {"restore"}
    assert "revoke" not in offered(card)

    operate(officer, visit, "restore", reason="Пропуск нашёлся")
    drain()
    confirm()
    assert site.control.passage(ENTRANCE, person_code=code).granted
    assert hcp_person(site, code)["accessLevels"]
    actions = AuditEntry.objects.filter(actor=security).values_list("action", flat=True)
    assert {"access.revoked_now", "access.restored"} <= set(actions)


def test_a_missing_reason_or_an_id_number_in_it_changes_nothing(
    register: Register, drain: Drain, security: User
) -> None:
    visit = register()
    drain()
    officer = signed_in(security)
    entries = AuditEntry.objects.count()
    work_before = list(AccessWork.objects.values())

    for reason, message in (
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("ИИН 900101300015 утерян", "Do not put an ID number in the reason"),
    ):
        body = operate(officer, visit, "revoke", reason=reason).content.decode()
        assert message in body

    assert not AccessHold.objects.exists()
    assert list(AccessWork.objects.values()) == work_before
    assert AuditEntry.objects.count() == entries


def test_each_role_is_offered_only_what_it_may_do(
    register: Register,
    drain: Drain,
    reception: User,
    host: User,
    other_host: User,
    admin_user: User,
) -> None:
    visit = register()
    drain()

    assert offered(page(signed_in(admin_user), visit)) == {"revoke", "reenrol", "resync"}
    assert offered(page(signed_in(reception), visit)) == {"reenrol", "resync"}
    assert offered(page(signed_in(host), visit)) == set()

    # Refused over HTTP as well, and nothing changes.
    for user, expected in ((reception, 403), (host, 403), (other_host, 404)):
        response = signed_in(user).post(
            reverse("access:operate", args=[visit.pk, "revoke"]), {"reason": "проверка"}
        )
        assert response.status_code == expected, user
    assert not AccessHold.objects.exists()
    # The card's refresh URL is as private as the visit.
    assert signed_in(other_host).get(reverse("access:card", args=[visit.pk])).status_code == 404
    anonymous = Client().get(reverse("access:card", args=[visit.pk]))
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


def test_reception_resyncs_and_the_card_refreshes_until_confirmed(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, reception: User
) -> None:
    visit = register()
    drain()
    confirm()
    desk = signed_in(reception)

    body = operate(desk, visit, "resync", reason="Турникет не пускает").content.decode()

    assert "on its way to HikCentral" in body
    card = desk.get(reverse("access:card", args=[visit.pk])).content.decode()
    assert "Access: waiting for HikCentral." in card
    assert "data-settling" in card
    drain()
    confirm()
    card = desk.get(reverse("access:card", args=[visit.pk])).content.decode()
    assert "Access: active in HikCentral." in card
    assert "data-settling" not in card
    # Pressed again while nothing is queued: queued again; pressed twice: nothing more.
    operate(desk, visit, "resync")
    body = operate(desk, visit, "resync").content.decode()
    assert "nothing to do" in body


def test_an_unknown_operation_and_a_get_are_refused(
    register: Register, drain: Drain, admin_user: User
) -> None:
    visit = register()
    drain()
    client = signed_in(admin_user)
    url = reverse("access:operate", args=[visit.pk, "erase"])
    assert client.post(url, {"reason": "x"}).status_code == 404
    assert client.get(reverse("access:operate", args=[visit.pk, "revoke"])).status_code == 405
    assert not AccessHold.objects.exists()


def test_reception_reenrols_a_new_photo_and_the_turnstile_knows_the_new_face_only(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, reception: User
) -> None:
    visit = register(family_name="Ахметова", given_name="Сауле")
    drain()
    confirm()
    with visit.visitor.photo.open("rb") as stored:
        old_face = stored.read()
    assert site.control.passage(ENTRANCE, face_jpeg=old_face).granted
    desk = signed_in(reception)

    response = desk.post(
        reverse("access:operate", args=[visit.pk, "reenrol"]),
        {"reason": "Лицо плохо узнаётся", "photo": photo_upload(distinct_face(200))},
        follow=True,
    )

    assert "on its way to HikCentral" in response.content.decode()
    visit.visitor.refresh_from_db()
    with visit.visitor.photo.open("rb") as stored:
        new_face = stored.read()
    assert new_face != old_face
    drain()
    confirm()
    assert site.control.passage(ENTRANCE, face_jpeg=new_face).granted
    assert not site.control.passage(ENTRANCE, face_jpeg=old_face).granted
    entry = AuditEntry.objects.get(action="visitor.photo_replaced")
    assert entry.actor == reception


def test_a_picture_that_is_no_photo_changes_nothing(
    register: Register, drain: Drain, reception: User
) -> None:
    visit = register()
    drain()
    before = visit.visitor.photo.name
    work_before = list(AccessWork.objects.values())

    body = operate_with_file(signed_in(reception), visit, b"not a picture at all")

    assert "Re-enrol the face: " in body  # the refusal, as a message
    visit.visitor.refresh_from_db()
    assert visit.visitor.photo.name == before
    assert list(AccessWork.objects.values()) == work_before
    assert not AuditEntry.objects.filter(action="access.face_reenrol").exists()


def operate_with_file(client: Client, visit: Visit, content: bytes) -> str:
    upload = SimpleUploadedFile("face.jpg", content, content_type="image/jpeg")
    response = client.post(
        reverse("access:operate", args=[visit.pk, "reenrol"]),
        {"reason": "Новое фото", "photo": upload},
        follow=True,
    )
    return response.content.decode()
