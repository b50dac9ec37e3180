"""The face check (visitors.faces): one usable face, or a clear refusal and nothing stored.

Real portraits come from tests/faces.py (scikit-image's public-domain astronaut); the check is
off for the rest of the suite (tests/settings.py) and turned on here.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from PIL import Image

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.faces import Face, crop_box, find_faces
from propusk.visitors.models import Visitor
from propusk.visitors.photos import PhotoRejected, normalize_face_photo
from propusk.visits.models import Visit
from tests import faces
from tests.factories import make_iin

NO_FACE = "We cannot find a face in this photo"
TWO_FACES = "There is more than one face in this photo"
TOO_SMALL = "The face is too small in this photo"
BLURRED = "The face is blurred in this photo"


@pytest.fixture(autouse=True)
def _face_check_on(settings):
    settings.FACE_CHECK = True


@pytest.fixture(autouse=True)
def _english_after():
    # A page asked for in Russian leaves Russian active in this thread (LocaleMiddleware
    # activates, nothing deactivates): put English back for the tests that follow.
    with translation.override("en"):
        yield


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _refusal(data: bytes) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        normalize_face_photo(data)
    return caught.value


# --- The check itself -------------------------------------------------------------------


@pytest.mark.parametrize("portrait", [faces.portrait_jpeg, faces.large_portrait_jpeg])
def test_a_real_portrait_is_accepted_and_cropped_around_the_face(portrait):
    source = _open(portrait())
    result = _open(normalize_face_photo(portrait()))

    assert result.format == "JPEG"
    assert not result.info.get("progressive")
    assert "exif" not in result.info
    # Cropped: a 3:4 head-and-shoulders picture, smaller than the square original.
    assert result.width < source.width
    assert result.height < source.height
    assert result.height / result.width == pytest.approx(4 / 3, abs=0.02)
    assert min(result.size) >= django_settings.PHOTO_MIN_SIDE_PX
    # ...with the one face still in it, now filling a good part of the picture.
    (face,), _ = find_faces(result.convert("RGB"))
    assert face.width >= result.width * 0.35


@pytest.mark.parametrize(
    ("picture", "code", "message"),
    [
        (faces.blue_square_jpeg, "no_face", NO_FACE),
        (faces.landscape_jpeg, "no_face", NO_FACE),
        (faces.two_faces_jpeg, "several_faces", TWO_FACES),
        (faces.tiny_face_jpeg, "face_too_small", TOO_SMALL),
        (faces.blurred_face_jpeg, "face_blurred", BLURRED),
    ],
)
def test_pictures_that_are_not_one_usable_face_are_refused(picture, code, message):
    refusal = _refusal(picture())
    assert refusal.code == code
    assert refusal.messages[0].startswith(message)


def test_the_check_can_be_turned_off(settings):
    settings.FACE_CHECK = False
    result = _open(normalize_face_photo(faces.blue_square_jpeg()))
    assert result.size == (640, 640)  # normalised, not cropped


def test_a_face_turned_away_is_asked_to_look_into_the_camera(monkeypatch):
    # Only OpenCV's profile cascade sees a face: the message says how to fix the photo.
    from propusk.visitors import faces as face_module

    monkeypatch.setattr(face_module, "find_faces", lambda image: ([], [Face(100, 100, 150, 150)]))
    assert _refusal(faces.large_portrait_jpeg()).code == "face_not_frontal"


@pytest.mark.parametrize(
    ("size", "face", "box"),
    [
        # In the middle: twice the face wide, 4:3 high, the face in the upper half.
        ((1000, 1000), Face(400, 300, 200, 200), (300, 176, 700, 709)),
        # At the top left corner: moved into the picture, same size.
        ((1000, 1000), Face(0, 0, 200, 200), (0, 0, 400, 533)),
        # Filling a small picture: the whole height, as wide as the face.
        ((300, 300), Face(20, 20, 260, 260), (20, 0, 280, 300)),
        # A small face: never narrower than the smallest photo accepted (240 px).
        ((800, 600), Face(380, 200, 90, 90), (305, 111, 545, 431)),
        # A face close to a 16:9 camera: the whole height, and never narrower than the face.
        ((1024, 576), Face(260, 40, 500, 500), (260, 0, 760, 576)),
    ],
)
def test_crop_box(size, face, box):
    assert crop_box(size, face) == box


# --- On the pages: the message, and nothing stored ----------------------------------------


def _stored_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def _upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("face.jpg", content, content_type="image/jpeg")


def _desk_data(photo: bytes) -> dict[str, object]:
    return {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "duration": "60",
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": "Seminar",
        "visitor-family_name": "Нурланова",
        "visitor-given_name": "Айгерим",
        "visitor-phone": "+7 701 234 56 78",
        "visitor-national_id": make_iin(),
        "visitor-consent": "on",
        "visitor-photo": _upload(photo),
    }


@pytest.fixture
def desk(client, reception, host, guest_policy, time_machine):
    time_machine.move_to(datetime.fromisoformat("2030-03-12T10:00+06:00"), tick=False)
    client.force_login(reception)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("picture", "message"),
    [
        (faces.blue_square_jpeg, NO_FACE),
        (faces.two_faces_jpeg, TWO_FACES),
        (faces.blurred_face_jpeg, BLURRED),
    ],
)
def test_the_desk_page_refuses_a_picture_without_one_usable_face(desk, host, picture, message):
    before = _stored_files()
    data = _desk_data(picture())
    data["host"] = str(host.pk)
    response = desk.post(reverse("visits:register"), data)

    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Нурланова" in body  # what was typed stays
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
    assert _stored_files() == before


@pytest.mark.django_db
def test_the_desk_page_registers_a_real_face_cropped(desk, host):
    data = _desk_data(faces.large_portrait_jpeg())
    data["host"] = str(host.pk)
    response = desk.post(reverse("visits:register"), data)

    assert response.status_code == 302, response.context["form"].errors
    visitor = Visitor.objects.get()
    with visitor.photo.open("rb") as stored:
        kept = _open(stored.read())
    assert kept.size[0] < 1024
    assert kept.height / kept.width == pytest.approx(4 / 3, abs=0.02)


@pytest.mark.django_db
def test_the_group_member_page_refuses_a_picture_without_a_face(
    client, reception, host, vip_policy, time_machine
):
    time_machine.move_to(datetime.fromisoformat("2030-03-12T10:00+06:00"), tick=False)
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=vip_policy,
        purpose="Open day",
        department=None,
        planned_start=datetime.fromisoformat("2030-03-12T14:00+06:00"),
        planned_end=datetime.fromisoformat("2030-03-12T16:00+06:00"),
        max_uses=2,
        group_name="School No. 12",
    )
    client.force_login(reception)
    data = {
        key: value
        for key, value in _desk_data(faces.landscape_jpeg()).items()
        if key.startswith("visitor-") or key == "submission_token"
    }
    response = client.post(reverse("visits:register_member", args=[invitation.group.pk]), data)
    assert response.status_code == 400
    assert NO_FACE in response.content.decode()
    assert not Visit.objects.exists()


def _public_data(photo: bytes) -> dict[str, object]:
    return {
        "family_name": "Сейткали",
        "given_name": "Ерлан",
        "phone": "+7 701 555 44 33",
        "national_id": make_iin(),
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
        "photo": _upload(photo),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", NO_FACE),
        ("ru", "Мы не нашли лицо на этой фотографии"),
    ],
)
def test_the_public_page_refuses_a_non_face_in_the_visitors_language(
    client, host, guest_policy, language, message
):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    before = _stored_files()
    response = client.post(
        reverse("invitations:public", args=[invitation.token]),
        _public_data(faces.blue_square_jpeg()),
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
    assert _stored_files() == before

    accepted = client.post(
        reverse("invitations:public", args=[invitation.token]),
        _public_data(faces.portrait_jpeg()),
    )
    assert accepted.status_code in (200, 302)
    assert Visitor.objects.get().photo
