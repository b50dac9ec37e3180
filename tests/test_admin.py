"""The admin: every model's pages load for an administrator; the rules that keep it safe."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.models import Department
from propusk.audit.models import AuditEntry
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.factories import make_iin, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_admin(admin_user: User) -> User:
    """The administrator persona, with the admin site open to them (as seed_demo makes it)."""
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    return admin_user


@pytest.fixture
def objects(staff_admin, host, department, guest_policy):
    visitor = make_visitor(national_id=make_iin())
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    visit = Visit.objects.create(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        access_policy=guest_policy,
        planned_start=start,
        planned_end=start + dt.timedelta(hours=2),
    )
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=start,
        planned_end=start + dt.timedelta(hours=3),
        max_uses=5,
    )
    return {
        "accounts.department": department,
        "auth.user": host,
        "access.accesslevelpolicy": guest_policy,
        "visitors.visitor": visitor,
        "visits.visit": visit,
        "visits.visitgroup": invitation.group,
        "invitations.invitation": invitation,
        "audit.auditentry": AuditEntry.objects.first(),
    }


def _url(label: str, page: str, *args: Any) -> str:
    app, model = label.split(".")
    return reverse(f"admin:{app}_{model}_{page}", args=args)


def test_index_and_every_changelist_and_change_form_load(client, staff_admin, objects):
    client.force_login(staff_admin)
    assert client.get(reverse("admin:index")).status_code == 200
    for label, obj in objects.items():
        assert client.get(_url(label, "changelist")).status_code == 200, label
        assert client.get(_url(label, "change", obj.pk)).status_code == 200, label


def test_changelist_search_works(client, staff_admin, objects):
    client.force_login(staff_admin)
    for label in objects:
        response = client.get(_url(label, "changelist"), {"q": "a"})
        assert response.status_code == 200, label


def test_non_staff_user_is_refused(client, host, objects):
    client.force_login(host)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    response = client.get(_url("visitors.visitor", "changelist"))
    assert response.status_code == 302


def test_visitor_admin_never_shows_the_national_id(client, staff_admin, objects):
    visitor = objects["visitors.visitor"]
    client.force_login(staff_admin)
    face = reverse("visitors:photo", args=[visitor.pk])  # the protected, audited view
    for url, shows_face in (
        (_url("visitors.visitor", "changelist"), False),  # a page of faces is a bulk download
        (_url("visitors.visitor", "change", visitor.pk), True),
    ):
        html = client.get(url).content.decode()
        assert visitor.national_id_encrypted not in html
        assert visitor.national_id_hash not in html
        assert (face in html) is shows_face


FIND_URL = "admin:visitors_visitor_find_by_national_id"


def _request_lines(response: Any) -> list[str]:
    """What an access log would print for each request of a (followed) response."""
    lines = [f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}"]
    lines.append(response.request.get("QUERY_STRING", ""))
    lines.extend(url for url, _status in getattr(response, "redirect_chain", []))
    return lines


def test_visitor_found_by_national_id_through_a_post(client, staff_admin):
    iin = make_iin()
    wanted = make_visitor(national_id=iin, family_name="Сейтжанова", given_name="Үміт")
    make_visitor(national_id=make_iin(), family_name="Омарова", given_name="Ғалия")
    client.force_login(staff_admin)
    changelist = _url("visitors.visitor", "changelist")
    assert f'action="{reverse(FIND_URL)}"' in client.get(changelist).content.decode()

    response = client.post(reverse(FIND_URL), {"national_id": iin}, follow=True)

    assert response.redirect_chain == [(f"{changelist}?id__exact={wanted.pk}", 302)]
    assert not [line for line in _request_lines(response) if iin in line]
    html = response.content.decode()
    assert "Сейтжанова" in html
    assert "Омарова" not in html
    assert iin not in html
    assert wanted.national_id_encrypted not in html
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert (entry.actor, entry.target_id) == (staff_admin, str(wanted.pk))
    assert entry.changes["result"] == "found"
    assert iin not in str(entry.changes)


def test_national_id_in_the_search_box_looks_nothing_up(client, staff_admin):
    """The search box is a GET: an ID number typed there would be in the URL and the access
    log, so it only searches names and contacts, and nothing is looked up or audited."""
    iin = make_iin()
    make_visitor(national_id=iin, family_name="Сейтжанова")
    client.force_login(staff_admin)

    response = client.get(_url("visitors.visitor", "changelist"), {"q": iin})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Сейтжанова" not in html
    assert "0 results" in html
    assert not AuditEntry.objects.filter(action__startswith="visitor.look").exists()


def test_unknown_national_id_says_so_and_is_audited(client, staff_admin):
    make_visitor(national_id=make_iin(), family_name="Омарова")
    client.force_login(staff_admin)

    response = client.post(reverse(FIND_URL), {"national_id": make_iin()}, follow=True)

    assert response.redirect_chain == [(_url("visitors.visitor", "changelist"), 302)]
    assert "No visitor with this ID number." in response.content.decode()
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert entry.changes["result"] == "not_found"


@pytest.mark.parametrize("typed", ["123456789012", "12345", ""])
def test_malformed_national_id_is_explained_and_finds_nothing(client, staff_admin, typed):
    client.force_login(staff_admin)

    response = client.post(reverse(FIND_URL), {"national_id": typed})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="find-by-national-id"' in html
    assert "errorlist" in html
    assert not AuditEntry.objects.filter(target_id__gt="").exists()


@override_settings(LOOKUP_LIMIT=2, LOOKUP_WINDOW_SECONDS=600)
def test_find_by_national_id_is_throttled_like_the_desk(client, staff_admin):
    iin = make_iin()
    make_visitor(national_id=iin, family_name="Сейтжанова")
    client.force_login(staff_admin)
    for _attempt in range(2):
        assert client.post(reverse(FIND_URL), {"national_id": iin}).status_code == 302

    response = client.post(reverse(FIND_URL), {"national_id": iin}, follow=True)

    assert "Too many look-ups; try again in" in response.content.decode()
    assert response.redirect_chain == [(_url("visitors.visitor", "changelist"), 302)]
    assert AuditEntry.objects.filter(action="visitor.looked_up").count() == 2
    assert AuditEntry.objects.filter(action="visitor.lookup_throttled").count() == 1


def test_find_by_national_id_is_a_post_with_csrf(staff_admin):
    iin = make_iin()
    make_visitor(national_id=iin)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_admin)

    assert client.get(reverse(FIND_URL), {"national_id": iin}).status_code == 405
    assert client.post(reverse(FIND_URL), {"national_id": iin}).status_code == 403  # no token
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


def test_staff_without_the_look_up_role_neither_sees_nor_uses_the_find_form(
    client, security, guest_policy
):
    """Security may be given the admin's view permission, never the look-up."""
    from django.contrib.auth.models import Permission

    iin = make_iin()
    make_visitor(national_id=iin)
    security.is_staff = True
    security.save()
    security.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    client.force_login(security)

    changelist = client.get(_url("visitors.visitor", "changelist"))
    assert changelist.status_code == 200
    assert "find-by-national-id" not in changelist.content.decode()
    assert client.post(reverse(FIND_URL), {"national_id": iin}).status_code == 403
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


