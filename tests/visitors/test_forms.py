# Russian and Kazakh names next to invisible characters look confusable to ruff: they are meant.
# ruff: noqa: RUF001

"""VisitorForm: validation, normalisation and keeping an accepted photo across errors."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.urls import reverse

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors import pending_photos
from propusk.visitors.forms import VisitorForm, normalize_phone
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.factories import make_iin, make_jpeg

IIN = make_iin()


def _data(prefix: str = "", **overrides: str) -> dict[str, str]:
    values = {
        "family_name": " Ivanova ",
        "given_name": "Aigerim",
        "middle_name": "",
        "phone": "+7 (701) 234-56-78",
        "email": "guest@example.org",
        "national_id": IIN,
        "consent": "on",
    }
    values.update(overrides)
    return {(f"{prefix}-{k}" if prefix else k): v for k, v in values.items()}


def _photo(prefix: str = "", data: bytes | None = None) -> dict[str, SimpleUploadedFile]:
    key = f"{prefix}-photo" if prefix else "photo"
    return {key: SimpleUploadedFile("me.jpg", data or make_jpeg(), content_type="image/jpeg")}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+7 701 234 56 78", "+77012345678"),
        ("8 (701) 234-56-78", "87012345678"),
        ("+49.30.1234567", "+49301234567"),
    ],
)
def test_phone_is_normalised(typed, expected):
    assert normalize_phone(typed) == expected


@pytest.mark.parametrize("typed", ["12345", "+7 701 abc 56 78", "1" * 16, "++77012345678"])
def test_bad_phone_is_refused(typed):
    with pytest.raises(Exception, match="10 to 15 digits"):
        normalize_phone(typed)


def test_valid_form_gives_visitor_data():
    form = VisitorForm(_data(), _photo())
    assert form.is_valid(), form.errors
    data = form.to_visitor_data()
    assert data.family_name == "Ivanova"
    assert data.phone == "+77012345678"
    assert data.national_id == IIN
    assert data.consent is True
    assert data.photo_jpeg is not None
    assert data.photo_jpeg[:2] == b"\xff\xd8"
    assert IIN not in repr(data)


def test_national_id_optional_by_default_and_required_on_request():
    assert VisitorForm(_data(national_id=""), _photo()).is_valid()
    form = VisitorForm(_data(national_id=""), _photo(), national_id_required=True)
    assert not form.is_valid()
    assert "national_id" in form.errors


def test_bad_iin_is_an_error_on_the_field():
    form = VisitorForm(_data(national_id="123456789012"), _photo())
    assert not form.is_valid()
    assert "not valid" in form.errors["national_id"][0]


def test_consent_required():
    values = _data()
    del values["consent"]
    form = VisitorForm(values, _photo())
    assert not form.is_valid()
    assert "consent" in form.errors


def test_photo_required_unless_told_otherwise():
    form = VisitorForm(_data())
    assert not form.is_valid()
    assert "photo" in form.errors
    assert VisitorForm(_data(), photo_required=False).is_valid()


def test_bad_photo_is_an_error_on_the_field():
    form = VisitorForm(_data(), _photo(data=b"definitely not a photo"))
    assert not form.is_valid()
    assert "not a photo" in form.errors["photo"][0]
    assert not form.photo_received


def test_photo_widget_opens_the_front_camera():
    html = str(VisitorForm()["photo"])
    assert 'accept="image/*"' in html
    assert 'capture="user"' in html


def test_accepted_photo_survives_an_error_elsewhere():
    first = VisitorForm(_data(phone="123"), _photo())
    assert not first.is_valid()
    assert first.photo_received
    token = first.pending_photo_token
    assert token
    html = render_to_string("visitors/_visitor_fields.html", {"form": first})
    assert "Photo received" in html
    assert "data:image/jpeg;base64," in html
    assert f'value="{token}"' in html
    assert 'value="Ivanova"' in html or 'value=" Ivanova "' in html  # typed values kept

    second = VisitorForm(_data(photo_token=token))  # no new upload
    assert second.is_valid(), second.errors
    assert second.to_visitor_data().photo_jpeg == pending_photos.load(token)
    second.release_photo()
    assert pending_photos.load(token) is None


def test_new_upload_replaces_the_kept_photo():
    first = VisitorForm(_data(phone="123"), _photo())
    assert not first.is_valid()
    token = first.pending_photo_token
    second = VisitorForm(_data(photo_token=token), _photo(data=make_jpeg(color=(0, 0, 0))))
    assert second.is_valid()
    assert pending_photos.load(token) is None  # the earlier copy is gone


def test_forged_or_expired_token_asks_for_the_photo_again():
    first = VisitorForm(_data(phone="123"), _photo())
    first.is_valid()
    token = first.pending_photo_token
    forged = VisitorForm(_data(photo_token=token[:-2] + "xx"))
    assert not forged.is_valid()
    assert "expired" in forged.errors["photo"][0]
    expired = _expired_form(token)
    assert not expired.is_valid()
    assert "expired" in expired.errors["photo"][0]


def _expired_form(token: str) -> VisitorForm:
    with time_machine.travel(time.time() + pending_photos.MAX_AGE_SECONDS + 60, tick=False):
        form = VisitorForm(_data(photo_token=token))
        form.is_valid()
    return form


def test_sweep_deletes_old_pending_photos():
    first = VisitorForm(_data(phone="123"), _photo())
    first.is_valid()
    token = first.pending_photo_token
    assert pending_photos.sweep(max_age_seconds=-1) >= 1
    assert pending_photos.load(token) is None


def test_works_with_a_prefix():
    form = VisitorForm(_data("visitor"), _photo("visitor"), prefix="visitor")
    assert form.is_valid(), form.errors
    html = render_to_string("visitors/_visitor_fields.html", {"form": form})
    assert 'name="visitor-family_name"' in html
    assert 'name="visitor-photo_token"' in html

    broken = VisitorForm(_data("visitor", phone="1"), _photo("visitor"), prefix="visitor")
    assert not broken.is_valid()
    token = broken.pending_photo_token
    again = VisitorForm(_data("visitor", photo_token=token), prefix="visitor")
    assert again.is_valid(), again.errors


# --- Names: one rule on every page that takes them -----------------------------------------
# Invisible and direction-changing characters could make one name display as another; a name
# needs a letter. Checked over HTTP on the staff registration page and the public invitation
# page: refused with a message on the field, and nothing is created.

INVISIBLE_NAMES = {
    "right-to-left override": "\u202eвоннаИ",
    "zero-width space only": "\u200b",
    "zero-width joiner": "Иван\u200d",
    "soft hyphen only": "\u00ad",
    "isolates": "\u2066Иванов\u2069",
    "byte order mark": "\ufeffАйгерим",
    "left-to-right mark": "\u200eАхмет",
    "word joiner only": "\u2060\u2061\u2064",
    "left-to-right embedding": "\u202aЕрлан\u202c",
    "Hangul filler": "\u3164",
    "control character": "Ами\x07р",
}
NAMES_WITHOUT_A_LETTER = ["---", "12345", "' '", ". ."]
INVISIBLE_MESSAGE = "This contains invisible or control characters"
NO_LETTER_MESSAGE = "A name must contain at least one letter."


@pytest.fixture
def register(client, reception, host, guest_policy):
    client.force_login(reception)

    def post(**visitor: str) -> Any:
        names = {"family_name": "Сапарова", "given_name": "Әсел", "middle_name": ""}
        names.update(visitor)
        data = {
            "submission_token": str(uuid4()),
            "mode": "now",
            "kind": "guest",
            "duration": "60",
            "host": str(host.pk),
            "purpose": "Семинар",
            **{f"visitor-{key}": value for key, value in names.items()},
            "visitor-phone": "+7 701 234 56 78",
            "visitor-consent": "on",
            **_photo("visitor"),
        }
        return client.post(reverse("visits:register"), data)

    return post


@pytest.fixture
def invitation(host, guest_policy):
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Консультация",
        department=None,
    )


@pytest.fixture
def submit(client, invitation):
    def post(**visitor: str) -> Any:
        names = {"family_name": "Сапарова", "given_name": "Әсел", "middle_name": ""}
        names.update(visitor)
        data = {
            **names,
            "phone": "+7 701 555 44 33",
            "consent": "on",
            "submission_token": str(uuid4()),
            **_photo(),
        }
        return client.post(reverse("invitations:public", args=[invitation.token]), data)

    return post


def _nothing_registered():
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()


@pytest.mark.parametrize("field", ["family_name", "given_name", "middle_name"])
@pytest.mark.parametrize("name", INVISIBLE_NAMES.values(), ids=INVISIBLE_NAMES.keys())
def test_registration_page_refuses_invisible_characters_in_a_name(register, field, name):
    response = register(**{field: name})

    assert response.status_code == 400
    assert INVISIBLE_MESSAGE in response.content.decode()
    _nothing_registered()


@pytest.mark.parametrize("field", ["family_name", "given_name", "middle_name"])
@pytest.mark.parametrize("name", NAMES_WITHOUT_A_LETTER)
def test_registration_page_refuses_a_name_without_a_letter(register, field, name):
    response = register(**{field: name})

    assert response.status_code == 400
    assert NO_LETTER_MESSAGE in response.content.decode()
    _nothing_registered()


@pytest.mark.parametrize("field", ["family_name", "given_name", "middle_name"])
@pytest.mark.parametrize("name", INVISIBLE_NAMES.values(), ids=INVISIBLE_NAMES.keys())
def test_public_invitation_page_refuses_invisible_characters_in_a_name(
    submit, invitation, field, name
):
    response = submit(**{field: name})

    assert response.status_code == 400
    assert INVISIBLE_MESSAGE in response.content.decode()
    _nothing_registered()
    invitation.refresh_from_db()
    assert invitation.uses_count == 0


@pytest.mark.parametrize("name", NAMES_WITHOUT_A_LETTER)
def test_public_invitation_page_refuses_a_name_without_a_letter(submit, name):
    response = submit(family_name=name)

    assert response.status_code == 400
    assert NO_LETTER_MESSAGE in response.content.decode()
    _nothing_registered()


@pytest.mark.parametrize(
    ("family_name", "given_name", "middle_name"),
    [
        ("Өмірзақ", "Әлихан", "Нұрланұлы"),
        ("Қасымова", "Іңкәр", "Ғаниқызы"),
        ("Һадиева", "Үміт", ""),
        ("О'Нил", "Жан-Поль", ""),
        ("O\u2019Brien", "Mary Ann", ""),
        ("Сейт-Жанова", "Ғалия", "Серікқызы"),
    ],
)
def test_russian_kazakh_and_foreign_names_pass(register, family_name, given_name, middle_name):
    response = register(family_name=family_name, given_name=given_name, middle_name=middle_name)

    assert response.status_code == 302, response.content.decode()[:3000]
    visitor = Visitor.objects.get()
    assert (visitor.family_name, visitor.given_name, visitor.middle_name) == (
        family_name,
        given_name,
        middle_name,
    )


def test_names_are_stored_composed_and_single_spaced(submit):
    # "й" typed as "и" plus a combining breve; spaces of several kinds.
    response = submit(family_name="  Каи\u0306ырбаева\u00a0 \t Оспан ", given_name="Алёна")

    assert response.status_code == 200, response.content.decode()[:3000]
    visitor = Visitor.objects.get()
    assert visitor.family_name == "Ка\u0439ырбаева Оспан"
