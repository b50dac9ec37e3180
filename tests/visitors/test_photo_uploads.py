"""Face photos as an attacker sends them, over HTTP, on every page that takes one.

The outside review's findings, page by page (the desk's registration page, a group's member
page, the public invitation page): the 8000 x 7999 PNG that drove the web process to 1.1 GB is
refused from its header (never decoded) with a clear message and nothing is created or kept;
JPEG and PNG comments, EXIF, XMP and ICC data never reach the stored face, which holds pixels
only; the stored face is a 0600 file in 0700 directories whatever the umask. How the photo
module does it is tested in test_photos.py; here only what comes back and what is on disk.
"""

from __future__ import annotations

import io
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageFile

from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.factories import make_iin
from tests.visitors.test_photos import (
    MARK,
    _jpeg_with_everything,
    _png_with_text_chunks,
    assert_pixels_only,
)
from tests.visits.conftest import NOW

PAGES = ["desk", "group_member", "public"]
BOMB_MESSAGE = (
    "The photo has too many pixels (8000 x 7999): a PNG photo may have at most 12 "
    "megapixels. Please use a normal camera photo."
)


@pytest.fixture
def frozen(time_machine: Any) -> Any:
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture(scope="module")
def reviews_png() -> bytes:
    """The review's file: an 8000 x 7999 PNG of a few hundred kilobytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (8000, 7999)).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) < 2_500_000  # well under the upload limit: only the pixels are many
    return data


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"{self.format} {self.size} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def _names() -> dict[str, str]:
    return {"family_name": "Жақсыбекова", "given_name": "Аружан", "middle_name": ""}


@pytest.fixture
def send(
    client: Any, frozen: Any, reception: Any, host: Any, guest_policy: Any
) -> Callable[..., Any]:
    """``send(photo, page)``: one registration with that photo on that page (a fresh IIN)."""

    def desk(photo: SimpleUploadedFile) -> Any:
        client.force_login(reception)
        data = {
            "submission_token": str(uuid.uuid4()),
            "mode": "later",
            "kind": "guest",
            "duration": "60",
            "host": str(host.pk),
            "planned_start": "2030-03-12T14:00",
            "planned_end": "2030-03-12T16:00",
            "purpose": "Семинар",
            **{f"visitor-{key}": value for key, value in _names().items()},
            "visitor-phone": "+7 701 234 56 78",
            "visitor-national_id": make_iin(),
            "visitor-consent": "on",
            "visitor-photo": photo,
        }
        return client.post(reverse("visits:register"), data)

    def group_member(photo: SimpleUploadedFile) -> Any:
        group = create_invitation(
            host=host,
            actor=reception,
            kind=InvitationKind.GROUP,
            access_policy=guest_policy,
            purpose="День открытых дверей",
            department=None,
            planned_start=NOW.replace(hour=14),
            planned_end=NOW.replace(hour=16),
            max_uses=5,
        ).group
        client.force_login(reception)
        data = {
            "submission_token": str(uuid.uuid4()),
            **{f"visitor-{key}": value for key, value in _names().items()},
            "visitor-phone": "+7 701 234 56 78",
            "visitor-national_id": make_iin(),
            "visitor-consent": "on",
            "visitor-photo": photo,
        }
        return client.post(reverse("visits:register_member", args=[group.pk]), data)

    def public(photo: SimpleUploadedFile) -> Any:
        invitation = create_invitation(
            host=host,
            actor=host,
            kind=InvitationKind.SINGLE,
            access_policy=guest_policy,
            purpose="Защита диссертации",
            department=None,
        )
        client.logout()
        data = {
            **_names(),
            "phone": "+7 701 555 44 33",
            "email": "",
            "national_id": make_iin(),
            "consent": "on",
            "submission_token": str(uuid.uuid4()),
            "photo": photo,
        }
        return client.post(reverse("invitations:public", args=[invitation.token]), data)

    pages = {"desk": desk, "group_member": group_member, "public": public}

    def post(
        data: bytes, page: str, name: str = "face.png", content_type: str = "image/png"
    ) -> Any:
        return pages[page](SimpleUploadedFile(name, data, content_type=content_type))

    return post


REGISTERED = {"desk": 302, "group_member": 302, "public": 200}


def _files(folder: str) -> set[Path]:
    directory = Path(settings.MEDIA_ROOT) / folder
    return (
        {path for path in directory.rglob("*") if path.is_file()} if directory.exists() else set()
    )


# --- The pixel bomb ----------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_the_reviews_8000_by_7999_png_is_refused_unread_and_nothing_is_created(
    send, reviews_png, no_decoding, page
):
    faces, pending = _files("faces"), _files("faces-pending")

    response = send(reviews_png, page)

    assert response.status_code == 400
    assert BOMB_MESSAGE in response.content.decode()
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()
    assert _files("faces") == faces
    assert _files("faces-pending") == pending  # a refused photo is not kept for the form


# --- Pixels only, private files ----------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("make", "name", "content_type"),
    [
        (_jpeg_with_everything, "face.jpg", "image/jpeg"),
        (_png_with_text_chunks, "face.png", "image/png"),
    ],
    ids=["jpeg-comment-exif-xmp-icc", "png-text-chunks-icc-exif"],
)
def test_the_stored_face_holds_pixels_only_in_a_private_file(
    send, open_umask, page, make, name, content_type
):
    source = make()
    assert MARK.encode() in source

    response = send(source, page, name, content_type)

    assert response.status_code == REGISTERED[page], response.content.decode()[:2000]
    visitor = Visitor.objects.get()
    path = Path(visitor.photo.path)
    stored = path.read_bytes()
    assert_pixels_only(stored)  # no COM, APP1 (EXIF, XMP), APP2 (ICC) - JFIF and pixels
    faces = Path(Visitor._meta.get_field("photo").storage.location)
    assert path.is_relative_to(faces)
    assert _mode(path) == 0o600
    for directory in (path.parent, faces):
        assert _mode(directory) == 0o700
    assert Visit.objects.get().visitor_id == visitor.pk


def test_a_refused_invitation_keeps_no_metadata_in_the_photo_kept_for_the_form(
    client, open_umask, host, guest_policy
):
    """A form with an error keeps the accepted photo for an hour: the kept copy is the
    normalised one (pixels only, 0600 in 0700), never the upload as sent."""
    invitation: Invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Защита диссертации",
        department=None,
    )
    before = _files("faces-pending")
    data = {
        **_names(),
        "phone": "+7 701 555 44 33",
        "email": "",
        "national_id": "123456789012",  # wrong check digit: the form comes back
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
        "photo": SimpleUploadedFile("face.jpg", _jpeg_with_everything(), "image/jpeg"),
    }

    response = client.post(reverse("invitations:public", args=[invitation.token]), data)

    assert response.status_code == 400
    (kept,) = _files("faces-pending") - before
    assert_pixels_only(kept.read_bytes())
    assert _mode(kept) == 0o600
    assert _mode(kept.parent) == 0o700
