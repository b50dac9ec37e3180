"""The organisation's name and address on the public page; the admin branded."""

from __future__ import annotations

import pytest
from django.urls import reverse

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(host, guest_policy):
    return create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )


def test_the_public_page_names_the_organisation_and_its_address(client, settings, invitation):
    settings.ORG_NAME = "Satbayev University"
    settings.ORG_ADDRESS = "Almaty, Satpayev St 22"
    body = client.get(reverse("invitations:public", args=[invitation.token])).content.decode()
    assert "Satbayev University" in body
    assert "Almaty, Satpayev St 22" in body


def test_without_an_organisation_the_page_says_nothing_of_it(client, settings, invitation):
    settings.ORG_NAME = ""
    settings.ORG_ADDRESS = ""
    body = client.get(reverse("invitations:public", args=[invitation.token])).content.decode()
    assert 'class="org"' not in body


def test_the_admin_is_branded_with_a_favicon(client):
    body = client.get(reverse("admin:login")).content.decode()
    assert "Propusk administration" in body
    assert "propusk/favicon.svg" in body
