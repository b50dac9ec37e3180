"""Who is behind an ID number is disclosed only to reception and administrators, as a look-up.

A host (on the registration and group-member pages) or anyone holding an invitation link who
types a number already on file gets exactly the answer a new number gives; the stored identity
is neither shown, nor changed, nor given the visit. Reception confirms at arrival whether the
person is the stored one (a look-up: throttled and audited), and only then do the visits move
to the stored identity (one visitor, one HCP person). Everything here goes over HTTP.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.access.models import AccessWork, WorkPriority
from propusk.audit.models import AuditEntry
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.conftest import PASSWORD
from tests.factories import make_iin, make_jpeg, make_visitor
from tests.visits.conftest import NOW

STORED_NAME = ("Сагинтаева", "Гульнара")
STORED_PHONE = "+77015550011"


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def stored(db):
    """A visitor on file: someone a prober would like to identify."""
    return make_visitor(
        national_id=make_iin(),
        family_name=STORED_NAME[0],
        given_name=STORED_NAME[1],
        phone=STORED_PHONE,
        photo_jpeg=make_jpeg(color=(10, 200, 10)),
    )


def _stored_iin(visitor: Visitor) -> str:
    from propusk.visitors.crypto import decrypt_national_id

    return decrypt_national_id(visitor.national_id_encrypted)


def _face(visitor: Visitor) -> bytes:
    with visitor.photo.open("rb") as stored:
        return stored.read()


def _register_form(iin: str, family_name: str, color=(200, 10, 10)) -> dict:
    return {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "duration": "60",
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": "Seminar",
        "access_policy": "",
        "single_pass": "",
        "visitor-family_name": family_name,
        "visitor-given_name": "Нұрлан",
        "visitor-phone": "+7 701 999 00 11",
        "visitor-national_id": iin,
        "visitor-consent": "on",
        "visitor-photo": SimpleUploadedFile(
            "face.jpg", make_jpeg(color=color), content_type="image/jpeg"
        ),
    }


def _normalised(html: str, *words: str) -> str:
    """A page with what legitimately differs between two answers blanked out: the words
    typed, numbers (ids in links, counts), link tokens, the CSRF token and the form's
    one-time tokens."""
    for word in words:
        html = html.replace(word, "<typed>")
    html = re.sub(r"/invitations/i/[\w-]+/", "<link>", html)
    html = re.sub(r"\d+", "<n>", html)  # ids in links, counts of members
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "<csrf>", html)
    html = re.sub(r'value="[0-9a-f-]{36}"', "<uuid>", html)
    return html


def _follow(client, response) -> str:
    assert response.status_code == 302, response.content[:500]
    return client.get(response["Location"]).content.decode()


# --- A host on the registration page -----------------------------------------------------


def test_host_gets_the_same_answer_for_a_known_and_a_new_number(
    client, frozen, host, guest_policy, stored
):
    client.login(username=host.username, password=PASSWORD)
    known = client.post(reverse("visits:register"), _register_form(_stored_iin(stored), "Known"))
    known_page = _follow(client, known)
    new = client.post(reverse("visits:register"), _register_form(make_iin(), "Fresh"))
    new_page = _follow(client, new)

    assert _normalised(known_page, "Known") == _normalised(new_page, "Fresh")
    for secret in (*STORED_NAME, STORED_PHONE):
        assert secret not in known_page
    assert f"/visitors/{stored.pk}/" not in known_page


def test_a_host_never_changes_nor_receives_the_stored_identity(
    client, frozen, host, guest_policy, stored
):
    stored_face = _face(stored)
    client.login(username=host.username, password=PASSWORD)
    response = client.post(
        reverse("visits:register"), _register_form(_stored_iin(stored), "Impostor")
    )
    visit = Visit.objects.get()

    stored.refresh_from_db()
    assert (stored.family_name, stored.phone, _face(stored)) == (
        STORED_NAME[0],
        STORED_PHONE,
        stored_face,
    )
    assert visit.visitor_id != stored.pk  # the visit is not the stored person's
    assert visit.visitor.family_name == "Impostor"
    # The face the host sees is the one they sent, never the stored one.
    face = client.get(reverse("visits:photo", args=[visit.pk]))
    assert face.status_code == 200
    assert face.content == _face(visit.visitor) != stored_face
    assert client.get(reverse("visitors:photo", args=[stored.pk])).status_code == 404
    # Nothing told the host, and nothing about it counts as a look-up.
    page = _follow(client, response)
    assert "registered before" not in page
    assert "check ID" not in page
    assert reverse("visits:identity", args=[visit.pk]) not in page
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()
    assert client.get(reverse("visits:identity", args=[visit.pk])).status_code == 403


def test_host_registering_a_group_member_with_a_known_number(
    client, frozen, host, guest_policy, stored
):
    def make_group():
        return create_invitation(
            host=host,
            actor=host,
            kind=InvitationKind.GROUP,
            access_policy=guest_policy,
            purpose="Open day",
            department=None,
            planned_start=NOW.replace(hour=14),
            planned_end=NOW.replace(hour=16),
            max_uses=5,
        ).group

    probed, control = make_group(), make_group()
    client.login(username=host.username, password=PASSWORD)

    def member(group, iin: str, name: str) -> str:
        form = _register_form(iin, name)
        data = {k: v for k, v in form.items() if k.startswith("visitor-")}
        data["submission_token"] = str(uuid.uuid4())
        return _follow(
            client, client.post(reverse("visits:register_member", args=[group.pk]), data)
        )

    names = ("Known", "Fresh", "Again", "Other")
    known_page = member(probed, _stored_iin(stored), "Known")
    assert _normalised(known_page, *names) == _normalised(
        member(control, make_iin(), "Fresh"), *names
    )
    # The same number once more is not refused either: a refusal would say it is there.
    again_page = member(probed, _stored_iin(stored), "Again")
    assert _normalised(again_page, *names) == _normalised(
        member(control, make_iin(), "Other"), *names
    )
    assert STORED_NAME[0] not in known_page + again_page
    assert probed.visits.count() == 2
    assert not probed.visits.filter(visitor=stored).exists()


# --- A link holder on the public page ------------------------------------------------------


def _public_form(iin: str, given_name: str) -> dict:
    return {
        "family_name": "Ахметова",
        "given_name": given_name,
        "middle_name": "",
        "phone": "+7 701 555 44 33",
        "email": "",
        "national_id": iin,
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
        "photo": SimpleUploadedFile("me.jpg", make_jpeg(color=(9, 9, 9)), "image/jpeg"),
    }


def test_a_link_holder_gets_the_same_answer_and_touches_nothing(client, frozen, host, guest_policy):
    # Someone on file without a face: the link must not fill it in with a stranger's.
    faceless = make_visitor(national_id=make_iin(), family_name=STORED_NAME[0], photo_jpeg=None)
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
    )
    url = reverse("invitations:public", args=[invitation.token])

    known = client.post(url, _public_form(_stored_iin(faceless), "Known"))
    new = client.post(url, _public_form(make_iin(), "Fresh"))

    assert known.status_code == new.status_code == 200
    assert _normalised(known.content.decode(), "Known") == _normalised(
        new.content.decode(), "Fresh"
    )
    faceless.refresh_from_db()
    assert not faceless.photo
    assert faceless.family_name == STORED_NAME[0]
    assert not faceless.visits.exists()
    claimant = Visitor.objects.get(given_name="Known")
    assert claimant.needs_identity_check
    assert claimant.visits.count() == 1


# --- Reception confirms at arrival ------------------------------------------------------


@pytest.fixture
def claimant_visit(client, frozen, host, guest_policy, stored):
    """alice registered a guest today with the stored visitor's number."""
    client.login(username=host.username, password=PASSWORD)
    form = _register_form(_stored_iin(stored), "Typed")
    form["planned_start"], form["planned_end"] = "2030-03-12T11:00", "2030-03-12T13:00"
    client.post(reverse("visits:register"), form)
    client.logout()
    return Visit.objects.get()


