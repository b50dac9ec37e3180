"""Invitation pages: the public link (no login) and the staff pages."""

from __future__ import annotations

import os
import re
import stat
import uuid
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from propusk.invitations.models import Invitation, InvitationKind
from propusk.invitations.services import revoke_invitation
from propusk.visitors import forms as visitor_forms
from propusk.visitors import pending_photos, photos
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitStatus
from tests.factories import make_iin, make_jpeg, make_visitor

pytestmark = pytest.mark.django_db


def public_url(invitation: Invitation) -> str:
    return reverse("invitations:public", args=[invitation.token])


def form_data(**overrides):
    values = {
        "family_name": "Nurlanova",
        "given_name": "Dana",
        "middle_name": "",
        "phone": "+7 701 555 44 33",
        "email": "dana@example.org",
        "national_id": make_iin(),
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
        "photo": SimpleUploadedFile("me.jpg", make_jpeg(), content_type="image/jpeg"),
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


# --- Public page ----------------------------------------------------------------------


def test_public_page_opens_without_login(client, single_invitation, host):
    response = client.get(public_url(single_invitation))
    assert response.status_code == 200
    html = response.content.decode()
    assert host.get_full_name() in html
    assert "Thesis defence" in html
    assert "the host will confirm the time" in html
    assert 'capture="user"' in html
    assert "Consent to the processing of personal data" in html
    assert re.search(r'name="submission_token" value="[0-9a-f-]{36}"', html)
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]


def test_public_page_shows_the_fixed_time(client, timed_invitation, window):
    html = client.get(public_url(timed_invitation)).content.decode()
    assert window[0].strftime("%d.%m.%Y") in html
    assert "the host will confirm the time" not in html


def test_submit_without_time_gives_pending_visit_and_thanks(client, single_invitation):
    response = client.post(public_url(single_invitation), form_data())
    assert response.status_code == 200
    assert "Thank you, Dana!" in response.content.decode()
    assert "will confirm the time" in response.content.decode()
    visit = Visit.objects.get()
    assert visit.status == VisitStatus.PENDING
    assert visit.visitor.family_name == "Nurlanova"
    assert visit.visitor.phone == "+77015554433"
    assert visit.visitor.photo


def test_submit_with_time_gives_awaiting_visit(client, timed_invitation):
    response = client.post(public_url(timed_invitation), form_data())
    assert response.status_code == 200
    assert Visit.objects.get().status == VisitStatus.AWAITING


def test_group_link_used_by_several_visitors(client, group_invitation):
    for name in ("Abenova", "Bekova"):
        response = client.post(public_url(group_invitation), form_data(family_name=name))
        assert response.status_code == 200
    visits = Visit.objects.filter(group=group_invitation.group)
    assert sorted(v.visitor.family_name for v in visits) == ["Abenova", "Bekova"]


def test_double_submit_gives_one_visit(client, single_invitation):
    token = str(uuid.uuid4())
    iin = make_iin()
    for _ in range(2):
        response = client.post(
            public_url(single_invitation), form_data(submission_token=token, national_id=iin)
        )
        assert response.status_code == 200
        assert "Thank you" in response.content.decode()
    assert Visit.objects.count() == 1
    single_invitation.refresh_from_db()
    assert single_invitation.uses_count == 1


def test_bad_photo_keeps_typed_values_and_creates_nothing(client, single_invitation):
    bad = SimpleUploadedFile("me.jpg", b"not a photo at all", content_type="image/jpeg")
    response = client.post(public_url(single_invitation), form_data(photo=bad))
    assert response.status_code == 400
    html = response.content.decode()
    assert "not a photo we can read" in html
    assert 'value="Nurlanova"' in html
    assert 'value="dana@example.org"' in html
    assert not Visitor.objects.exists()
    assert not Visit.objects.exists()


