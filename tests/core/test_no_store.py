"""Pages with personal data say `Cache-Control: no-store, private`; static files do not."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation, revoke_invitation
from propusk.visits.models import Visit, VisitKind
from tests.factories import make_iin, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(host, guest_policy):
    visitor = make_visitor(
        family_name="Жумабекова", given_name="Әсел", national_id=make_iin(), actor=None
    )
    start = timezone.now() + timedelta(hours=1)
    visit = Visit.objects.create(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        access_policy=guest_policy,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
    )
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Защита диссертации",
        department=None,
    )
    return {"visitor": visitor, "visit": visit, "invitation": invitation}


def assert_no_store(response, what):
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert {"no-store", "private"} <= directives, (what, response.get("Cache-Control"))
    assert response.get("Pragma") == "no-cache", what


def _pages(objects):
    visit, invitation = objects["visit"], objects["invitation"]
    return {
        "admin_user": [
            reverse("visits:list"),
            reverse("visits:reception"),
            reverse("visits:register"),
            reverse("visits:detail", args=[visit.pk]),
            reverse("invitations:list"),
            reverse("invitations:detail", args=[invitation.pk]),
            reverse("visitors:photo", args=[objects["visitor"].pk]),
            "/visits/999999/",  # 404 page
        ],
        "reception": [
            reverse("visits:reception"),
            reverse("visits:register"),
            reverse("visits:detail", args=[visit.pk]),
            reverse("home"),  # a redirect
        ],
        "security": [reverse("visits:list"), reverse("visits:reception")],
        "host": [
            reverse("visits:list"),
            reverse("visits:register"),
            reverse("visits:detail", args=[visit.pk]),
            reverse("invitations:list"),
            reverse("invitations:create"),
            reverse("invitations:detail", args=[invitation.pk]),
            reverse("visits:reception"),  # 403 page
        ],
        "no_role_user": [reverse("visits:list")],  # 403 page
    }


@pytest.mark.parametrize("who", ["admin_user", "reception", "security", "host", "no_role_user"])
def test_every_page_of_a_signed_in_user_is_not_stored(client, request, objects, who):
    client.force_login(request.getfixturevalue(who))

    for url in _pages(objects)[who]:
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), url
        assert_no_store(response, url)


def test_admin_pages_are_not_stored(client, admin_user, objects):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)

    for url in (
        reverse("admin:index"),
        reverse("admin:visitors_visitor_changelist"),
        reverse("admin:visitors_visitor_change", args=[objects["visitor"].pk]),
        reverse("admin:audit_auditentry_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_store(response, url)


def test_a_post_answer_is_not_stored(client, reception, objects):
    client.force_login(reception)

    response = client.post(reverse("visits:register"), {"visitor-family_name": "Қасымов"})

    assert response.status_code == 400
    assert_no_store(response, "register with errors")


def test_every_answer_of_the_public_invitation_page_is_not_stored(client, host, objects):
    invitation = objects["invitation"]
    url = reverse("invitations:public", args=[invitation.token])

    assert_no_store(client.get(url), "the form")
    invalid = client.post(url, {"family_name": "Нұрланов"})
    assert invalid.status_code == 400
    assert_no_store(invalid, "the form with errors")
    unknown = client.get(reverse("invitations:public", args=["no-such-link-" + "x" * 30]))
    assert unknown.status_code == 404
    assert_no_store(unknown, "an unknown link")
    revoke_invitation(invitation=invitation, actor=host)
    gone = client.get(url)
    assert gone.status_code == 410
    assert_no_store(gone, "a withdrawn link")


def test_anonymous_pages_without_personal_data_are_left_alone(client, db):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert response.get("Pragma") is None  # the login page keeps Django's own never_cache


# live_server makes the test transactional: serialized_rollback brings back what the flush after it
# removes (the role groups, content types), as the other live-server tests do.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_static_files_are_not_affected(live_server, client, admin_user):
    client.force_login(admin_user)
    cookies = {"sessionid": client.cookies["sessionid"].value}

    response = httpx.get(f"{live_server.url}/static/propusk/app.css", cookies=cookies, timeout=10)

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers.get("Pragma") is None
