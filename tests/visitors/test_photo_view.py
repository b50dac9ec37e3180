"""Faces follow the visit: served only for a visit the user may open, each view audited.

``visits:photo`` serves the face of a visit's visitor: administrators for any visit,
reception and security for the desk's day (today's visits, anyone inside), a host for their
own visits except cancelled ones. ``visitors:photo`` (a face outside any visit) is for
administrators and for the session whose audited look-up found that visitor.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.factories import make_visitor
from tests.visits.conftest import NOW


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def visitor(db):
    return make_visitor()


def _visit(visitor, host, policy, *, start=NOW, status=VisitStatus.AWAITING):
    return Visit.objects.create(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        access_policy=policy,
        planned_start=start,
        planned_end=start + dt.timedelta(hours=2),
        status=status,
    )


@pytest.fixture
def today_visit(frozen, visitor, host, guest_policy):
    return _visit(visitor, host, guest_policy)


@pytest.fixture
def old_visit(frozen, visitor, host, guest_policy):
    """Last month's visit of the same visitor."""
    return _visit(
        visitor, host, guest_policy, start=NOW - dt.timedelta(days=30), status=VisitStatus.NO_SHOW
    )


def _face(client, user, visit):
    client.force_login(user)
    return client.get(reverse("visits:photo", args=[visit.pk]))


@pytest.mark.parametrize("persona", ["admin_user", "security", "reception", "host"])
def test_those_who_open_todays_visit_see_its_face_and_each_view_is_audited(
    client, request, today_visit, persona
):
    user = request.getfixturevalue(persona)
    response = _face(client, user, today_visit)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response.content[:2] == b"\xff\xd8"
    _face(client, user, today_visit)
    views = AuditEntry.objects.filter(action="visitor.photo_viewed")
    assert views.count() == 2  # every view, not only the first
    entry = views.first()
    assert entry is not None
    assert (entry.actor, entry.target_id) == (user, str(today_visit.visitor_id))
    assert entry.changes == {"visit": today_visit.pk}


def test_reception_and_security_cannot_walk_old_visits_for_faces(
    client, reception, security, admin_user, old_visit
):
    """The review fetched every face by walking ids: past visits give none to the desk."""
    assert _face(client, reception, old_visit).status_code == 404  # cannot open the visit
    assert _face(client, security, old_visit).status_code == 404  # may open it, no face
    page = client.get(reverse("visits:detail", args=[old_visit.pk])).content.decode()
    assert reverse("visits:photo", args=[old_visit.pk]) not in page
    assert "shown for today's visits" in page
    assert _face(client, admin_user, old_visit).status_code == 200
    assert AuditEntry.objects.filter(action="visitor.photo_viewed").count() == 1


def test_a_host_sees_faces_of_own_visits_only_and_not_once_cancelled(
    client, host, other_host, today_visit, old_visit
):
    assert _face(client, host, old_visit).status_code == 200
    assert _face(client, other_host, today_visit).status_code == 404
    Visit.objects.filter(pk=today_visit.pk).update(status=VisitStatus.CANCELLED)
    assert _face(client, host, today_visit).status_code == 404


def test_no_role_and_anonymous_get_no_face(client, no_role_user, today_visit):
    assert _face(client, no_role_user, today_visit).status_code == 403
    client.logout()
    response = client.get(reverse("visits:photo", args=[today_visit.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert not AuditEntry.objects.filter(action="visitor.photo_viewed").exists()


def test_visit_without_a_face_is_404(client, admin_user, frozen, host, guest_policy):
    visit = _visit(make_visitor(photo_jpeg=None), host, guest_policy)
    assert _face(client, admin_user, visit).status_code == 404


def test_post_is_refused(client, admin_user, today_visit):
    client.force_login(admin_user)
    assert client.post(reverse("visits:photo", args=[today_visit.pk])).status_code == 405


# --- A face outside any visit -----------------------------------------------------------


@pytest.mark.parametrize("persona", ["security", "reception", "host"])
def test_a_visitors_face_by_id_is_not_served_without_a_look_up(
    client, request, persona, today_visit
):
    client.force_login(request.getfixturevalue(persona))
    url = reverse("visitors:photo", args=[today_visit.visitor_id])
    assert client.get(url).status_code == 404


def test_administrators_see_a_visitors_face_by_id(client, admin_user, visitor):
    client.force_login(admin_user)
    assert client.get(reverse("visitors:photo", args=[visitor.pk])).status_code == 200
    assert client.get(reverse("visitors:photo", args=[999999])).status_code == 404
    entry = AuditEntry.objects.get(action="visitor.photo_viewed")
    assert entry.changes == {"via": "look-up"}
