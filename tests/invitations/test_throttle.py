"""The public invitation page: refused submissions are limited per (link, address) and per
address; registrations are never counted (max_uses bounds them)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit

from .test_views import form_data, public_url

pytestmark = pytest.mark.django_db

CLASSROOM = "203.0.113.10"  # a class on the campus Wi-Fi, behind one NAT address
PROBER = "198.51.100.66"
FAMILY_NAMES = [
    "Абенова",
    "Бекова",
    "Жумабаев",
    "Иванова",
    "Касымов",
    "Нурланова",
    "Сейткали",
    "Оспанов",
]
GIVEN_NAMES = ["Айгерим", "Данияр", "Алия", "Ерлан", "Мадина", "Тимур", "Сауле"]

# Small limits: a single link allows 2 + 2 x 1 = 4 refusals per address, the 3-use group
# link of tests/invitations/conftest.py 2 + 2 x 3 = 8, a 50-use link 102; an address 6 in all.
LINK_FAILURES = 2
ADDRESS_FAILURES = 6


@pytest.fixture(autouse=True)
def _small_limits_and_empty_cache():
    cache.clear()
    with override_settings(
        PUBLIC_SUBMIT_LINK_FAILURES=LINK_FAILURES,
        PUBLIC_SUBMIT_ADDRESS_FAILURES=ADDRESS_FAILURES,
        PUBLIC_SUBMIT_WINDOW_SECONDS=3600,
    ):
        yield


@pytest.fixture
def fifty_use_link(host, guest_policy, window):
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
        group_name="Class 11B",
    )


@pytest.fixture
def other_link(host, guest_policy):
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Consultation",
        department=None,
    )


def pending_photos() -> list[Path]:
    directory = Path(settings.MEDIA_ROOT) / "faces-pending"
    return list(directory.iterdir()) if directory.exists() else []


def junk(**overrides):
    """A submission that is refused: not a photo (or whatever ``overrides`` break)."""
    photo = SimpleUploadedFile("me.jpg", b"\x00" * 2048, content_type="image/jpeg")
    return form_data(**{"photo": photo, **overrides})


def stored() -> tuple[int, int, int]:
    return Visit.objects.count(), Visitor.objects.count(), len(pending_photos())


def test_fifty_registrations_from_one_address_on_a_fifty_use_link(client, fifty_use_link):
    url = public_url(fifty_use_link)
    names = itertools.product(FAMILY_NAMES, GIVEN_NAMES)
    for family_name, given_name in itertools.islice(names, 50):
        data = form_data(family_name=family_name, given_name=given_name)
        response = client.post(url, data, REMOTE_ADDR=CLASSROOM)
        assert response.status_code == 200, response.content.decode()[:500]
    assert Visit.objects.filter(invitation=fifty_use_link).count() == 50
    # The fifty-first is refused because the link is full, not by a throttle.
    assert client.post(url, form_data(), REMOTE_ADDR=CLASSROOM).status_code == 410


def test_a_class_behind_one_address_may_make_mistakes_on_its_link(client, fifty_use_link):
    """Typing mistakes from one address count against that address's share of this link."""
    url = public_url(fifty_use_link)
    with override_settings(PUBLIC_SUBMIT_ADDRESS_FAILURES=1000):
        for _ in range(30):
            assert client.post(url, junk(), REMOTE_ADDR=CLASSROOM).status_code == 400
        assert client.post(url, form_data(), REMOTE_ADDR=CLASSROOM).status_code == 200


def test_junk_from_one_address_does_not_lock_the_link_for_others(client, fifty_use_link):
    url = public_url(fifty_use_link)
    for _ in range(ADDRESS_FAILURES):
        assert client.post(url, junk(), REMOTE_ADDR=PROBER).status_code == 400
    assert client.post(url, junk(), REMOTE_ADDR=PROBER).status_code == 429
    response = client.post(url, form_data(given_name="Алия"), REMOTE_ADDR=CLASSROOM)
    assert response.status_code == 200
    assert "Thank you, Алия!" in response.content.decode()
    assert Visit.objects.filter(invitation=fifty_use_link).count() == 1


def test_an_address_over_its_limit_gets_429_and_nothing_is_created(
    client, fifty_use_link, other_link
):
    for n in range(ADDRESS_FAILURES):  # across links: the address's cap counts them all
        link = fifty_use_link if n % 2 else other_link
        client.post(public_url(link), junk(national_id="12345"), REMOTE_ADDR=PROBER)
    before = stored()
    # Even a perfectly good registration is refused now, before the form is read.
    response = client.post(public_url(fifty_use_link), form_data(), REMOTE_ADDR=PROBER)
    assert response.status_code == 429
    assert "Too many attempts; please try again in" in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 3600
    assert stored() == before
    assert not Visit.objects.exists()


