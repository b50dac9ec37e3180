"""Who opens the dashboard and the evacuation list, and where security lands."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = [
    "dashboard:dashboard",
    "dashboard:live",
    "dashboard:evacuation",
    "dashboard:evacuation_csv",
    "dashboard:evacuation_pdf",
]


def signed_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_sign_in(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_hosts_and_users_without_a_role_are_refused(
    host: User, no_role_user: User, name: str
) -> None:
    for user in (host, no_role_user):
        assert signed_in(user).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_security_reception_and_administrators_open_them(
    security: User, reception: User, admin_user: User, name: str
) -> None:
    for user in (security, reception, admin_user):
        response = signed_in(user).get(reverse(name))
        assert response.status_code == 200, (user.username, name)
        assert "no-store" in response["Cache-Control"]


def test_the_exports_are_refused_to_a_post(security: User) -> None:
    assert signed_in(security).post(reverse("dashboard:evacuation_csv")).status_code == 405


def test_security_lands_on_the_dashboard_and_reception_on_today(
    security: User, reception: User, host: User
) -> None:
    assert signed_in(security).get(reverse("home"))["Location"] == reverse("dashboard:dashboard")
    assert signed_in(reception).get(reverse("home"))["Location"] == reverse("visits:reception")
    assert signed_in(host).get(reverse("home"))["Location"] == reverse("visits:list")


def test_the_navigation_links_the_dashboard_for_its_roles_only(
    security: User, reception: User, host: User
) -> None:
    link = f'href="{reverse("dashboard:dashboard")}"'
    page = signed_in(security).get(reverse("dashboard:dashboard")).content.decode()
    assert f'{link} aria-current="page"' in page
    assert link in signed_in(reception).get(reverse("visits:reception")).content.decode()
    assert link not in signed_in(host).get(reverse("visits:list")).content.decode()


def test_the_page_polls_the_partial(security: User) -> None:
    page = signed_in(security).get(reverse("dashboard:dashboard")).content.decode()
    assert f'data-url="{reverse("dashboard:live")}"' in page
    assert "dashboard/dashboard.js" in page
    partial = signed_in(security).get(reverse("dashboard:live")).content.decode()
    assert 'id="live-sections"' in partial
    assert "<html" not in partial


def test_a_quick_refresh_leaves_out_the_slow_sections(security: User) -> None:
    client = signed_in(security)
    full = client.get(reverse("dashboard:live")).content.decode()
    quick = client.get(reverse("dashboard:live"), {"parts": "quick"}).content.decode()
    for section in ("summary", "incidents", "overstays", "inside", "passages"):
        assert f'id="{section}"' in full
        assert f'id="{section}"' in quick
    for section in ("expected", "hcp"):
        assert f'id="{section}"' in full
        assert f'id="{section}"' not in quick
    assert "calls going through" in quick  # the summary's HikCentral state stays fresh
    page = client.get(reverse("dashboard:dashboard")).content.decode()
    assert 'data-full-every="4"' in page
    assert 'data-period="1500"' in page
