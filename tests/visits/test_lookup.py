"""A returning visitor at the desk: "Find" by national ID, a prefilled form, keep or replace
the face on file."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visitors.returning import returning_token
from propusk.visitors.services import look_up_visitor
from propusk.visits.models import Visit
from tests.factories import make_iin, make_jpeg, make_visitor

from .conftest import NOW

FIND = reverse("visits:register_lookup")
REGISTER = reverse("visits:register")


@pytest.fixture
def iin():
    return make_iin()


@pytest.fixture
def returning(iin, frozen_now, guest_policy):
    """Somebody who has been here before, with a face on file."""
    return make_visitor(
        national_id=iin,
        family_name="Returnova",
        given_name="Saule",
        middle_name="Bekovna",
        phone="+77017654321",
        email="saule@example.org",
        photo_jpeg=make_jpeg(color=(10, 200, 10)),
    )


def stored_face(visitor):
    visitor.refresh_from_db()
    with visitor.photo.open("rb") as stored:
        return visitor.photo.name, stored.read()


def typed(**overrides):
    """The registration form as reception has filled it in so far."""
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
        "visitor-family_name": "",
        "visitor-given_name": "",
        "visitor-phone": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def find(client, user, national_id, **overrides):
    client.force_login(user)
    return client.post(FIND, typed(**{"visitor-national_id": national_id, **overrides}))


def returning_field(response):
    return response.context["visitor_form"]["returning"].value()


def found_visitor(national_id, returning, photo=None):
    """The visitor block as sent after "Find": the found person's details, consent, the token."""
    block = {
        "visitor-family_name": "Returnova",
        "visitor-given_name": "Saule",
        "visitor-phone": "+77017654321",
        "visitor-national_id": national_id,
        "visitor-consent": "on",
        "visitor-returning": returning,
    }
    if photo is not None:
        block["visitor-photo"] = photo
    return block


# --- The service ------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["reception", "admin_user"])
def test_look_up_finds_by_national_id_and_is_audited(request, persona, returning, iin):
    user = request.getfixturevalue(persona)
    assert look_up_visitor(national_id=iin[:6] + " " + iin[6:], actor=user) == returning
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert entry.actor == user
    assert (entry.target_type, entry.target_id) == ("visitors.visitor", str(returning.pk))
    assert entry.changes == {"via": "id_number", "result": "found", "photo": "on file"}


def test_look_up_of_nobody_is_audited_too(reception, frozen_now):
    assert look_up_visitor(national_id=make_iin(), actor=reception) is None
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert (entry.target_type, entry.target_id) == ("visitors.visitor", "")
    assert entry.changes == {"via": "id_number", "result": "not_found"}


@pytest.mark.parametrize("persona", ["host", "security", "no_role_user"])
def test_only_reception_and_administrators_may_look_up(request, persona, returning, iin):
    with pytest.raises(PermissionDenied):
        look_up_visitor(national_id=iin, actor=request.getfixturevalue(persona))
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


def test_a_malformed_number_looks_nothing_up(reception, frozen_now):
    with pytest.raises(ValidationError):
        look_up_visitor(national_id="12345", actor=reception)
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


# --- The page: found ------------------------------------------------------------------


def test_found_fills_in_the_visitor_and_shows_the_face_on_file(
    client, reception, host, returning, iin
):
    response = find(
        client, reception, iin, purpose="Typed before Find", host=str(host.pk), mode="now"
    )
    body = response.content.decode()

    assert response.status_code == 200
    assert "Returnova Saule Bekovna has been here before" in body
    for value in ("Returnova", "Saule", "Bekovna", "+77017654321", "saule@example.org", iin):
        assert f'value="{value}"' in body
    assert 'value="Typed before Find"' in body  # the visit part stays as typed
    assert f'<option value="{host.pk}" selected>' in body
    assert 'value="now" required id="id_mode_0" checked' in body
    assert reverse("visitors:photo", args=[returning.pk]) in body
    assert "Photo on file" in body
    assert response.context["visitor_form"].photo_required is False
    assert returning_field(response)
    assert "errorlist" not in body  # a look-up checks nothing else on the form
    assert f'action="{REGISTER}"' in body  # "Register" goes to registration, not to "Find"
    assert client.get(reverse("visitors:photo", args=[returning.pk])).status_code == 200