def test_reception_is_told_to_check_the_document(client, reception, security, claimant_visit):
    client.force_login(reception)
    today = client.get(reverse("visits:reception")).content.decode()
    assert "check ID" in today
    detail = client.get(reverse("visits:detail", args=[claimant_visit.pk])).content.decode()
    assert reverse("visits:identity", args=[claimant_visit.pk]) in detail
    assert STORED_NAME[0] not in today + detail  # not until reception asks
    client.force_login(security)
    assert "check ID" not in client.get(reverse("visits:reception")).content.decode()
    assert client.get(reverse("visits:identity", args=[claimant_visit.pk])).status_code == 403


def test_comparing_is_a_throttled_audited_look_up(
    client, settings, reception, claimant_visit, stored
):
    settings.LOOKUP_LIMIT = 1
    client.force_login(reception)
    url = reverse("visits:identity", args=[claimant_visit.pk])

    page = client.get(url).content.decode()

    assert STORED_NAME[0] in page
    assert "Typed" in page
    assert reverse("visitors:photo", args=[stored.pk]) in page
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert entry.actor == reception
    assert entry.target_id == str(stored.pk)
    assert entry.changes["via"] == "identity_check"
    # The look-up lets this session see the face on file, and the view is audited.
    assert client.get(reverse("visitors:photo", args=[stored.pk])).status_code == 200
    assert AuditEntry.objects.filter(action="visitor.photo_viewed").count() == 1

    again = client.get(url, follow=True)
    assert STORED_NAME[0] not in again.content.decode()
    assert "Too many look-ups" in again.content.decode()
    assert AuditEntry.objects.filter(action="visitor.lookup_throttled").count() == 1


