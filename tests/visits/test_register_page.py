"""The registration page: walk-in and planned visits, errors that keep the input, double submit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.conftest import PASSWORD
from tests.factories import make_iin, make_jpeg, make_visitor

from .conftest import NOW


def photo(content=None):
    return SimpleUploadedFile("face.jpg", content or make_jpeg(), content_type="image/jpeg")


def form_data(**overrides):
    data = {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "duration": "60",
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": "Seminar",
        "access_policy": "",
        "single_pass": "",
        "visitor-family_name": "Nurlanova",
        "visitor-given_name": "Aigerim",
        "visitor-phone": "+7 701 234 56 78",
        "visitor-consent": "on",
        "visitor-photo": photo(),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def post(client, frozen_now, guest_policy, student_policy):
    def as_user(user, data):
        assert client.login(username=user.username, password=PASSWORD)
        return client.post(reverse("visits:register"), data)

    return as_user


def _nothing_created():
    assert not Visit.objects.exists()
    assert not Visitor.objects.exists()


def test_page_is_a_multipart_form_with_a_phone_camera_input(client, reception, frozen_now):
    client.force_login(reception)
    body = client.get(reverse("visits:register")).content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'accept="image/*"' in body
    assert 'capture="user"' in body
    assert 'name="submission_token"' in body
    assert 'name="host"' in body
    assert 'type="datetime-local"' in body


def test_host_registers_a_planned_visit_for_themselves(post, host, other_host, guest_policy):
    response = post(host, form_data(host=str(other_host.pk)))  # a forged host is ignored

    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("visits:detail", args=[visit.pk])
    assert visit.host == host
    assert visit.created_by == host
    assert visit.status == VisitStatus.AWAITING
    assert visit.kind == VisitKind.GUEST
    assert visit.access_policy == guest_policy  # default by kind
    assert visit.planned_start == NOW.replace(hour=14)  # read as Almaty time
    assert visit.planned_end == NOW.replace(hour=16)
    assert visit.visitor.full_name == "Nurlanova Aigerim"
    assert visit.visitor.photo


def test_host_form_has_no_host_choice(client, host, frozen_now):
    client.force_login(host)
    assert 'name="host"' not in client.get(reverse("visits:register")).content.decode()


def test_reception_registers_a_walk_in(post, reception, host):
    response = post(
        reception,
        form_data(
            mode="now", host=str(host.pk), duration="120", planned_start=None, planned_end=None
        ),
    )
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert visit.host == host
    assert visit.planned_start == NOW
    assert visit.planned_end == NOW + timedelta(hours=2)
    assert visit.status == VisitStatus.AWAITING


def test_walk_in_with_an_end_time(post, reception, host):
    post(
        reception,
        form_data(
            mode="now", host=str(host.pk), planned_start=None, planned_end="2030-03-12T17:30"
        ),
    )
    assert Visit.objects.get().planned_end == NOW.replace(hour=17, minute=30)


def test_student_visit_uses_the_student_policy(post, reception, host, student_policy):
    post(
        reception,
        form_data(
            host=str(host.pk),
            kind="student",
            student_id="S-77",
            student_group="PH-21",
            course="3",
        ),
    )
    visit = Visit.objects.get()
    assert visit.kind == VisitKind.STUDENT
    assert visit.access_policy == student_policy
    assert visit.single_pass is True
    assert (visit.student_id, visit.student_group, visit.course) == ("S-77", "PH-21", 3)


def test_explicit_policy_and_single_pass(post, reception, host, vip_policy):
    post(
        reception, form_data(host=str(host.pk), access_policy=str(vip_policy.pk), single_pass="yes")
    )
    visit = Visit.objects.get()
    assert (visit.access_policy, visit.single_pass) == (vip_policy, True)


def test_student_fields_on_a_guest_visit_are_dropped(post, reception, host):
    post(reception, form_data(host=str(host.pk), student_id="S-1"))
    assert Visit.objects.get().student_id == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"planned_start": "2030-03-12T16:00", "planned_end": "2030-03-12T15:00"},
            "The visit must end after it starts.",
        ),
        (
            {"planned_start": "2030-03-12T08:00", "planned_end": "2030-03-12T09:00"},
            "already in the past",
        ),
        ({"planned_end": "2030-04-30T16:00"}, "at most 336 hours"),
        ({"planned_end": ""}, "Give the start and the end"),
        ({"planned_end": "32.13.2030 25:00"}, "Enter a date and time"),
        ({"host": "999999"}, "Choose a host from the list."),
        ({"host": "not-a-number"}, "Choose a host from the list."),
        ({"visitor-photo": SimpleUploadedFile("face.jpg", b"not an image")}, "photo"),
        ({"visitor-photo": None}, "Please add a photo of your face."),
        ({"visitor-national_id": "123"}, "IIN"),
        ({"visitor-consent": None}, "consent"),
        ({"course": "9", "kind": "student"}, "less than or equal to 7"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(post, reception, host, overrides, message):
    data = form_data(host=str(host.pk))
    data.update(overrides)
    data = {key: value for key, value in data.items() if value is not None}

    response = post(reception, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    _nothing_created()


@pytest.mark.parametrize("who", ["no_role_user", "security", "reception"])
def test_a_host_who_cannot_host_is_refused(post, reception, request, who):
    user = request.getfixturevalue(who)
    response = post(reception, form_data(host=str(user.pk)))
    assert response.status_code == 400
    assert "Choose a host from the list." in response.content.decode()
    _nothing_created()


def test_errors_keep_what_was_typed_and_the_photo(post, client, reception, host):
    data = form_data(host=str(host.pk), planned_end="2030-03-12T13:00")  # before the start
    response = post(reception, data)
    body = response.content.decode()
    assert response.status_code == 400
    assert 'value="Nurlanova"' in body
    assert 'value="Seminar"' in body
    assert 'value="2030-03-12T14:00"' in body
    assert "Photo received" in body
    token = response.context["visitor_form"].pending_photo_token
    assert token
    assert f'value="{token}"' in body

    # Fix the end and send again without a new photo: the kept one is used.
    data = form_data(
        host=str(host.pk),
        submission_token=data["submission_token"],
        **{"visitor-photo": None, "visitor-photo_token": token},
    )
    response = client.post(reverse("visits:register"), data)
    assert response.status_code == 302
    assert Visit.objects.get().visitor.photo


def test_double_submit_lands_on_the_same_visit(post, client, reception, host):
    data = form_data(host=str(host.pk))
    first = post(reception, data)
    data["visitor-photo"] = photo()  # the browser sends the file again
    second = client.post(reverse("visits:register"), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1


def test_returning_visitor_is_recognised_by_national_id(post, client, reception, host):
    iin = make_iin()
    post(reception, form_data(host=str(host.pk), **{"visitor-national_id": iin}))
    client.post(
        reverse("visits:register"),
        form_data(
            host=str(host.pk),
            planned_start="2030-03-13T10:00",
            planned_end="2030-03-13T11:00",
            **{"visitor-national_id": iin},
        ),
    )
    assert Visit.objects.count() == 2
    assert Visitor.objects.count() == 1


def test_a_lost_double_submit_race_leaves_no_face_file(
    post, client, reception, host, settings, monkeypatch
):
    # Two submits of one form at the same moment: both pass the "already registered?" check,
    # the first commits, the second finds the first's visit inside register_visit and rolls
    # back. The face file the second one wrote for its own visitor must not be left behind.
    from pathlib import Path

    from propusk.visits import views

    data = form_data(host=str(host.pk))
    first = post(reception, data)
    assert first.status_code == 302
    faces = Path(settings.MEDIA_ROOT) / "faces"
    before = set(faces.rglob("*.jpg"))
    monkeypatch.setattr(views, "_already_registered", lambda form, user: None)
    data["visitor-photo"] = photo(make_jpeg(color=(90, 120, 200)))
    second = client.post(reverse("visits:register"), data)
    assert second.status_code == 302
    assert second["Location"] == first["Location"]
    assert Visit.objects.count() == 1
    assert Visitor.objects.count() == 1
    assert set(faces.rglob("*.jpg")) == before


def test_host_with_a_known_id_neither_changes_nor_sees_the_stored_identity(post, client, host):
    """A host cannot swap the face of a visitor shared with other hosts' visits, nor learn who
    is behind the number (tests/visitors/test_identity_disclosure.py compares the answers)."""
    iin = make_iin()
    known = make_visitor(national_id=iin)
    stored_photo = known.photo.name

    response = post(
        host,
        form_data(**{"visitor-national_id": iin, "visitor-family_name": "Someone-Else"}),
    )

    assert response.status_code == 302
    visit = Visit.objects.get()
    assert visit.visitor_id != known.pk
    known.refresh_from_db()
    assert (known.family_name, known.photo.name) == ("Ivanova", stored_photo)
    page = client.get(response["Location"]).content.decode()
    assert "Someone-Else" in page
    assert "Ivanova" not in page


def test_reception_with_a_known_id_updates_the_visitor(post, reception, host):
    iin = make_iin()
    known = make_visitor(national_id=iin)
    response = post(
        reception,
        form_data(
            host=str(host.pk),
            **{"visitor-national_id": iin, "visitor-family_name": "Nurlanova"},
        ),
    )
    assert response.status_code == 302
    known.refresh_from_db()
    assert known.family_name == "Nurlanova"
    assert (
        "stored photo and details were kept"
        not in response.client.get(response["Location"]).content.decode()
    )