@pytest.mark.parametrize(
    "name",
    ["\u202eвоннаИ", "\u200b", "Иван\u200d", "\u00ad", "\u2066Иванов\u2069", "---"],  # noqa: RUF001
)
def test_admin_refuses_a_name_with_invisible_characters_or_no_letter(
    client, staff_admin, objects, name
):
    visitor = objects["visitors.visitor"]
    client.force_login(staff_admin)
    form = {
        "family_name": name,
        "given_name": visitor.given_name,
        "middle_name": "",
        "phone": visitor.phone,
        "email": visitor.email,
    }

    response = client.post(_url("visitors.visitor", "change", visitor.pk), form)

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    visitor.refresh_from_db()
    assert visitor.family_name == "Ivanova"


def test_admin_edits_are_in_the_audit_log_with_field_names_only(client, staff_admin, objects):
    visitor = objects["visitors.visitor"]
    client.force_login(staff_admin)
    url = _url("visitors.visitor", "change", visitor.pk)
    form = {
        "family_name": "Renamed",
        "given_name": visitor.given_name,
        "middle_name": "",
        "phone": "+77000000001",
        "email": visitor.email,
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="admin.changed")
    assert (entry.actor, entry.target_id) == (staff_admin, str(visitor.pk))
    assert sorted(entry.changes["fields"]) == ["Family name", "Phone"]
    assert "Renamed" not in str(entry.changes)


