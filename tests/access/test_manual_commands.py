"""``manage.py access``: the manual operations for scripts - the same services, roles, reasons
and audit as the admin - and ``show``; nothing printed holds a name, a face or an ID number."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from propusk.access.models import AccessHold, AccessWork, HcpPerson, WorkPriority, WorkState
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit
from tests.factories import make_iin

pytestmark = pytest.mark.django_db

Register = Callable[..., Visit]
IIN = make_iin()


def run(*args: str) -> str:
    out = StringIO()
    call_command("access", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def visit(register: Register) -> Visit:
    return register(family_name="Касымова", given_name="Жанар", national_id=IIN)


def assert_nothing_personal(output: str, visit: Visit) -> None:
    for secret in (visit.visitor.family_name, visit.visitor.given_name, IIN, ".jpg"):
        assert secret not in output


def test_revoke_and_restore_by_id_and_by_person_code(
    visit: Visit, security: User, admin_user: User
) -> None:
    visitor = visit.visitor

    output = run(
        "revoke", "--visitor", str(visitor.pk), "--reason", "Ночная смена", "--user", "security"
    )

    assert output.strip() == (
        f"visitor {visitor.pk} ({visitor.person_code}): access revoked: the reconciler removes "
        "it from HCP now"
    )
    hold = AccessHold.objects.get(visitor=visitor)
    assert (hold.reason, hold.created_by) == ("Ночная смена", security)
    assert AccessWork.objects.get(person_code=visitor.person_code).priority == WorkPriority.REVOKE
    again = run("revoke", "--visitor", visitor.person_code, "--reason", "x1", "--user", "admin")
    assert "already revoked" in again

    restored = run(
        "restore", "--visitor", visitor.person_code, "--reason", "Утро", "--user", "admin"
    )
    assert "access restored" in restored
    hold.refresh_from_db()
    assert hold.released_by == admin_user
    actions = list(
        AuditEntry.objects.filter(action__startswith="access.")
        .order_by("pk")
        .values_list("action", "actor__username", "changes__reason")
    )
    assert actions == [
        ("access.revoked_now", "security", "Ночная смена"),
        ("access.restored", "admin", "Утро"),
    ]
    assert_nothing_personal(output + again + restored, visit)


def test_reenrol_resync_retry_and_cancel(visit: Visit, reception: User, admin_user: User) -> None:
    visitor = visit.visitor
    code = visitor.person_code
    AccessWork.objects.all().delete()
    HcpPerson.objects.create(
        person_code=code, visitor_id=visitor.pk, person_id="9", face_version=str(visitor.photo.name)
    )

    assert "the face will be sent to HCP again" in run(
        "reenrol", "--visitor", code, "--reason", "Новое фото", "--user", "reception"
    )
    assert HcpPerson.objects.get(person_code=code).face_version == ""
    assert "already due" in run(
        "resync", "--visitor", code, "--reason", "Проверка", "--user", "reception"
    )
    AccessWork.objects.filter(person_code=code).update(state=WorkState.FAILED)
    assert "due again now" in run(
        "retry", "--visitor", code, "--reason", "HCP снова доступен", "--user", "reception"
    )
    assert AccessWork.objects.get(person_code=code).state == WorkState.PENDING
    assert "the work is cancelled" in run(
        "cancel", "--visitor", code, "--reason", "Ошибка", "--user", "admin"
    )
    assert not AccessWork.objects.exists()
    assert "no such work: nothing changed" in run(
        "cancel", "--visitor", code, "--reason", "Ошибка", "--user", "admin"
    )
    assert AuditEntry.objects.filter(action__startswith="access.").count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["revoke", "--reason", "Причина", "--user", "reception"], "refused: You are not allowed"),
        (["revoke", "--reason", "", "--user", "security"], "refused: Give a reason"),
        (["revoke", "--reason", f"ИИН {IIN}", "--user", "security"], "refused: Do not put an ID"),
        (["revoke", "--reason", "Причина"], "--user is required"),
        (["revoke", "--reason", "Причина", "--user", "nobody-here"], "no active user"),
        (["cancel", "--reason", "Причина", "--user", "reception"], "refused: You are not allowed"),
    ],
)
def test_refusals_exit_with_their_reason_and_change_nothing(
    visit: Visit, security: User, reception: User, args: list[str], message: str
) -> None:
    before = list(AccessWork.objects.values())

    with pytest.raises(CommandError, match=message) as raised:
        run(args[0], "--visitor", str(visit.visitor_id), *args[1:])

    assert IIN not in str(raised.value)
    assert not AccessHold.objects.exists()
    assert list(AccessWork.objects.values()) == before
    assert not AuditEntry.objects.filter(action__startswith="access.").exists()


def test_an_unknown_visitor_is_an_error(db: None, admin_user: User) -> None:
    with pytest.raises(CommandError, match="no visitor 999"):
        run("show", "--visitor", "999")
    with pytest.raises(CommandError, match="no visitor 999"):
        run("resync", "--visitor", "999", "--reason", "Проверка", "--user", "admin")


def test_show_prints_desired_confirmed_work_and_hold_without_personal_data(
    visit: Visit, security: User
) -> None:
    visitor = visit.visitor
    AccessHold.objects.create(visitor=visitor, reason="Проверка", created_by=security)
    HcpPerson.objects.create(
        person_code=visitor.person_code,
        visitor_id=visitor.pk,
        person_id="12",
        access_level_ids=["1"],
        face_version=str(visitor.photo.name),
        face_rejected_reason="HCP 4: [faceData parameter error] too small",
    )

    output = run("show", "--visitor", str(visitor.pk))

    assert f"HCP person code {visitor.person_code}" in output
    assert "status: waiting" in output  # the hold's revocation is on its way
    assert "desired: no access (on hold)" in output
    assert "confirmed: person 12" in output
    assert "levels 1 (Guests)" in output
    assert "face rejected (HCP 4: [faceData parameter error] too small)" in output
    assert "work: pending, grant" in output
    assert "hold: since" in output
    assert "by security: Проверка" in output
    assert_nothing_personal(output, visit)