def test_bad_iin_keeps_values_and_the_photo(client, single_invitation):
    data = form_data(national_id="123456789012")
    token = data["submission_token"]
    response = client.post(public_url(single_invitation), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "not valid" in html
    assert 'value="Nurlanova"' in html
    assert "Photo received" in html
    assert f'value="{token}"' in html  # the same submission token again
    assert not Visitor.objects.exists()
    photo_token = re.search(r'name="photo_token" value="([^"]+)"', html).group(1)

    fixed = form_data(national_id=make_iin(), photo=None, photo_token=photo_token)
    fixed["submission_token"] = token
    response = client.post(public_url(single_invitation), fixed)
    assert response.status_code == 200, response.content.decode()
    assert Visit.objects.get().visitor.photo


def test_unknown_link_is_404(client):
    response = client.get(reverse("invitations:public", args=["no-such-token"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_used_link_is_410(client, single_invitation):
    client.post(public_url(single_invitation), form_data())
    response = client.get(public_url(single_invitation))
    assert response.status_code == 410
    html = response.content.decode()
    assert "already been used" in html
    assert "Nurlanova" not in html  # nothing about the visitor who used it

    response = client.post(public_url(single_invitation), form_data(family_name="Second"))
    assert response.status_code == 410
    assert Visit.objects.count() == 1


def test_expired_link_is_410_and_creates_nothing(client, single_invitation):
    with time_machine.travel(single_invitation.expires_at + timedelta(minutes=1)):
        assert client.get(public_url(single_invitation)).status_code == 410
        response = client.post(public_url(single_invitation), form_data())
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not Visitor.objects.exists()


def test_revoked_link_is_410_and_creates_nothing(client, single_invitation, host):
    revoke_invitation(invitation=single_invitation, actor=host)
    assert client.get(public_url(single_invitation)).status_code == 410
    assert client.post(public_url(single_invitation), form_data()).status_code == 410
    assert not Visitor.objects.exists()


def test_language_can_be_switched_without_login(client, single_invitation):
    response = client.post(
        reverse("set_language"), {"language": "ru", "next": public_url(single_invitation)}
    )
    assert response.status_code == 302
    assert response["Location"] == public_url(single_invitation)


# --- A closed link reads no photo; faces are private files -----------------------------


@pytest.fixture
def photo_spies(monkeypatch):
    """Every attempt to process a photo: the module function (under both names it is
    imported by), a kept photo being loaded, and Pillow opening anything."""
    calls: list[str] = []

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    normalize = photos.normalize_face_photo
    monkeypatch.setattr(photos, "normalize_face_photo", spy("normalize_face_photo", normalize))
    monkeypatch.setattr(
        visitor_forms, "normalize_face_photo", spy("normalize_face_photo", normalize)
    )
    monkeypatch.setattr(pending_photos, "load", spy("pending_photos.load", pending_photos.load))
    monkeypatch.setattr(Image, "open", spy("Image.open", Image.open))
    return calls


def _close(client, invitation, how, host):
    if how == "used":
        response = client.post(public_url(invitation), form_data(family_name="Касымов"))
        assert response.status_code == 200
    elif how == "revoked":
        revoke_invitation(invitation=invitation, actor=host)


def _at(how, invitation):
    if how == "expired":
        return time_machine.travel(invitation.expires_at + timedelta(minutes=1))
    return nullcontext()


CLOSED_MESSAGES = {
    "used": "already been used",
    "revoked": "withdrawn",
    "expired": "expired",
}


@pytest.mark.parametrize("how", ["used", "revoked", "expired"])
def test_a_photo_sent_to_a_closed_link_is_refused_unread(
    client, single_invitation, host, photo_spies, how
):
    _close(client, single_invitation, how, host)
    visitors_before = Visitor.objects.count()
    photo_spies.clear()
    with _at(how, single_invitation):
        response = client.post(public_url(single_invitation), form_data(family_name="Оспанов"))
    assert response.status_code == 410
    assert CLOSED_MESSAGES[how] in response.content.decode()
    assert photo_spies == []
    assert Visitor.objects.count() == visitors_before


def test_a_photo_sent_to_an_unknown_link_is_refused_unread(client, photo_spies):
    response = client.post(reverse("invitations:public", args=["no-such-token"]), form_data())
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    assert photo_spies == []
    assert not Visitor.objects.exists()


def test_a_body_over_the_request_limit_is_refused_unread_with_its_file(
    client, single_invitation, photo_spies, settings
):
    """Django does not count a multipart form's files against DATA_UPLOAD_MAX_MEMORY_SIZE:
    without core.uploads anyone could stream a file of any size to the open page (a
    temporary file on disk) before the view looks at it."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    padded = make_jpeg() + b"\0" * (100 * 1024)  # a readable JPEG, trailing bytes ignored
    photo = SimpleUploadedFile("me.jpg", padded, content_type="image/jpeg")
    response = client.post(public_url(single_invitation), form_data(photo=photo))
    assert response.status_code == 400
    assert "too large" in response.content.decode()  # templates/400.html, not a bare line
    assert photo_spies == []
    assert not Visitor.objects.exists()
    single_invitation.refresh_from_db()
    assert single_invitation.uses_count == 0
    # Within the limit, the same photo registers the visitor.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    photo.seek(0)
    response = client.post(public_url(single_invitation), form_data(photo=photo))
    assert response.status_code == 200
    assert Visit.objects.count() == 1


def _kept_photos() -> set[Path]:
    directory = Path(settings.MEDIA_ROOT) / "faces-pending"
    return set(directory.glob("*.jpg")) if directory.exists() else set()


@pytest.mark.parametrize("how", ["used", "revoked", "expired"])
def test_a_kept_photo_sent_to_a_closed_link_is_deleted_unread(
    client, single_invitation, host, photo_spies, how
):
    url = public_url(single_invitation)
    # Expiring within the kept photo's hour, so that its token is still good.
    Invitation.objects.filter(pk=single_invitation.pk).update(
        expires_at=timezone.now() + timedelta(minutes=10)
    )
    single_invitation.refresh_from_db()
    before = _kept_photos()
    html = client.post(url, form_data(national_id="123456789012")).content.decode()
    photo_token = re.search(r'name="photo_token" value="([^"]+)"', html).group(1)
    (kept,) = _kept_photos() - before
    _close(client, single_invitation, how, host)  # meanwhile, the link closed
    photo_spies.clear()
    with _at(how, single_invitation):
        response = client.post(url, form_data(photo=None, photo_token=photo_token))
    assert response.status_code == 410
    assert CLOSED_MESSAGES[how] in response.content.decode()
    assert photo_spies == []
    assert not kept.exists()  # a face that can no longer be used is not kept


def test_the_same_form_sent_again_to_its_used_link_is_thanked_unread(
    client, single_invitation, photo_spies
):
    data = form_data(given_name="Айгерим")
    assert client.post(public_url(single_invitation), data).status_code == 200
    photo_spies.clear()
    again = form_data(given_name="Айгерим", submission_token=data["submission_token"])
    response = client.post(public_url(single_invitation), again)
    assert response.status_code == 200
    assert "Thank you, Айгерим!" in response.content.decode()
    assert photo_spies == []
    assert Visit.objects.count() == 1


@pytest.fixture
def open_umask():
    """The most permissive umask: the modes must not depend on the process's."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_registered_face_is_0600_in_0700_directories_whatever_the_umask(
    client, single_invitation, open_umask
):
    faces = Path(Visitor._meta.get_field("photo").storage.location)
    if faces.exists():
        faces.chmod(0o755)  # as an older version left it: fixed at the next save
    response = client.post(public_url(single_invitation), form_data())
    assert response.status_code == 200
    path = Path(Visit.objects.get().visitor.photo.path)
    assert path.parent.parent == faces
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert _mode(faces) == 0o700


def test_a_photo_kept_for_a_form_is_0600_in_a_0700_directory_whatever_the_umask(
    client, single_invitation, open_umask
):
    directory = Path(settings.MEDIA_ROOT) / "faces-pending"
    if directory.exists():
        directory.chmod(0o755)  # as an older version may have left it
    before = _kept_photos()
    response = client.post(public_url(single_invitation), form_data(national_id="123456789012"))
    assert response.status_code == 400
    assert "Photo received" in response.content.decode()
    (kept,) = _kept_photos() - before
    assert _mode(kept) == 0o600
    assert _mode(directory) == 0o700


# --- Staff pages ----------------------------------------------------------------------


def test_host_lists_only_own_invitations(client, host, other_host, guest_policy, single_invitation):
    from propusk.invitations.services import create_invitation

    create_invitation(
        host=other_host,
        actor=other_host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Bob's secret meeting",
        department=None,
    )
    client.force_login(host)
    html = client.get(reverse("invitations:list")).content.decode()
    assert "Thesis defence" in html
    assert "secret meeting" not in html
    assert single_invitation.token in html  # the copyable link


def test_host_cannot_see_another_hosts_invitation(client, other_host, single_invitation):
    client.force_login(other_host)
    detail = reverse("invitations:detail", args=[single_invitation.pk])
    assert client.get(detail).status_code == 404
    revoke = reverse("invitations:revoke", args=[single_invitation.pk])
    assert client.post(revoke).status_code == 404
    single_invitation.refresh_from_db()
    assert single_invitation.revoked_at is None


def test_detail_lists_the_visits_registered_through_it(client, host, single_invitation):
    client.post(public_url(single_invitation), form_data())
    client.force_login(host)
    response = client.get(reverse("invitations:detail", args=[single_invitation.pk]))
    assert response.status_code == 200
    assert "Nurlanova Dana" in response.content.decode()


@pytest.mark.parametrize("fixture", ["timed_invitation", "group_invitation"])
def test_reception_sees_no_name_of_a_visit_it_cannot_open(client, request, reception, fixture):
    """Tomorrow's visits are outside reception's list: the link's page counts them, never
    names them (the review found the name shown beside a visit reception could not open)."""
    invitation = request.getfixturevalue(fixture)
    client.post(public_url(invitation), form_data())
    visit = Visit.objects.get()
    client.force_login(reception)
    assert client.get(reverse("visits:detail", args=[visit.pk])).status_code == 404
    page = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()
    assert "Nurlanova" not in page
    assert "A visitor (not in your list)" in page
    assert reverse("visits:detail", args=[visit.pk]) not in page


@pytest.mark.parametrize("persona", ["security", "no_role_user"])
def test_security_and_no_role_are_refused(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("invitations:list")).status_code == 403
    assert client.get(reverse("invitations:create")).status_code == 403
    assert client.post(reverse("invitations:create"), {}).status_code == 403


def test_anonymous_staff_pages_need_login(client):
    response = client.get(reverse("invitations:list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_host_creates_an_invitation(client, host, guest_policy):
    client.force_login(host)
    page = client.get(reverse("invitations:create"))
    assert page.status_code == 200
    assert 'name="host"' not in page.content.decode()  # a host invites for themselves
    response = client.post(
        reverse("invitations:create"),
        {"kind": "single", "purpose": "Lab tour", "access_policy": guest_policy.pk, "max_uses": 1},
    )
    invitation = Invitation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("invitations:detail", args=[invitation.pk])
    assert invitation.host == host
    assert invitation.planned_start is None


def test_group_without_time_shows_the_error_on_the_form(client, host, guest_policy):
    client.force_login(host)
    response = client.post(
        reverse("invitations:create"),
        {"kind": "group", "purpose": "Open day", "access_policy": guest_policy.pk, "max_uses": 30},
    )
    assert response.status_code == 400
    assert "needs the time" in response.content.decode()
    assert not Invitation.objects.exists()


def test_reception_creates_a_group_invitation_for_a_host(
    client, reception, host, guest_policy, window
):
    client.force_login(reception)
    response = client.post(
        reverse("invitations:create"),
        {
            "kind": "group",
            "host": host.pk,
            "purpose": "Open day",
            "access_policy": guest_policy.pk,
            "planned_start": window[0].strftime("%Y-%m-%dT%H:%M"),
            "planned_end": window[1].strftime("%Y-%m-%dT%H:%M"),
            "group_name": "School No. 7",
            "max_uses": 25,
        },
    )
    assert response.status_code == 302, response.content.decode()
    invitation = Invitation.objects.get()
    assert invitation.host == host
    assert invitation.group.name == "School No. 7"
    assert invitation.max_uses == 25


def test_host_withdraws_the_link(client, host, single_invitation):
    client.force_login(host)
    response = client.post(reverse("invitations:revoke", args=[single_invitation.pk]))
    assert response.status_code == 302
    single_invitation.refresh_from_db()
    assert single_invitation.revoked_at is not None
    assert client.get(reverse("invitations:revoke", args=[single_invitation.pk])).status_code == 405


def test_thanks_page_does_not_reveal_a_returning_visitors_stored_name(client, single_invitation):
    # Anyone holding a link could type somebody's IIN: the stored identity is kept, and the
    # page must not tell them whose number it is.
    iin = make_iin()
    make_visitor(national_id=iin, given_name="Gulnara", family_name="Sagintayeva")
    response = client.post(
        public_url(single_invitation), form_data(national_id=iin, given_name="Prober")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Gulnara" not in html
    assert "Sagintayeva" not in html
    assert "Thank you, Prober!" in html