def test_found_and_kept_photo_registers_without_a_new_one(client, reception, host, returning, iin):
    before = stored_face(returning)
    found = find(client, reception, iin)

    response = client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            **found_visitor(iin, returning_field(found)),
        ),
    )

    visit = Visit.objects.get()
    assert response.status_code == 302, response.content.decode()
    assert visit.visitor_id == returning.pk
    assert Visitor.objects.count() == 1
    assert stored_face(returning) == before  # the same file, the same bytes
    assert "photo" not in AuditEntry.objects.get(action="visitor.returned").changes


def test_found_and_a_new_photo_replaces_the_face(client, reception, host, returning, iin):
    before = stored_face(returning)
    found = find(client, reception, iin)

    response = client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            **found_visitor(
                iin,
                returning_field(found),
                photo=SimpleUploadedFile(
                    "new.jpg", make_jpeg(color=(200, 10, 10)), content_type="image/jpeg"
                ),
            ),
        ),
    )

    assert response.status_code == 302
    assert Visit.objects.get().visitor_id == returning.pk
    after = stored_face(returning)
    assert after[0] != before[0]
    assert after[1] != before[1]
    assert AuditEntry.objects.get(action="visitor.returned").changes["photo"] == "updated"


def test_the_lookup_does_not_apply_when_the_number_changed(client, reception, host, returning, iin):
    found = find(client, reception, iin)
    response = client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            **found_visitor(make_iin(), returning_field(found)),  # somebody else now
        ),
    )
    assert response.status_code == 400
    assert "Please add a photo of your face." in response.content.decode()
    assert reverse("visitors:photo", args=[returning.pk]) not in response.content.decode()
    assert not Visit.objects.exists()


def test_the_lookup_of_another_user_does_not_apply(
    client, reception, admin_user, host, returning, iin
):
    token = returning_token(returning, reception)
    client.force_login(admin_user)
    response = client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            **found_visitor(iin, token),
        ),
    )
    assert response.status_code == 400
    assert "Please add a photo of your face." in response.content.decode()


def test_an_error_after_the_lookup_still_shows_the_face_on_file(
    client, reception, host, returning, iin
):
    found = find(client, reception, iin)
    response = client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            planned_end="2030-03-12T13:00",  # before the start
            **found_visitor(iin, returning_field(found)),
        ),
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "The visit must end after it starts." in body
    assert "Please add a photo" not in body
    assert reverse("visitors:photo", args=[returning.pk]) in body
    assert returning_field(response) == returning_field(found)


def test_returning_visitor_without_a_photo_must_get_one(client, reception, iin, frozen_now):
    make_visitor(national_id=iin, photo_jpeg=None)
    response = find(client, reception, iin)
    assert response.status_code == 200
    assert response.context["visitor_form"].photo_required is True
    assert "There is no photo of this visitor on file" in response.content.decode()


def test_a_photo_given_before_find_is_kept(client, reception, returning, iin):
    response = find(
        client,
        reception,
        iin,
        **{"visitor-photo": SimpleUploadedFile("a.jpg", make_jpeg(), content_type="image/jpeg")},
    )
    assert "Photo received" in response.content.decode()
    assert response.context["visitor_form"].pending_photo_token


# --- The page: not found, bad input, who may --------------------------------------------


