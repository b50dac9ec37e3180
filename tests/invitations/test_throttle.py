"""The public invitation page: submissions are limited per link and per client address."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit

from .test_views import form_data, public_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limit_and_empty_cache():
    cache.clear()
    with override_settings(PUBLIC_SUBMIT_LIMIT=2, PUBLIC_SUBMIT_WINDOW_SECONDS=3600):
        yield


@pytest.fixture
def group_link(host, guest_policy, window):
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=window[0],
        planned_end=window[1],
        max_uses=50,
    )


def pending_photos() -> list[Path]:
    directory = Path(settings.MEDIA_ROOT) / "faces-pending"
    return list(directory.iterdir()) if directory.exists() else []


def test_over_the_limit_per_link_is_429_and_stores_nothing(client, group_link):
    url = public_url(group_link)
    for n in range(2):
        response = client.post(url, form_data(), REMOTE_ADDR=f"10.0.0.{n}")
        assert response.status_code == 200
    before = (Visit.objects.count(), Visitor.objects.count(), len(pending_photos()))
    response = client.post(url, form_data(), REMOTE_ADDR="10.0.0.9")
    body = response.content.decode()
    assert response.status_code == 429
    assert "Too many attempts; please try again in" in body
    assert int(response["Retry-After"]) > 0
    assert (Visit.objects.count(), Visitor.objects.count(), len(pending_photos())) == before


def test_a_refused_form_with_errors_keeps_no_pending_photo(client, group_link):
    url = public_url(group_link)
    for _ in range(2):
        client.post(url, form_data(national_id="12345"))  # errors: the photo is kept
    kept = len(pending_photos())
    response = client.post(url, form_data(national_id="12345"))
    assert response.status_code == 429
    assert len(pending_photos()) == kept
    assert not Visit.objects.exists()


def test_over_the_limit_per_address_is_429_across_links(client, group_link, host, guest_policy):
    other = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    for _ in range(2):
        client.post(public_url(group_link), form_data(), REMOTE_ADDR="192.0.2.7")
    response = client.post(public_url(other), form_data(), REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 429
    assert not Visit.objects.filter(invitation=other).exists()
    # Another address may still use the other link.
    assert client.post(public_url(other), form_data(), REMOTE_ADDR="192.0.2.8").status_code == 200


def test_forwarded_for_is_not_trusted(client, group_link):
    url = public_url(group_link)
    for n in range(2):
        client.post(url, form_data(), REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=f"10.1.1.{n}")
    other = create_invitation(
        host=group_link.host,
        actor=group_link.host,
        kind=InvitationKind.SINGLE,
        access_policy=group_link.access_policy,
        purpose="x",
        department=None,
    )
    response = client.post(
        public_url(other), form_data(), REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.1.99"
    )
    assert response.status_code == 429


def test_the_page_still_opens_and_the_limit_resets(client, group_link, time_machine):
    time_machine.move_to(group_link.created_at, tick=False)
    url = public_url(group_link)
    for _ in range(2):
        client.post(url, form_data())
    assert client.post(url, form_data()).status_code == 429
    assert client.get(url).status_code == 200  # only submissions are counted
    time_machine.shift(3600)
    assert client.post(url, form_data()).status_code == 200


def test_the_refusal_is_translated(client, group_link):
    url = public_url(group_link)
    for _ in range(2):
        client.post(url, form_data())
    response = client.post(url, form_data(), HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 429
    assert "Слишком много попыток" in response.content.decode()


def test_cache_keys_hold_neither_the_token_nor_the_address(client, group_link):
    client.post(public_url(group_link), form_data(), REMOTE_ADDR="192.0.2.55")
    keys = list(cache._cache.keys())  # LocMemCache's own store
    assert keys
    assert not any(group_link.token in key or "192.0.2.55" in key for key in keys)
