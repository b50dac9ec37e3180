"""Passages of a visit through the API, camera pictures by their own audited endpoint, and a
cancellation through the API reaching HikCentral - with the HCP simulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.audit.models import AuditEntry
from propusk.passages.models import Passage, PictureState
from propusk.passages.tasks import fetch_picture_now
from propusk.visits.models import Visit
from tests.access.conftest import ENTRANCE, hcp_person
from tests.passages.conftest import Turnstile

pytestmark = pytest.mark.django_db


def test_passages_with_pictures_only_for_those_who_see_the_face(
    enrolled: Callable[..., Visit],
    turnstile: Turnstile,
    hcp: HikCentralClient,
    token_client,
    host: User,
    other_host: User,
    security: User,
) -> None:
    visit = enrolled()
    event = turnstile.pass_(ENTRANCE, visit=visit)
    passage = Passage.objects.get(event=event)
    assert fetch_picture_now(passage.pk, client=hcp) == PictureState.STORED

    client = token_client(host)
    [row] = client.get(f"/api/v1/visits/{visit.pk}/passages/").json()
    assert row["direction"] == "in"
    assert row["granted"] is True
    assert row["door"]["code"] == ENTRANCE
    assert row["denial_reason"] == ""
    picture_url = row["picture_url"]
    assert picture_url.endswith(f"/api/v1/passages/{passage.pk}/picture/")

    picture = client.get(picture_url)
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/jpeg"
    entry = AuditEntry.objects.get(action="passage.picture_viewed")
    assert entry.actor == host
    assert "via API token" in entry.actor_label

    # Another host: neither the visit nor the picture exists for them.
    other = token_client(other_host)
    assert other.get(f"/api/v1/visits/{visit.pk}/passages/").status_code == 404
    assert other.get(picture_url).status_code == 404
    assert AuditEntry.objects.filter(action="passage.picture_viewed").count() == 1


def test_a_cancellation_through_the_api_ends_access_in_hcp(
    enrolled: Callable[..., Visit],
    token_client,
    reception: User,
    site: SimulatorHandle,
    drain,
) -> None:
    visit = enrolled()
    code = visit.visitor.person_code
    assert hcp_person(site, code)["accessLevels"] == ["1"]

    response = token_client(reception).post(f"/api/v1/visits/{visit.pk}/cancel/")
    assert response.status_code == 200
    drain()
    assert hcp_person(site, code)["accessLevels"] == []
    detail = token_client(reception).get(f"/api/v1/visits/{visit.pk}/").json()
    assert detail["status"] == "cancelled"