def test_same_person_keeps_the_stored_identity(
    client, reception, claimant_visit, stored, django_capture_on_commit_callbacks
):
    claimant = claimant_visit.visitor
    claimant_code = claimant.person_code
    claimant_file = Path(claimant.photo.path)
    stored_face = _face(stored)
    client.force_login(reception)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "same_keep"}
        )

    assert response.status_code == 302
    claimant_visit.refresh_from_db()
    assert claimant_visit.visitor_id == stored.pk  # one identity, one HCP person
    assert not Visitor.objects.filter(pk=claimant.pk).exists()
    assert not claimant_file.exists()  # the submitted face is not kept as a stray copy
    stored.refresh_from_db()
    assert (stored.family_name, _face(stored)) == (STORED_NAME[0], stored_face)
    # Both HCP persons are queued: the submitted record's goes (first), the stored one's
    # takes the visit.
    work = {row.person_code: row for row in AccessWork.objects.all()}
    assert work[claimant_code].priority == WorkPriority.REVOKE
    assert work[stored.person_code].priority == WorkPriority.GRANT
    entry = AuditEntry.objects.get(action="visitor.identity_confirmed")
    assert (entry.actor, entry.target_id) == (reception, str(stored.pk))
    assert entry.changes["visits"] == [claimant_visit.pk]
    page = client.get(reverse("visits:detail", args=[claimant_visit.pk])).content.decode()
    assert "Identity confirmed at the desk" in page
    assert "check ID" not in client.get(reverse("visits:reception")).content.decode()


def test_same_person_may_take_the_new_photo_and_details(
    client, reception, claimant_visit, stored, django_capture_on_commit_callbacks
):
    submitted_face = _face(claimant_visit.visitor)
    client.force_login(reception)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "same_take"})

    stored.refresh_from_db()
    assert stored.family_name == "Typed"
    assert _face(stored) == submitted_face
    assert Visit.objects.get().visitor_id == stored.pk


def test_not_the_same_person_removes_the_number_from_the_claimant(
    client, reception, claimant_visit, stored
):
    claimant = claimant_visit.visitor
    client.force_login(reception)
    client.post(reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "different"})

    claimant.refresh_from_db()
    assert not claimant.needs_identity_check
    assert claimant.national_id_encrypted == ""
    assert Visit.objects.get().visitor_id == claimant.pk
    stored.refresh_from_db()
    assert stored.family_name == STORED_NAME[0]
    assert AuditEntry.objects.filter(action="visitor.identity_rejected").count() == 1


def test_a_bad_decision_changes_nothing(client, reception, claimant_visit, stored):
    client.force_login(reception)
    response = client.post(
        reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "merge-all"}
    )
    assert response.status_code == 302
    claimant_visit.refresh_from_db()
    assert claimant_visit.visitor.needs_identity_check
    assert not AuditEntry.objects.filter(action__startswith="visitor.identity").exists()


# --- The face of a returning visitor after "Find" ---------------------------------------


def test_a_stored_face_is_served_only_after_a_look_up_in_this_session(
    client, frozen, reception, security, admin_user, stored
):
    url = reverse("visitors:photo", args=[stored.pk])
    client.force_login(reception)
    assert client.get(url).status_code == 404  # no look-up yet
    client.post(
        reverse("visits:register_lookup"),
        {"visitor-national_id": _stored_iin(stored), "submission_token": str(uuid.uuid4())},
    )
    assert client.get(url).status_code == 200
    assert AuditEntry.objects.filter(
        action="visitor.photo_viewed", actor_id=reception.pk, target_id=str(stored.pk)
    ).exists()

    client.force_login(security)
    assert client.get(url).status_code == 404
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_confirming_a_second_registration_in_a_group_warns_about_the_duplicate(
    client, frozen, host, reception, guest_policy, stored
):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW.replace(hour=11),
        planned_end=NOW.replace(hour=16),
        max_uses=5,
    )
    client.force_login(reception)  # the desk registers the stored person first
    form = _register_form(_stored_iin(stored), STORED_NAME[0])
    desk = {k: v for k, v in form.items() if k.startswith("visitor-")}
    desk["submission_token"] = str(uuid.uuid4())
    client.post(reverse("visits:register_member", args=[invitation.group.pk]), desk)
    client.logout()
    client.post(
        reverse("invitations:public", args=[invitation.token]),
        _public_form(_stored_iin(stored), "Again"),
    )
    linked = Visit.objects.get(visitor__given_name="Again")

    client.force_login(reception)
    response = client.post(
        reverse("visits:identity", args=[linked.pk]), {"decision": "same_keep"}, follow=True
    )

    assert "now has two visits in the group" in response.content.decode()
    assert invitation.group.visits.filter(visitor=stored).count() == 2


