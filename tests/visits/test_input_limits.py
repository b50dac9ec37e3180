# Russian and Kazakh words in the data look like Latin ones to ruff's confusable check.
# ruff: noqa: RUF001

"""Input limits: visits and invitation links cannot reach into the far future (the year 9999
was accepted), and text others read holds no invisible characters.

A visit starts at most ``PROPUSK_VISIT_PLAN_AHEAD_DAYS`` (366) days ahead, and a link stays
open at most as long: a clear error, never a 500, and nothing created.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.invitations.models import Invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.factories import make_jpeg

from .conftest import NOW


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def _register(client, start: str, end: str):
    return client.post(
        reverse("visits:register"),
        {
            "submission_token": str(uuid.uuid4()),
            "mode": "later",
            "kind": "guest",
            "planned_start": start,
            "planned_end": end,
            "visitor-family_name": "Жұмабаев",
            "visitor-given_name": "Арман",
            "visitor-phone": "+7 701 234 56 78",
            "visitor-consent": "on",
            "visitor-photo": SimpleUploadedFile("f.jpg", make_jpeg(), content_type="image/jpeg"),
        },
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [("9999-12-31T10:00", "9999-12-31T12:00"), ("2031-03-14T10:00", "2031-03-14T12:00")],
)
def test_a_visit_too_far_ahead_is_refused(client, frozen, host, guest_policy, start, end):
    client.force_login(host)
    response = _register(client, start, end)
    assert response.status_code == 400
    assert "at most 366 days ahead" in response.content.decode()
    assert not Visit.objects.exists()
    assert not Visitor.objects.exists()


def test_a_visit_within_a_year_is_accepted(client, frozen, host, guest_policy):
    client.force_login(host)
    assert _register(client, "2031-03-12T09:00", "2031-03-12T12:00").status_code == 302


def test_moving_a_visit_to_the_year_9999_is_refused(client, frozen, host, make_visit):
    visit = make_visit(host=host)
    client.force_login(host)
    response = client.post(
        reverse("visits:change_window", args=[visit.pk]),
        {"window-planned_start": "9999-12-31T10:00", "window-planned_end": "9999-12-31T12:00"},
    )
    assert response.status_code == 400
    assert "at most 366 days ahead" in response.content.decode()
    before = visit.planned_start
    visit.refresh_from_db()
    assert visit.planned_start == before


@pytest.mark.parametrize("expires", ["9999-12-31T23:59", "2031-06-01T10:00"])
def test_a_link_open_too_long_is_refused(client, frozen, host, guest_policy, expires):
    client.force_login(host)
    response = client.post(
        reverse("invitations:create"),
        {
            "kind": "single",
            "purpose": "Consultation",
            "access_policy": guest_policy.pk,
            "max_uses": 1,
            "expires_at": expires,
        },
    )
    assert response.status_code == 400
    assert "at most 366 days" in response.content.decode()
    assert not Invitation.objects.exists()


# --- Text others read: no invisible or direction-override characters ----------------------


@pytest.mark.parametrize("purpose", ["\u202eналожение", "\u200b\u200b", "Seminar\u2066x"])
def test_a_purpose_with_invisible_characters_is_refused(
    client, frozen, host, guest_policy, purpose
):
    client.force_login(host)
    data = {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": purpose,
        "visitor-family_name": "Жұмабаев",
        "visitor-given_name": "Арман",
        "visitor-phone": "+7 701 234 56 78",
        "visitor-consent": "on",
        "visitor-photo": SimpleUploadedFile("f.jpg", make_jpeg(), content_type="image/jpeg"),
    }
    response = client.post(reverse("visits:register"), data)
    assert response.status_code == 400
    assert "invisible or control characters" in response.content.decode() or (
        "at least one letter or digit" in response.content.decode()
    )
    assert not Visit.objects.exists()
    assert not Visitor.objects.exists()
