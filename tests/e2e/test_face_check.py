"""The face check in real Chromium: a picture without a usable face is refused on the desk
page and on the public page, in the page's language, and a real portrait goes through."""

from __future__ import annotations

import os

import pytest

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests import faces
from tests.e2e.conftest import choose_host

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _face_check_on(settings):
    settings.FACE_CHECK = True


def _file(content: bytes) -> dict[str, object]:
    return {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": content}


def test_the_desk_page_refuses_a_blue_square_then_takes_a_face(
    login, reception, host, guest_policy
):
    page = login(reception)
    page.goto("/visits/register/")
    choose_host(page, "Alice Testova")
    page.check("input[name=mode][value=now]")
    page.fill("[name$=family_name]", "Нурланова")
    page.fill("[name$=given_name]", "Айгерим")
    page.fill("[name$=phone]", "+7 701 234 56 78")
    page.set_input_files("input[type=file][name$=photo]", _file(faces.blue_square_jpeg()))
    page.check("input[type=checkbox][name$=consent]")
    page.get_by_role("button", name="Register", exact=True).click()

    error = page.locator(".photo-field .errorlist")
    expect(error).to_contain_text("We cannot find a face in this photo")
    expect(page.locator("[name$=family_name]")).to_have_value("Нурланова")
    assert not Visitor.objects.exists()

    page.set_input_files("input[type=file][name$=photo]", _file(faces.portrait_jpeg()))
    page.check("input[type=checkbox][name$=consent]")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator(".msg-success")).to_contain_text("Нурланова Айгерим")
    assert Visit.objects.count() == 1


def test_the_public_page_refuses_two_faces_in_russian(new_page, host, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Защита диссертации",
        department=None,
    )
    page = new_page(phone=True, locale="ru-RU")
    page.goto(f"/invitations/i/{invitation.token}/")
    page.fill("[name=family_name]", "Сейткали")
    page.fill("[name=given_name]", "Ерлан")
    page.fill("[name=phone]", "+7 701 555 44 33")
    page.set_input_files("input[type=file][name=photo]", _file(faces.two_faces_jpeg()))
    page.check("input[type=checkbox][name=consent]")
    page.get_by_role("button", name="Отправить").click()

    expect(page.locator(".photo-field .errorlist")).to_contain_text("больше одного лица")
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