def test_a_link_holder_who_sends_a_number_first_does_not_block_its_owner_from_the_group(
    client, frozen, host, reception, guest_policy, stored
):
    """The review's last step: a link holder submits someone's number to the group first. The
    real person still joins, through the same link and at the desk, and nobody learns that
    the number was used before."""
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW.replace(hour=11),
        planned_end=NOW.replace(hour=16),
        max_uses=5,
    )
    url = reverse("invitations:public", args=[invitation.token])
    first = client.post(url, _public_form(_stored_iin(stored), "Squatter"))
    owner = client.post(url, _public_form(_stored_iin(stored), "Owner"))

    assert first.status_code == owner.status_code == 200
    assert "Thank you, Owner!" in owner.content.decode()
    assert STORED_NAME[0] not in first.content.decode() + owner.content.decode()

    client.force_login(reception)  # and the desk registers the stored person as well
    form = _register_form(_stored_iin(stored), STORED_NAME[0])
    desk = {k: v for k, v in form.items() if k.startswith("visitor-")}
    desk["submission_token"] = str(uuid.uuid4())
    response = client.post(reverse("visits:register_member", args=[invitation.group.pk]), desk)

    assert response.status_code == 302, response.content.decode()[:2000]
    group_visits = invitation.group.visits
    assert group_visits.count() == 3
    assert group_visits.filter(visitor=stored).count() == 1  # the desk's, on the stored identity
    assert set(
        group_visits.exclude(visitor=stored).values_list("visitor__given_name", flat=True)
    ) == {"Squatter", "Owner"}  # records of their own, until reception compares at arrival


def test_confirming_without_comparing_counts_as_a_look_up(
    client, reception, claimant_visit, stored, django_capture_on_commit_callbacks
):
    """A decision shows the stored identity on the visit from then on: made without opening
    the comparison first, it is a look-up of its own (counted and audited)."""
    client.force_login(reception)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "same_keep"})

    claimant_visit.refresh_from_db()
    assert claimant_visit.visitor_id == stored.pk
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert (entry.actor, entry.target_id, entry.changes["via"]) == (
        reception,
        str(stored.pk),
        "identity_check",
    )


def test_comparing_then_confirming_is_one_look_up(
    client, reception, claimant_visit, stored, django_capture_on_commit_callbacks
):
    client.force_login(reception)
    url = reverse("visits:identity", args=[claimant_visit.pk])
    assert STORED_NAME[0] in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"decision": "same_keep"})

    assert Visit.objects.get().visitor_id == stored.pk
    assert AuditEntry.objects.filter(action="visitor.looked_up").count() == 1


def test_a_decision_cannot_stand_in_for_a_refused_look_up(
    client, settings, reception, claimant_visit, stored
):
    """Over the allowance, confirming would show who is behind the number all the same: it
    is refused like the comparison, and nothing moves."""
    settings.LOOKUP_LIMIT = 1
    client.force_login(reception)
    client.post(  # the allowance goes on another look-up
        reverse("visits:register_lookup"),
        {"visitor-national_id": make_iin(), "submission_token": str(uuid.uuid4())},
    )

    response = client.post(
        reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "same_keep"}, follow=True
    )

    page = response.content.decode()
    assert "Too many look-ups" in page
    assert STORED_NAME[0] not in page
    claimant_visit.refresh_from_db()
    assert claimant_visit.visitor_id != stored.pk
    assert claimant_visit.visitor.needs_identity_check
    assert not AuditEntry.objects.filter(action="visitor.identity_confirmed").exists()
    assert AuditEntry.objects.filter(action="visitor.lookup_throttled").count() == 1
    # "Not this person" shows nothing: it is still possible.
    client.post(reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "different"})
    claimant_visit.refresh_from_db()
    assert not claimant_visit.visitor.needs_identity_check