def test_a_links_share_is_per_address(client, single_invitation, other_link):
    url = public_url(single_invitation)
    share = LINK_FAILURES + 2 * single_invitation.max_uses
    for _ in range(share):
        assert client.post(url, junk(), REMOTE_ADDR=PROBER).status_code == 400
    assert client.post(url, form_data(), REMOTE_ADDR=PROBER).status_code == 429
    # The address is under its overall cap: another link still takes its registration...
    assert client.post(public_url(other_link), form_data(), REMOTE_ADDR=PROBER).status_code == 200
    # ...and the link itself still works for everyone else.
    assert client.post(url, form_data(), REMOTE_ADDR=CLASSROOM).status_code == 200
    assert Visit.objects.filter(invitation=single_invitation).count() == 1


def test_a_links_share_grows_with_its_uses(client, group_invitation):
    url = public_url(group_invitation)
    share = LINK_FAILURES + 2 * group_invitation.max_uses
    assert share == 8
    with override_settings(PUBLIC_SUBMIT_ADDRESS_FAILURES=1000):
        for _ in range(share):
            assert client.post(url, junk(), REMOTE_ADDR=PROBER).status_code == 400
        assert client.post(url, junk(), REMOTE_ADDR=PROBER).status_code == 429


def test_probing_unknown_links_counts_against_the_address(client, single_invitation):
    for n in range(ADDRESS_FAILURES):
        unknown = reverse("invitations:public", args=[f"no-such-token-{n}"])
        assert client.post(unknown, form_data(), REMOTE_ADDR=PROBER).status_code == 404
    response = client.post(public_url(single_invitation), form_data(), REMOTE_ADDR=PROBER)
    assert response.status_code == 429
    assert not Visit.objects.exists()


def test_a_refused_form_with_errors_keeps_no_pending_photo(client, single_invitation):
    url = public_url(single_invitation)
    share = LINK_FAILURES + 2 * single_invitation.max_uses
    before = len(pending_photos())
    for _ in range(share):
        # Errors, but the photo is good: it is kept for the form.
        assert client.post(url, form_data(national_id="12345")).status_code == 400
    kept = len(pending_photos())
    assert kept == before + share
    response = client.post(url, form_data(national_id="12345"))
    assert response.status_code == 429
    assert len(pending_photos()) == kept
    assert not Visit.objects.exists()


def test_forwarded_for_is_not_trusted(client, group_invitation, other_link):
    for n in range(ADDRESS_FAILURES):
        client.post(
            public_url(group_invitation),
            junk(),
            REMOTE_ADDR=PROBER,
            HTTP_X_FORWARDED_FOR=f"10.1.1.{n}",
        )
    response = client.post(
        public_url(other_link), form_data(), REMOTE_ADDR=PROBER, HTTP_X_FORWARDED_FOR="10.1.1.99"
    )
    assert response.status_code == 429


def test_the_page_still_opens_and_the_limit_resets(client, single_invitation, time_machine):
    time_machine.move_to(single_invitation.created_at, tick=False)
    url = public_url(single_invitation)
    for _ in range(LINK_FAILURES + 2):
        client.post(url, junk())
    assert client.post(url, form_data()).status_code == 429
    assert client.get(url).status_code == 200  # only submissions are counted
    time_machine.shift(3600)
    assert client.post(url, form_data()).status_code == 200


def test_the_refusal_is_translated(client, single_invitation):
    url = public_url(single_invitation)
    for _ in range(LINK_FAILURES + 2):
        client.post(url, junk())
    response = client.post(url, form_data(), HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 429
    assert "Слишком много попыток" in response.content.decode()


def test_cache_keys_hold_neither_the_token_nor_the_address(client, single_invitation):
    client.post(public_url(single_invitation), junk(), REMOTE_ADDR="192.0.2.55")
    keys = list(cache._cache.keys())  # LocMemCache's own store
    # The address's counter and the (link, address) pair's.
    assert len([key for key in keys if "throttle:" in key]) == 2
    assert not any(single_invitation.token in key or "192.0.2.55" in key for key in keys)


def test_the_old_submission_limit_stops_the_process_naming_its_replacements(tmp_path):
    """PROPUSK_PUBLIC_SUBMIT_LIMIT counted registrations too: left set, it would silently mean
    nothing, so the process refuses to start and says what replaced it."""
    env = {
        **os.environ,
        "PROPUSK_ENV_FILE": os.devnull,
        "PROPUSK_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789",
        "PROPUSK_FIELD_ENCRYPTION_KEYS": "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE=",
        "PROPUSK_LOOKUP_HASH_KEY": "test-only-lookup-hash-key",
        "PROPUSK_PUBLIC_SUBMIT_LIMIT": "20",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import propusk.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: PROPUSK_PUBLIC_SUBMIT_LIMIT is gone" in done.stderr
    assert "PROPUSK_PUBLIC_SUBMIT_LINK_FAILURES" in done.stderr
