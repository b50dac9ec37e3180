"""Personal data retention (visitors.retention, docs/privacy.md): faces deleted after
PROPUSK_FACE_RETENTION_DAYS, visitors anonymised after PROPUSK_VISITOR_DATA_RETENTION_DAYS,
both counted from the end of the last visit and never while anything of theirs is pending;
erasure on request by an administrator (service, admin action, command); the hourly purge
and its command. HCP's side is in test_retention_hcp.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from hikcentral import GRANTED_BY_FACE
from propusk.access.models import AccessLevelPolicy
from propusk.audit.models import AuditEntry
from propusk.events.models import Direction, EventSource, EventState, HcpEvent
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification
from propusk.passages import services as passage_services
from propusk.passages.models import Incident, IncidentKind, IncidentState, Passage, PictureState
from propusk.visitors import retention as retention_module
from propusk.visitors import tasks
from propusk.visitors.models import Visitor
from propusk.visitors.retention import (
    ErasureRefused,
    erase_visitor,
    purge_personal_data,
    purge_plan,
)
from propusk.visitors.services import (
    look_up_identity_match,
    look_up_visitor,
    merge_into_stored_identity,
    register_visitor,
)
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.concurrency import run_together
from tests.faces import portrait_jpeg
from tests.factories import make_iin, make_jpeg, visitor_data

# Committed for real: the face files go once the deletion commits (transaction.on_commit).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

FACE_DAYS = 30
DATA_DAYS = 365


@pytest.fixture
def staff_admin(admin_user: User) -> User:
    """The administrator persona with the admin site open to them (as seed_demo makes it)."""
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    return admin_user


@pytest.fixture(autouse=True)
def retention(settings: Any) -> Any:
    settings.PROPUSK_FACE_RETENTION_DAYS = FACE_DAYS
    settings.PROPUSK_VISITOR_DATA_RETENTION_DAYS = DATA_DAYS
    return settings


def kazakh_visitor(**overrides: Any) -> Visitor:
    """Registered through the service, with a real portrait and a valid IIN."""
    values: dict[str, Any] = {
        "family_name": "Сейтқали",
        "given_name": "Айгерім",
        "middle_name": "Нұрланқызы",
        "phone": "+7 701 555 12 34",
        "email": "aigerim.seitkali@example.kz",
        "national_id": make_iin(),
        "photo_jpeg": portrait_jpeg(),
    }
    values.update(overrides)
    return register_visitor(data=visitor_data(**values), actor=None, actor_label="test")


def visit_of(
    visitor: Visitor,
    host: User,
    policy: AccessLevelPolicy,
    *,
    start: datetime,
    status: VisitStatus = VisitStatus.CHECKED_OUT,
    hours: int = 2,
    **extra: Any,
) -> Visit:
    values: dict[str, Any] = {
        "kind": VisitKind.GUEST,
        "status": status,
        "visitor": visitor,
        "host": host,
        "planned_start": start,
        "planned_end": start + timedelta(hours=hours),
        "access_policy": policy,
        "purpose": "Консультация в приёмной комиссии",
    }
    if status in (VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT):
        values["checked_in_at"] = start
    if status == VisitStatus.CHECKED_OUT:
        values["checked_out_at"] = start + timedelta(minutes=90)
    values.update(extra)
    return Visit.objects.create(**values)


def passage_with_picture(visit: Visit, at: datetime) -> Passage:
    event = HcpEvent.objects.create(
        event_id=f"evt-{uuid.uuid4()}",
        event_type=GRANTED_BY_FACE,
        happened_at=at,
        door_index_code="1",
        door_name="Главный вход, турникет 1",
        direction=Direction.IN,
        person_code=visit.visitor.person_code,
        source=EventSource.PUSH,
        received_at=at,
        state=EventState.DONE,
    )
    passage = Passage.objects.create(
        event=event,
        visit=visit,
        visitor=visit.visitor,
        happened_at=at,
        door_index_code="1",
        door_name=event.door_name,
        direction=Direction.IN,
        granted=True,
        picture_state=PictureState.PENDING,
    )
    assert passage_services.store_picture(passage.pk, portrait_jpeg()).state == PictureState.STORED
    passage.refresh_from_db()
    return passage


def end_of(visit: Visit) -> datetime:
    """The end the retention counts from: the latest of the planned end and the check-out."""
    return max(t for t in (visit.planned_end, visit.checked_out_at) if t is not None)


def face_path(visitor: Visitor) -> Path:
    return Path(visitor.photo.path)


def registered_long_ago(visitor: Visitor, days: int) -> None:
    Visitor.objects.filter(pk=visitor.pk).update(created_at=timezone.now() - timedelta(days=days))


def personal_values(visitor: Visitor, iin: str) -> list[str]:
    return [
        visitor.family_name,
        visitor.given_name,
        visitor.middle_name,
        visitor.phone,
        visitor.email,
        iin,
        visitor.national_id_encrypted,
    ]


def audit_text() -> str:
    entries = AuditEntry.objects.all()
    return json.dumps([e.changes for e in entries], ensure_ascii=False) + "".join(
        f"{e.actor_label} {e.target_id}" for e in entries
    )


# --- Faces ----------------------------------------------------------------------------------


def test_the_face_file_goes_after_the_face_retention_and_not_before(
    host: User, guest_policy: AccessLevelPolicy
) -> None:
    visitor = kazakh_visitor()
    now = timezone.now()
    visit = visit_of(visitor, host, guest_policy, start=now - timedelta(hours=3))
    passage = passage_with_picture(visit, now - timedelta(hours=3))
    file, picture = face_path(visitor), Path(passage.picture.path)
    ended = end_of(visit)
    assert file.exists()
    assert picture.exists()

    kept = purge_personal_data(now=ended + timedelta(days=FACE_DAYS, minutes=-1))

    assert not kept.did_anything
    visitor.refresh_from_db()
    assert visitor.photo
    assert file.exists()
    assert picture.exists()
    assert not AuditEntry.objects.filter(action="visitor.retention_purge").exists()

    done = purge_personal_data(now=ended + timedelta(days=FACE_DAYS, minutes=1))

    assert done.faces_deleted == [visitor.pk]
    assert done.anonymised == []
    assert done.passage_pictures == 1
    visitor.refresh_from_db()
    assert not visitor.photo
    assert visitor.face_deleted_at is not None
    assert not file.exists()
    assert not file.parent.exists()  # the visitor's face directory is gone too
    passage.refresh_from_db()
    assert (passage.picture.name, passage.picture_state) == ("", PictureState.DELETED)
    assert not picture.exists()
    # Only the face: the person is still known (a return within the year finds them).
    assert visitor.family_name == "Сейтқали"
    assert visitor.national_id_hash
    assert not visitor.is_erased
    entry = AuditEntry.objects.get(action="visitor.face_expired")
    assert entry.target_id == str(visitor.pk)
    assert entry.changes == {"photo": "deleted", "passage_pictures": 1}
    run = AuditEntry.objects.get(action="visitor.retention_purge")
    assert run.actor_label == "system"
    assert run.changes["faces_deleted"] == 1
    assert run.changes["face_deleted_ids"] == [visitor.pk]


def test_an_older_face_file_left_in_the_visitor_directory_goes_too(
    host: User, guest_policy: AccessLevelPolicy
) -> None:
    visitor = kazakh_visitor()
    leftover = face_path(visitor).parent / "0123456789abcdef.jpg"
    leftover.write_bytes(make_jpeg())  # a replaced face whose deletion never ran
    visit = visit_of(visitor, host, guest_policy, start=timezone.now() - timedelta(hours=3))

    purge_personal_data(now=visit.planned_end + timedelta(days=FACE_DAYS + 1))

    assert not leftover.exists()


def test_a_face_file_left_after_the_face_went_goes_with_the_anonymisation(
    host: User, guest_policy: AccessLevelPolicy
) -> None:
    visitor = kazakh_visitor()
    directory = face_path(visitor).parent
    visit = visit_of(visitor, host, guest_policy, start=timezone.now() - timedelta(hours=3))
    purge_personal_data(now=end_of(visit) + timedelta(days=FACE_DAYS + 1))
    directory.mkdir(mode=0o700)
    leftover = directory / "fedcba9876543210.jpg"
    leftover.write_bytes(make_jpeg())  # its deletion failed then (a storage error)

    purge_personal_data(now=end_of(visit) + timedelta(days=DATA_DAYS + 1))

    assert not leftover.exists()
    assert not directory.exists()


@pytest.mark.parametrize(
    "pending",
    [
        "expected_later",
        "awaiting_confirmation",
        "awaiting_not_closed_yet",
        "checked_in_still_inside",
        "open_incident",
    ],
)
def test_nothing_is_removed_while_something_is_pending(
    pending: str, host: User, admin_user: User, guest_policy: AccessLevelPolicy
) -> None:
    iin = make_iin()
    visitor = kazakh_visitor(family_name="Жұмабаев", given_name="Ерлан", national_id=iin)
    now = timezone.now()
    old = visit_of(visitor, host, guest_policy, start=now - timedelta(days=2))
    passage = passage_with_picture(old, now - timedelta(days=2))
    # Long after both retentions of the old visit...
    later = now + timedelta(days=DATA_DAYS + 10)
    # ...something of the visitor is still pending.
    if pending == "expected_later":
        visit_of(
            visitor,
            host,
            guest_policy,
            start=later + timedelta(days=7),
            status=VisitStatus.AWAITING,
        )
    elif pending == "awaiting_confirmation":
        visit_of(
            visitor, host, guest_policy, start=later + timedelta(days=7), status=VisitStatus.PENDING
        )
    elif pending == "awaiting_not_closed_yet":
        # Its window is over, but it is not closed as a no-show yet (the close task's work).
        visit_of(
            visitor, host, guest_policy, start=now - timedelta(days=1), status=VisitStatus.AWAITING
        )
    elif pending == "checked_in_still_inside":
        visit_of(
            visitor,
            host,
            guest_policy,
            start=now - timedelta(days=1),
            status=VisitStatus.CHECKED_IN,
        )
    else:
        Incident.objects.create(
            key=f"denied-{passage.pk}",
            kind=IncidentKind.DENIED,
            happened_at=old.planned_start,
            last_seen_at=old.planned_start,
            visit=old,
            passage=passage,
            state=IncidentState.ACKNOWLEDGED,  # seen, not resolved
        )

    assert purge_plan(now=later).anonymised == []
    result = purge_personal_data(now=later)

    assert not result.did_anything
    visitor.refresh_from_db()
    assert visitor.photo
    assert face_path(visitor).exists()
    assert visitor.family_name == "Жұмабаев"
    assert visitor.face_deleted_at is None
    assert look_up_visitor(national_id=iin, actor=admin_user) == visitor
    passage.refresh_from_db()
    assert passage.picture_state == PictureState.STORED

    # Once it is over, the retention counts from the end of that visit.
    Visit.objects.filter(visitor=visitor).exclude(pk=old.pk).update(
        status=VisitStatus.CANCELLED, cancelled_at=later
    )
    Incident.objects.update(state=IncidentState.RESOLVED)
    result = purge_personal_data(now=later + timedelta(days=DATA_DAYS + 8))
    assert result.anonymised == [visitor.pk]


def test_a_visitor_without_visits_counts_from_the_registration() -> None:
    visitor = kazakh_visitor()
    registered = visitor.created_at

    assert purge_personal_data(now=registered + timedelta(days=FACE_DAYS - 1)).faces_deleted == []
    assert purge_personal_data(now=registered + timedelta(days=FACE_DAYS + 1)).faces_deleted == [
        visitor.pk
    ]


# --- Identity and contact data --------------------------------------------------------------


def test_after_the_data_retention_the_visitor_is_anonymised_and_the_visits_stay(
    host: User, reception: User, admin_user: User, student_policy: AccessLevelPolicy
) -> None:
    iin = make_iin()
    visitor = kazakh_visitor(
        family_name="Иванова", given_name="Светлана", middle_name="Петровна", national_id=iin
    )
    before = personal_values(visitor, iin)
    now = timezone.now()
    visit = visit_of(
        visitor,
        host,
        student_policy,
        start=now - timedelta(hours=4),
        kind=VisitKind.STUDENT,
        student_id="S-2026-04417",
        student_group="ИС-21",
        course=2,
    )
    passage = passage_with_picture(visit, now - timedelta(hours=4))
    Notification.objects.create(
        recipient=host,
        kind=Kind.GUEST_ARRIVED,
        key=f"passage:{passage.pk}",
        params={"visitor_name": visitor.full_name, "visit_id": visit.pk, "door_name": "Вход"},
        visit=visit,
    )
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Visitor),
        object_id=str(visitor.pk),
        object_repr=str(visitor),
        action_flag=CHANGE,
        change_message="[]",
    )
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Visit),
        object_id=str(visit.pk),
        object_repr=str(visit),
        action_flag=CHANGE,
        change_message="[]",
    )
    ended = end_of(visit)

    assert purge_personal_data(now=ended + timedelta(days=DATA_DAYS - 1)).anonymised == []
    visitor.refresh_from_db()
    assert visitor.family_name == "Иванова"
    assert not visitor.is_erased

    result = purge_personal_data(now=ended + timedelta(days=DATA_DAYS + 1))

    assert result.anonymised == [visitor.pk]
    visitor.refresh_from_db()
    assert visitor.is_erased
    for name in ("family_name", "given_name", "middle_name", "phone", "email"):
        assert getattr(visitor, name) == ""
    assert visitor.national_id_encrypted == ""
    assert visitor.national_id_hash is None
    assert visitor.identity_match_hash is None
    assert not visitor.photo
    assert visitor.full_name == "Erased visitor" == str(visitor)
    # The visit stays for the statistics, without the student ID.
    visit.refresh_from_db()
    assert (visit.host_id, visit.status, visit.kind) == (host.pk, "checked_out", "student")
    assert visit.checked_in_at is not None
    assert end_of(visit) == ended
    assert (visit.student_id, visit.student_group, visit.course) == ("", "ИС-21", 2)
    passage.refresh_from_db()
    assert passage.visit_id == visit.pk
    assert passage.picture_state == PictureState.DELETED
    # No copy of the name elsewhere.
    notification = Notification.objects.get()
    assert "visitor_name" not in notification.params
    assert notification.params["door_name"] == "Вход"
    reprs = set(LogEntry.objects.values_list("object_repr", flat=True))
    assert reprs == {f"visitor #{visitor.pk}", f"visit #{visit.pk}"}
    stored = audit_text()
    for value in before:
        assert value not in stored
    assert AuditEntry.objects.get(action="visitor.anonymised").changes == {
        "photo": "none",  # deleted earlier, by the face retention
        "passage_pictures": 0,
        "visits_kept": 1,
        "notifications_scrubbed": 1,
    }

    # The ID number finds nobody; the same person registering again is a new visitor.
    assert look_up_visitor(national_id=iin, actor=reception) is None
    again = register_visitor(
        data=visitor_data(
            family_name="Иванова",
            given_name="Светлана",
            national_id=iin,
            photo_jpeg=portrait_jpeg(),
        ),
        actor=reception,
    )
    assert again.pk != visitor.pk
    assert again.person_code != visitor.person_code
    assert look_up_visitor(national_id=iin, actor=reception) == again
    assert again.visits.count() == 0
    assert visitor.visits.count() == 1


def test_erased_visitor_pages_show_a_placeholder(
    client: Any, staff_admin: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    visitor = kazakh_visitor(family_name="Нұрланова", given_name="Дана")
    visit = visit_of(visitor, host, guest_policy, start=timezone.now() - timedelta(hours=3))
    erase_visitor(visitor=visitor, actor=staff_admin, reason="Обращение субъекта от 02.12.2026")

    client.force_login(staff_admin)
    page = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    admin_page = client.get(reverse("admin:visitors_visitor_change", args=[visitor.pk]))

    assert "Erased visitor" in page
    assert "Нұрланова" not in page
    assert 'href="tel:' not in page
    assert admin_page.status_code == 200
    assert "Нұрланова" not in admin_page.content.decode()
    # Read-only: nothing of the person may be typed back in.
    assert not admin_page.context["has_change_permission"]


# --- A returning visitor whose face was deleted ----------------------------------------------

FIND = reverse("visits:register_lookup")
REGISTER = reverse("visits:register")


def desk_form(host: User, iin: str, **extra: Any) -> dict[str, Any]:
    start = (timezone.localtime() + timedelta(days=1)).replace(hour=14, minute=0)
    data = {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "duration": "60",
        "planned_start": start.strftime("%Y-%m-%dT%H:%M"),
        "planned_end": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "purpose": "Семинар",
        "access_policy": "",
        "single_pass": "",
        "host": str(host.pk),
        "visitor-family_name": "Ахметов",
        "visitor-given_name": "Нурлан",
        "visitor-phone": "+77017654321",
        "visitor-national_id": iin,
        "visitor-consent": "on",
    }
    data.update(extra)
    return data


def test_a_returning_visitor_whose_face_was_deleted_must_give_a_new_photo(
    client: Any, reception: User, host: User, guest_policy: AccessLevelPolicy, settings: Any
) -> None:
    settings.FACE_CHECK = True  # the new photo goes through the real face check
    iin = make_iin()
    visitor = kazakh_visitor(family_name="Ахметов", given_name="Нурлан", national_id=iin)
    old = visit_of(visitor, host, guest_policy, start=timezone.now() - timedelta(days=40))
    registered_long_ago(visitor, 40)
    assert purge_personal_data().faces_deleted == [visitor.pk]
    assert old.planned_end < timezone.now()

    client.force_login(reception)
    found = client.post(FIND, desk_form(host, iin))
    body = found.content.decode()
    assert found.status_code == 200
    assert "deleted after the retention period: take a new one" in body
    assert found.context["visitor_form"].photo_required is True
    token = found.context["visitor_form"]["returning"].value()

    refused = client.post(REGISTER, desk_form(host, iin, **{"visitor-returning": token}))

    assert refused.status_code == 400
    assert refused.context["visitor_form"].errors["photo"] == [
        "The photo of this visitor was deleted after the retention period: take a new one."
    ]
    assert Visit.objects.count() == 1

    photo = SimpleUploadedFile("face.jpg", portrait_jpeg(), content_type="image/jpeg")
    registered = client.post(
        REGISTER,
        desk_form(host, iin, **{"visitor-returning": token, "visitor-photo": photo}),
    )

    assert registered.status_code == 302, registered.content.decode()[:2000]
    visitor.refresh_from_db()
    assert visitor.photo
    assert face_path(visitor).exists()
    assert visitor.face_deleted_at is None
    assert Visit.objects.exclude(pk=old.pk).get().visitor_id == visitor.pk


def test_confirming_an_identity_whose_face_was_deleted_takes_the_new_face(
    host: User, reception: User, guest_policy: AccessLevelPolicy
) -> None:
    iin = make_iin()
    stored = kazakh_visitor(family_name="Омарова", given_name="Жанар", national_id=iin)
    visit_of(stored, host, guest_policy, start=timezone.now() - timedelta(days=40))
    registered_long_ago(stored, 40)
    purge_personal_data()
    # A host registers the same number: a record of its own, to confirm at the desk.
    claimant = register_visitor(
        data=visitor_data(
            family_name="Омарова", given_name="Жанар", national_id=iin, photo_jpeg=portrait_jpeg()
        ),
        actor=host,
    )
    assert claimant.needs_identity_check
    look_up_identity_match(claimant=claimant, actor=reception)

    with transaction.atomic():  # as visits.services.confirm_visitor_identity calls it
        holder, _ = merge_into_stored_identity(
            claimant=claimant, actor=reception, take_submitted=False
        )

    holder.refresh_from_db()
    assert holder.pk == stored.pk
    assert holder.photo
    assert face_path(holder).exists()
    assert holder.face_deleted_at is None


# --- Erasure on request ---------------------------------------------------------------------


def test_erase_is_refused_while_access_is_due_and_allowed_after_cancelling(
    host: User, reception: User, admin_user: User, guest_policy: AccessLevelPolicy
) -> None:
    iin = make_iin()
    visitor = kazakh_visitor(family_name="Петров", given_name="Андрей", national_id=iin)
    before = personal_values(visitor, iin)
    file = face_path(visitor)
    tomorrow = visit_of(
        visitor,
        host,
        guest_policy,
        start=timezone.now() + timedelta(days=1),
        status=VisitStatus.AWAITING,
    )

    with pytest.raises(ErasureRefused, match="cancel it or check the visitor out first"):
        erase_visitor(visitor=visitor, actor=admin_user, reason="Отзыв согласия")

    visitor.refresh_from_db()
    assert visitor.family_name == "Петров"
    assert file.exists()
    assert not visitor.is_erased
    assert not AuditEntry.objects.filter(action="visitor.erased").exists()

    visit_services.cancel(visit=tomorrow, actor=host, reason="Гость отказался")
    result = erase_visitor(
        visitor=visitor, actor=admin_user, reason="Отзыв согласия (заявление от 02.12.2026)"
    )

    visitor.refresh_from_db()
    assert visitor.is_erased
    assert not visitor.photo
    assert not file.exists()
    assert result.face_deleted
    assert result.visits_kept == 1
    assert look_up_visitor(national_id=iin, actor=reception) is None
    entry = AuditEntry.objects.get(action="visitor.erased")
    assert entry.actor_id == admin_user.pk
    assert entry.target_id == str(visitor.pk)
    assert entry.changes == {
        "reason": "Отзыв согласия (заявление от 02.12.2026)",
        "photo": "deleted",
        "passage_pictures": 0,
        "visits_kept": 1,
        "notifications_scrubbed": 0,
        "hcp_person": "never enrolled",
    }
    stored = audit_text()
    for value in before:
        assert value not in stored
    with pytest.raises(ValidationError, match="already been erased"):
        erase_visitor(visitor=visitor, actor=admin_user, reason="again")


def test_erase_needs_a_reason(admin_user: User) -> None:
    visitor = kazakh_visitor()
    with pytest.raises(ValidationError, match="Say why"):
        erase_visitor(visitor=visitor, actor=admin_user, reason="   ")
    visitor.refresh_from_db()
    assert not visitor.is_erased


@pytest.mark.parametrize("persona", ["host", "reception", "security", "no_role_user"])
def test_only_administrators_may_erase(request: Any, persona: str) -> None:
    user = request.getfixturevalue(persona)
    visitor = kazakh_visitor()

    with pytest.raises(PermissionDenied):
        erase_visitor(visitor=visitor, actor=user, reason="Просьба посетителя")

    visitor.refresh_from_db()
    assert not visitor.is_erased
    assert visitor.photo


def changelist_action(client: Any, visitor: Visitor, **extra: str) -> Any:
    return client.post(
        reverse("admin:visitors_visitor_changelist"),
        {"action": "erase_personal_data", "_selected_action": [str(visitor.pk)], **extra},
    )


def test_admin_action_asks_for_a_reason_and_a_confirmation_then_erases(
    client: Any, staff_admin: User
) -> None:
    visitor = kazakh_visitor(family_name="Ким", given_name="Виктория")
    client.force_login(staff_admin)

    asked = changelist_action(client, visitor)
    assert asked.status_code == 200
    assert "cannot be restored" in asked.content.decode()
    unconfirmed = changelist_action(client, visitor, apply="yes", reason="Ошибочная регистрация")
    assert unconfirmed.status_code == 400
    visitor.refresh_from_db()
    assert not visitor.is_erased

    done = changelist_action(
        client, visitor, apply="yes", reason="Ошибочная регистрация", confirm="on"
    )

    assert done.status_code == 302
    visitor.refresh_from_db()
    assert visitor.is_erased
    entry = AuditEntry.objects.get(action="visitor.erased")
    assert (entry.actor_id, entry.changes["reason"]) == (staff_admin.pk, "Ошибочная регистрация")


def test_admin_action_reports_a_refusal(
    client: Any, staff_admin: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    visitor = kazakh_visitor()
    visit_of(visitor, host, guest_policy, start=timezone.now(), status=VisitStatus.CHECKED_IN)
    client.force_login(staff_admin)

    done = changelist_action(client, visitor, apply="yes", reason="Просьба", confirm="on")

    assert done.status_code == 302
    messages = [str(m) for m in done.wsgi_request._messages]
    assert any("cannot be erased yet" in m for m in messages)
    visitor.refresh_from_db()
    assert not visitor.is_erased


def test_reception_has_no_erase_action(client: Any, reception: User) -> None:
    """Even with the admin site open and the visitor model's permissions, reception cannot
    erase: the action is neither offered nor carried out."""
    visitor = kazakh_visitor()
    reception.is_staff = True
    reception.save()
    reception.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_visitor", "change_visitor"])
    )
    client.force_login(reception)

    changelist = client.get(reverse("admin:visitors_visitor_changelist"))
    response = changelist_action(client, visitor, apply="yes", reason="Просьба", confirm="on")

    assert changelist.status_code == 200
    assert "erase_personal_data" not in changelist.content.decode()
    assert response.status_code == 302
    visitor.refresh_from_db()
    assert not visitor.is_erased
    assert not AuditEntry.objects.filter(action="visitor.erased").exists()


def test_erase_command(admin_user: User, host: User, guest_policy: AccessLevelPolicy) -> None:
    visitor = kazakh_visitor(family_name="Абдрахманов", given_name="Тимур")
    visit = visit_of(
        visitor,
        host,
        guest_policy,
        start=timezone.now() + timedelta(hours=2),
        status=VisitStatus.AWAITING,
    )
    with pytest.raises(CommandError, match="cannot be erased yet"):
        call_command("erase_visitor", str(visitor.pk), reason="Просьба посетителя")
    visit_services.cancel(visit=visit, actor=admin_user)
    out = StringIO()

    call_command("erase_visitor", visitor.person_code, reason="Просьба посетителя", stdout=out)

    visitor.refresh_from_db()
    assert visitor.is_erased
    assert f"visitor {visitor.pk}" in out.getvalue()
    assert "Абдрахманов" not in out.getvalue()
    entry = AuditEntry.objects.get(action="visitor.erased")
    assert entry.actor_id is None
    assert entry.actor_label == "manage.py erase_visitor"


def test_erase_command_checks_the_named_user(reception: User, admin_user: User) -> None:
    visitor = kazakh_visitor()
    with pytest.raises(CommandError, match="Only an administrator"):
        call_command("erase_visitor", str(visitor.pk), reason="x", user=reception.username)
    call_command(
        "erase_visitor",
        str(visitor.pk),
        reason="Просьба",
        user=admin_user.username,
        stdout=StringIO(),
    )
    assert AuditEntry.objects.get(action="visitor.erased").actor_id == admin_user.pk


# --- The periodic purge ---------------------------------------------------------------------


def due_visitors(host: User, policy: AccessLevelPolicy) -> tuple[Visitor, Visitor, Visitor]:
    """One past the data retention, one past the face retention only, one recent."""
    long_ago = kazakh_visitor(family_name="Смагулов", given_name="Арман")
    visit_of(long_ago, host, policy, start=timezone.now() - timedelta(days=DATA_DAYS + 5))
    registered_long_ago(long_ago, DATA_DAYS + 5)
    last_month = kazakh_visitor(family_name="Соколова", given_name="Мария")
    visit_of(last_month, host, policy, start=timezone.now() - timedelta(days=FACE_DAYS + 5))
    registered_long_ago(last_month, FACE_DAYS + 5)
    recent = kazakh_visitor(family_name="Тулегенова", given_name="Асель")
    visit_of(recent, host, policy, start=timezone.now() - timedelta(days=3))
    return long_ago, last_month, recent


def test_the_purge_is_idempotent(host: User, guest_policy: AccessLevelPolicy) -> None:
    long_ago, last_month, recent = due_visitors(host, guest_policy)

    first = tasks.purge_personal_data.run()
    second = tasks.purge_personal_data.run()

    assert first == {"faces_deleted": 1, "anonymised": 1, "passage_pictures": 0}
    assert second == {"faces_deleted": 0, "anonymised": 0, "passage_pictures": 0}
    for visitor in (long_ago, last_month, recent):
        visitor.refresh_from_db()
    assert long_ago.is_erased
    assert not long_ago.photo
    assert not last_month.is_erased
    assert not last_month.photo
    assert recent.photo
    assert not recent.is_erased
    assert AuditEntry.objects.filter(action="visitor.retention_purge").count() == 1
    assert AuditEntry.objects.filter(action="visitor.anonymised").count() == 1
    assert AuditEntry.objects.filter(action="visitor.face_expired").count() == 1


def test_the_purge_works_in_batches(host: User, guest_policy: AccessLevelPolicy) -> None:
    visitors = [kazakh_visitor(photo_jpeg=make_jpeg(color=(n, 90, 90))) for n in range(5)]
    for visitor in visitors:
        registered_long_ago(visitor, FACE_DAYS + 2)

    result = purge_personal_data(batch_size=2)

    assert sorted(result.faces_deleted) == sorted(v.pk for v in visitors)


def test_dry_run_changes_nothing_and_prints_ids_only(
    host: User, guest_policy: AccessLevelPolicy
) -> None:
    long_ago, last_month, recent = due_visitors(host, guest_policy)
    files = [face_path(v) for v in (long_ago, last_month, recent)]
    out = StringIO()

    call_command("purge_personal_data", dry_run=True, stdout=out)

    text = out.getvalue()
    assert f"would anonymise 1 visitor(s): {long_ago.pk}" in text
    assert f"would delete the face of 1 visitor(s): {last_month.pk}" in text
    for name in ("Смагулов", "Соколова", "Тулегенова", "Арман"):
        assert name not in text
    assert all(file.exists() for file in files)
    for visitor in (long_ago, last_month, recent):
        visitor.refresh_from_db()
        assert visitor.photo
        assert not visitor.is_erased
    assert not AuditEntry.objects.filter(action__startswith="visitor.retention").exists()

    call_command("purge_personal_data", stdout=out)

    long_ago.refresh_from_db()
    last_month.refresh_from_db()
    assert long_ago.is_erased
    assert not last_month.photo
    assert "anonymise 1 visitor(s)" in out.getvalue()


def test_two_purges_at_once_do_not_fail_and_do_everything_once(
    host: User, guest_policy: AccessLevelPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_ago, last_month, recent = due_visitors(host, guest_policy)
    more = [kazakh_visitor(photo_jpeg=make_jpeg(color=(n, 40, 90))) for n in range(4)]
    for visitor in more:
        registered_long_ago(visitor, FACE_DAYS + 2)

    # Both runs read the due visitors before either changes one: each then finds, on the
    # locked row, what the other already did.
    both_read = threading.Barrier(2)
    read_due = retention_module._due_ids

    def read_then_wait(*args: Any) -> list[int]:  # every batch read first, then both go
        ids = list(read_due(*args))
        both_read.wait(timeout=30)
        return ids

    monkeypatch.setattr(retention_module, "_due_ids", read_then_wait)

    outcomes = run_together(purge_personal_data, purge_personal_data)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    faces = sorted(pk for o in outcomes for pk in o.faces_deleted)
    anonymised = sorted(pk for o in outcomes for pk in o.anonymised)
    assert faces == sorted([last_month.pk, *(v.pk for v in more)])
    assert anonymised == [long_ago.pk]
    assert AuditEntry.objects.filter(action="visitor.face_expired").count() == 5
    assert AuditEntry.objects.filter(action="visitor.anonymised").count() == 1
    recent.refresh_from_db()
    assert recent.photo


# --- Settings -------------------------------------------------------------------------------


def test_a_face_kept_longer_than_the_identity_is_refused_at_start(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": "src:.",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PROPUSK_FACE_RETENTION_DAYS": "400",
        "PROPUSK_VISITOR_DATA_RETENTION_DAYS": "365",
        "PROPUSK_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode != 0
    assert "PROPUSK_FACE_RETENTION_DAYS must not be above" in done.stderr
