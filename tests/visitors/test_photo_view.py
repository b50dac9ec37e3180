"""Who may see a visitor's face: staff roles and the hosts of that visitor's visits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from propusk.visits.models import Visit, VisitKind
from tests.factories import make_visitor


@pytest.fixture
def visitor(db):
    return make_visitor()


def _visit_for(visitor, host, policy):
    start = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    return Visit.objects.create(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        access_policy=policy,
        planned_start=start,
        planned_end=start + dt.timedelta(hours=2),
    )


def _get(client, user, visitor):
    if user is not None:
        client.force_login(user)
    return client.get(reverse("visitors:photo", args=[visitor.pk]))


@pytest.mark.parametrize("persona", ["admin_user", "security", "reception"])
def test_staff_roles_see_the_photo(client, request, visitor, persona):
    response = _get(client, request.getfixturevalue(persona), visitor)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response.content[:2] == b"\xff\xd8"


def test_host_of_a_visit_sees_the_photo(client, visitor, host, guest_policy):
    _visit_for(visitor, host, guest_policy)
    assert _get(client, host, visitor).status_code == 200


def test_other_host_gets_404(client, visitor, host, other_host, guest_policy):
    _visit_for(visitor, host, guest_policy)
    assert _get(client, other_host, visitor).status_code == 404


def test_no_role_gets_404(client, visitor, no_role_user):
    assert _get(client, no_role_user, visitor).status_code == 404


def test_anonymous_is_sent_to_login(client, visitor):
    response = _get(client, None, visitor)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_visitor_without_photo_is_404(client, admin_user):
    visitor = make_visitor(photo_jpeg=None)
    assert _get(client, admin_user, visitor).status_code == 404


def test_unknown_visitor_is_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("visitors:photo", args=[999999])).status_code == 404


def test_post_is_refused(client, admin_user, visitor):
    client.force_login(admin_user)
    assert client.post(reverse("visitors:photo", args=[visitor.pk])).status_code == 405