def test_visitor_cannot_be_added_in_admin(client, staff_admin):
    client.force_login(staff_admin)
    assert client.get(_url("visitors.visitor", "add")).status_code == 403


def test_audit_log_is_strictly_read_only(client, staff_admin, objects):
    entry = objects["audit.auditentry"]
    client.force_login(staff_admin)
    assert client.get(_url("audit.auditentry", "add")).status_code == 403
    assert client.get(_url("audit.auditentry", "delete", entry.pk)).status_code == 403
    response = client.post(_url("audit.auditentry", "change", entry.pk), {"action": "forged"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.action != "forged"
    html = client.get(_url("audit.auditentry", "changelist")).content.decode()
    assert 'name="action"' not in html  # no bulk actions (no "delete selected")


def test_access_policy_ids_are_typed_comma_separated(client, staff_admin):
    client.force_login(staff_admin)
    data = {
        "key": "contractors",
        "name": "Contractors",
        "hcp_access_level_ids": " 4, 5 ,, 6 ",
        "early_arrival_minutes": 15,
        "late_leave_minutes": 15,
        "reentry_grace_minutes": 0,
        "is_active": "on",
    }
    response = client.post(_url("access.accesslevelpolicy", "add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = AccessLevelPolicy.objects.get(key="contractors")
    assert policy.hcp_access_level_ids == ["4", "5", "6"]
    html = client.get(_url("access.accesslevelpolicy", "change", policy.pk)).content.decode()
    assert 'value="4, 5, 6"' in html


def test_access_policy_without_ids_is_refused_with_a_message(client, staff_admin):
    client.force_login(staff_admin)
    data = {
        "key": "empty",
        "name": "Empty",
        "hcp_access_level_ids": " , ",
        "early_arrival_minutes": 15,
        "late_leave_minutes": 15,
        "reentry_grace_minutes": 0,
    }
    response = client.post(_url("access.accesslevelpolicy", "add"), data)
    assert response.status_code == 200
    assert "non-empty list of access level ids" in response.content.decode()
    assert not AccessLevelPolicy.objects.filter(key="empty").exists()


def test_visit_status_and_time_are_read_only(client, staff_admin, objects):
    visit = objects["visits.visit"]
    client.force_login(staff_admin)
    url = _url("visits.visit", "change", visit.pk)
    html = client.get(url).content.decode()
    assert 'name="status"' not in html
    assert 'name="planned_start"' not in html
    assert "read-only here" in html
    response = client.post(
        url,
        {
            "purpose": "Corrected purpose",
            "department": "",
            "student_id": "",
            "student_group": "",
            "course": "",
            "status": VisitStatus.CHECKED_OUT,
        },
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.purpose == "Corrected purpose"
    assert visit.status == VisitStatus.AWAITING
    assert client.get(_url("visits.visit", "add")).status_code == 403


def test_user_admin_edits_the_employee_profile(client, staff_admin, host):
    client.force_login(staff_admin)
    html = client.get(_url("auth.user", "change", host.pk)).content.decode()
    assert "profile-0-department" in html
    html = client.get(_url("auth.user", "changelist")).content.decode()
    assert "Host employee" in html  # the roles column


def test_invitation_admin_withdraws_through_the_service(client, staff_admin, objects):
    invitation = objects["invitations.invitation"]
    client.force_login(staff_admin)
    response = client.post(
        _url("invitations.invitation", "changelist"),
        {"action": "withdraw", "_selected_action": [invitation.pk]},
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditEntry.objects.filter(action="invitation.revoked").exists()


def test_department_admin(client, staff_admin):
    client.force_login(staff_admin)
    response = client.post(
        _url("accounts.department", "add"), {"name": "Library", "is_active": "on"}
    )
    assert response.status_code == 302
    assert Department.objects.filter(name="Library").exists()