def test_not_found_says_so_and_keeps_what_was_typed(client, reception, frozen_now, guest_policy):
    iin = make_iin()
    response = find(
        client,
        reception,
        iin,
        **{"visitor-family_name": "Newcomer", "visitor-phone": "+77010000001"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "No visitor with this IIN yet" in body
    assert 'value="Newcomer"' in body
    assert 'value="+77010000001"' in body
    assert f'value="{iin}"' in body
    assert response.context["visitor_form"].photo_required is True
    assert not returning_field(response)


@pytest.mark.parametrize(
    ("typed_id", "message"),
    [("", "Type the IIN, then press Find."), ("12345", "An IIN has exactly 12 digits.")],
)
def test_bad_number_is_explained(client, reception, frozen_now, typed_id, message):
    response = find(client, reception, typed_id, **{"visitor-family_name": "Kept"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'value="Kept"' in response.content.decode()
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


@pytest.mark.parametrize("persona", ["host", "security", "no_role_user"])
def test_others_cannot_look_up(client, request, persona, returning, iin):
    response = find(client, request.getfixturevalue(persona), iin)
    assert response.status_code == 403
    assert "Returnova" not in response.content.decode()
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


def test_host_gets_the_plain_form(client, host, frozen_now):
    client.force_login(host)
    body = client.get(REGISTER).content.decode()
    assert FIND not in body
    assert 'name="visitor-national_id"' in body
    assert 'name="visitor-returning"' not in body


def test_reception_form_has_the_find_button(client, reception, frozen_now):
    client.force_login(reception)
    body = client.get(REGISTER).content.decode()
    assert f'formaction="{FIND}#visitor"' in body
    assert 'class="default-submit"' in body


def test_find_is_a_post(client, reception, frozen_now):
    client.force_login(reception)
    assert client.get(FIND).status_code == 405


# --- Privacy ----------------------------------------------------------------------------


def test_the_number_is_neither_audited_nor_logged(client, caplog, reception, host, returning, iin):
    caplog.set_level(logging.DEBUG)
    found = find(client, reception, iin)
    find(client, reception, make_iin())
    client.post(
        REGISTER,
        typed(
            host=str(host.pk),
            **found_visitor(iin, returning_field(found)),
        ),
    )
    assert Visit.objects.count() == 1
    returning.refresh_from_db()
    secrets_ = [iin, returning.national_id_hash, returning.national_id_encrypted]
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    audit = json.dumps([entry.changes for entry in AuditEntry.objects.all()]) + "".join(
        str(entry) for entry in AuditEntry.objects.all()
    )
    for secret in secrets_:
        assert secret not in logged
        assert secret not in audit
    assert returning_field(found)
    assert iin not in returning_field(found)
    # Django's error reports (e.g. mails to ADMINS) leave the typed number out.
    assert found.wsgi_request.sensitive_post_parameters == ("visitor-national_id",)
    assert AuditEntry.objects.filter(action="visitor.looked_up").count() == 2


# --- On the group member page -----------------------------------------------------------


def test_find_on_the_group_member_page(client, reception, host, returning, iin, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW.replace(hour=14),
        planned_end=NOW.replace(hour=16),
        max_uses=5,
        group_name="School No. 12",
    )
    group = invitation.group
    client.force_login(reception)
    found = client.post(
        reverse("visits:register_member_lookup", args=[group.pk]),
        {"submission_token": str(uuid.uuid4()), "visitor-national_id": iin},
    )
    assert found.status_code == 200
    assert 'value="Returnova"' in found.content.decode()
    assert f'action="{reverse("visits:register_member", args=[group.pk])}"' in (
        found.content.decode()
    )
    assert reverse("visitors:photo", args=[returning.pk]) in found.content.decode()
    before = stored_face(returning)

    response = client.post(
        reverse("visits:register_member", args=[group.pk]),
        {
            "submission_token": str(uuid.uuid4()),
            "single_pass": "",
            **found_visitor(iin, returning_field(found)),
        },
    )
    assert response.status_code == 302
    assert Visit.objects.get().visitor_id == returning.pk
    assert stored_face(returning) == before

    client.force_login(host)  # the group's host registers members, but does not look up
    assert (
        client.post(
            reverse("visits:register_member_lookup", args=[group.pk]),
            {"visitor-national_id": iin},
        ).status_code
        == 403
    )
