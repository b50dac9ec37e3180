# Russian and Kazakh words in the data look like Latin ones to ruff's confusable check.
# ruff: noqa: RUF001

"""register_visitor: new and returning visitors, consent, photos and the audit trail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError

from propusk.audit.models import AuditEntry
from propusk.visitors.crypto import decrypt_national_id, national_id_lookup_hash
from propusk.visitors.models import Visitor
from propusk.visitors.services import (
    CONSENT_TEXT_VERSION,
    register_visitor,
)
from tests.factories import make_iin, make_jpeg, make_visitor, visitor_data

pytestmark = pytest.mark.django_db(transaction=False)


def test_new_visitor_with_national_id_photo_and_consent(reception):
    iin = make_iin()
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        visitor = register_visitor(
            data=visitor_data(national_id=iin, middle_name="  Serikovna "), actor=reception
        )
    visitor.refresh_from_db()
    assert visitor.full_name == "Ivanova Aigerim Serikovna"
    assert visitor.national_id_hash == national_id_lookup_hash(iin)
    assert decrypt_national_id(visitor.national_id_encrypted) == iin
    assert iin not in visitor.national_id_encrypted
    assert visitor.consent_given_at == dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    assert visitor.consent_text_version == CONSENT_TEXT_VERSION
    assert visitor.photo_updated_at == visitor.consent_given_at
    with visitor.photo.open("rb") as stored:
        assert stored.read()[:2] == b"\xff\xd8"
    entry = AuditEntry.objects.get(target_type="visitors.visitor", target_id=str(visitor.pk))
    assert entry.action == "visitor.registered"
    assert entry.actor == reception
    assert entry.changes["national_id"] == "set"
    assert entry.changes["photo"] == "set"


def test_consent_is_required():
    with pytest.raises(ValidationError) as caught:
        register_visitor(data=visitor_data(consent=False), actor=None, actor_label="test")
    assert caught.value.code == "consent"
    assert not Visitor.objects.exists()


def test_returning_visitor_is_found_by_national_id_and_updated(
    reception, django_capture_on_commit_callbacks
):
    iin = make_iin()
    first = make_visitor(national_id=iin)
    old_photo = first.photo.name
    old_code = first.person_code

    with django_capture_on_commit_callbacks(execute=True):
        again = register_visitor(
            data=visitor_data(
                national_id=iin[:4] + " " + iin[4:],  # typed differently, same person
                family_name="Ivanova-Petrova",
                phone="+77019998877",
                photo_jpeg=make_jpeg(color=(10, 20, 30)),
            ),
            actor=reception,
        )
    assert again.pk == first.pk
    assert Visitor.objects.count() == 1
    again.refresh_from_db()
    assert again.family_name == "Ivanova-Petrova"
    assert again.phone == "+77019998877"
    assert again.person_code == old_code  # one HCP person for life
    assert again.photo.name != old_photo
    storage = again.photo.storage
    assert not storage.exists(old_photo)  # the old face is deleted
    assert storage.exists(again.photo.name)
    entry = AuditEntry.objects.filter(action="visitor.returned").get()
    assert entry.changes == {"family_name": "changed", "phone": "changed", "photo": "updated"}


def test_returning_visitor_without_a_new_photo_keeps_the_old_one(reception):
    iin = make_iin()
    first = make_visitor(national_id=iin)
    again = register_visitor(data=visitor_data(national_id=iin, photo_jpeg=None), actor=reception)
    assert again.pk == first.pk
    assert again.photo.name == first.photo.name
    assert again.photo_updated_at == first.photo_updated_at


def test_same_name_different_or_no_national_id_is_not_merged():
    first = make_visitor(national_id=make_iin())
    second = make_visitor(national_id=make_iin())
    third = make_visitor(national_id=None)
    fourth = make_visitor(national_id=None)
    assert len({first.pk, second.pk, third.pk, fourth.pk}) == 4
    assert {v.full_name for v in (first, second, third, fourth)} == {"Ivanova Aigerim"}
    assert len({v.person_code for v in (first, second, third, fourth)}) == 4


def test_invalid_national_id_creates_nothing():
    with pytest.raises(ValidationError):
        register_visitor(
            data=visitor_data(national_id="123456789012"), actor=None, actor_label="test"
        )
    assert not Visitor.objects.exists()


def test_a_new_photo_deletes_the_old_file_after_commit(
    reception, django_capture_on_commit_callbacks
):
    iin = make_iin()
    visitor = make_visitor(national_id=iin)
    old = visitor.photo.name
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        register_visitor(
            data=visitor_data(national_id=iin, photo_jpeg=make_jpeg(color=(1, 2, 3))),
            actor=reception,
        )
    assert visitor.photo.storage.exists(old)  # kept until the change is committed
    for callback in callbacks:
        callback()
    visitor.refresh_from_db()
    assert visitor.photo.name != old
    assert not visitor.photo.storage.exists(old)
    entry = AuditEntry.objects.get(action="visitor.returned")
    assert entry.changes["photo"] == "updated"


def test_photos_live_outside_media_url(settings):
    visitor = make_visitor()
    path = Path(visitor.photo.path)
    assert path.is_relative_to(Path(settings.MEDIA_ROOT) / "faces")
    assert visitor.person_code in path.parts


def _face_files(settings) -> set[str]:
    root = Path(settings.MEDIA_ROOT) / "faces"
    return {str(p) for p in root.rglob("*.jpg")} if root.exists() else set()


def test_face_file_of_a_rolled_back_registration_is_deleted(settings):
    from propusk.visitors.services import delete_new_photos_on_failure

    before = _face_files(settings)
    written: list[int] = []

    def register_then_fail() -> None:
        with delete_new_photos_on_failure():
            register_visitor(data=visitor_data(), actor=None, actor_label="test")
            written.append(len(_face_files(settings)))
            raise RuntimeError("a later step of the same registration failed")

    with pytest.raises(RuntimeError):
        register_then_fail()
    assert written == [len(before) + 1]
    assert _face_files(settings) == before


def test_face_file_is_kept_when_the_block_succeeds(settings):
    from propusk.visitors.services import delete_new_photos_on_failure

    before = _face_files(settings)
    with delete_new_photos_on_failure():
        visitor = register_visitor(data=visitor_data(), actor=None, actor_label="test")
    assert _face_files(settings) == before | {visitor.photo.path}


@pytest.mark.parametrize("persona", ["host", None])
def test_a_known_id_from_a_host_or_a_link_gets_a_record_of_its_own(persona, request):
    """Only desk staff who see the person may touch the identity shared by all their visits;
    anyone else gets what a new number gives, and reception confirms the match at arrival."""
    actor = request.getfixturevalue(persona) if persona else None
    iin = make_iin()
    first = make_visitor(national_id=iin)
    old_photo = first.photo.name

    claimant = register_visitor(
        data=visitor_data(
            national_id=iin, family_name="Typo", photo_jpeg=make_jpeg(color=(9, 9, 9))
        ),
        actor=actor,
        actor_label=None if actor else "invitation",
    )

    assert claimant.pk != first.pk
    assert claimant.family_name == "Typo"
    assert claimant.photo
    assert claimant.photo.name != old_photo
    assert claimant.national_id_hash is None  # the number stays first's
    assert claimant.identity_match_hash == first.national_id_hash
    assert claimant.needs_identity_check
    assert claimant.person_code != first.person_code
    first.refresh_from_db()
    assert (first.family_name, first.photo.name) == ("Ivanova", old_photo)
    assert not first.needs_identity_check
    entry = AuditEntry.objects.get(action="visitor.registered", target_id=str(claimant.pk))
    assert "to confirm" in entry.changes["identity"]
    assert not AuditEntry.objects.filter(action="visitor.returned").exists()


@pytest.mark.parametrize("persona", ["reception", "admin_user"])
def test_desk_staff_may_update_a_returning_visitor(persona, request):
    actor = request.getfixturevalue(persona)
    iin = make_iin()
    make_visitor(national_id=iin)
    again = register_visitor(data=visitor_data(national_id=iin, family_name="New"), actor=actor)
    again.refresh_from_db()
    assert again.family_name == "New"


@pytest.mark.parametrize(
    "family_name", ["\u202eвоналзИ", "\u200b\u200c\u200d", "\u2066Ivanova\u2069", "---"]
)
def test_the_service_itself_refuses_invisible_or_letterless_names(family_name):
    """The forms refuse them too; the service holds the rule for every other path."""
    with pytest.raises(ValidationError) as caught:
        register_visitor(data=visitor_data(family_name=family_name), actor=None, actor_label="test")
    assert "family_name" in caught.value.error_dict
    assert not Visitor.objects.exists()


def test_names_are_stored_normalised():
    visitor = register_visitor(
        data=visitor_data(family_name="  Өмірзақ   ", given_name="Ә\u0301сел"),
        actor=None,
        actor_label="test",
    )
    assert visitor.family_name == "Өмірзақ"
