"""Who may use the API: tokens (hashed, revocable, expiring, made by administrators), the
session of a signed-in user (with CSRF), roles as on the pages, the schema behind login."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from propusk.api.models import ApiToken
from propusk.api.tokens import create_token, revoke_token
from propusk.audit.models import AuditEntry
from tests.api.conftest import api_client

pytestmark = pytest.mark.django_db


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_no_token_is_refused_with_401_and_a_bearer_challenge() -> None:
    response = APIClient().get("/api/v1/visits/")
    assert_refused(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pk_not-a-token-at-all",
        "Bearer",
        "Bearer two words",
        "Bearer nothing-like-ours",
    ],
)
def test_a_wrong_token_is_refused_with_401(reception: User, header: str) -> None:
    create_token(user=reception, name="Desk", actor=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_refused(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_a_revoked_token_is_refused(reception: User, admin_user: User) -> None:
    token, raw = create_token(user=reception, name="Приёмная", actor=admin_user)
    client = api_client(raw)
    assert client.get("/api/v1/me/").status_code == 200
    revoke_token(token=token, actor=admin_user)
    assert_refused(client.get("/api/v1/me/"), 401, "authentication_failed")
    assert AuditEntry.objects.filter(action="api.token_revoked", actor=admin_user).count() == 1


def test_an_expired_token_is_refused(reception: User) -> None:
    _, raw = create_token(
        user=reception, name="Desk", actor=None, expires_at=timezone.now() + timedelta(hours=1)
    )
    client = api_client(raw)
    assert client.get("/api/v1/me/").status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_refused(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_the_token_of_a_deactivated_user_is_refused(reception: User) -> None:
    _, raw = create_token(user=reception, name="Desk", actor=None)
    User.objects.filter(pk=reception.pk).update(is_active=False)
    assert_refused(api_client(raw).get("/api/v1/me/"), 401, "authentication_failed")


def test_the_token_is_stored_hashed_and_its_last_use_recorded(reception: User) -> None:
    token, raw = create_token(user=reception, name="Desk", actor=None)
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in {stored.key_hash, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix)
    assert stored.last_used_at is None
    assert api_client(raw).get("/api/v1/me/").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_api_token_command_prints_a_working_token_once(reception: User) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "api_token", "create", "reception", "--name", "Admissions office", stdout=out, stderr=err
    )
    raw = out.getvalue().strip()
    assert raw.startswith("pk_")
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.expires_at) == (reception, "Admissions office", None)
    me = api_client(raw).get("/api/v1/me/").json()
    assert me["username"] == "reception"
    assert me["roles"] == ["reception"]
    assert me["token"]["name"] == "Admissions office"

    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert raw not in listing.getvalue()
    assert "Admissions office" in listing.getvalue()

    call_command("api_token", "revoke", str(token.pk), stdout=io.StringIO())
    assert api_client(raw).get("/api/v1/me/").status_code == 401


def test_api_token_command_with_expiry(reception: User) -> None:
    call_command(
        "api_token",
        "create",
        "reception",
        "--name",
        "Conference",
        "--expires-days",
        "30",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    token = ApiToken.objects.get()
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)


def test_an_administrator_makes_a_token_in_the_admin_and_sees_it_once(
    admin_user: User, reception: User
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/api/apitoken/add/",
        {"user": reception.pk, "name": "Tenant portal", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    token = ApiToken.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    raw = next(word for m in shown for word in m.split() if word.startswith("pk_"))
    assert api_client(raw).get("/api/v1/me/").json()["username"] == "reception"
    # Never again: the token's page shows its beginning only.
    page = browser.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert raw not in page
    assert token.prefix in page


def test_a_user_without_a_role_is_refused_with_403_but_may_ask_who_they_are(
    no_role_user: User, token_client
) -> None:
    client = token_client(no_role_user)
    assert_refused(client.get("/api/v1/visits/"), 403, "permission_denied")
    assert client.get("/api/v1/me/").json()["roles"] == []


def test_a_signed_in_user_may_try_the_api_in_the_browser_with_csrf(
    reception: User, host: User, guest_policy
) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(reception)
    assert browser.get("/api/v1/visits/").status_code == 200
    assert browser.get("/api/v1/me/").json()["token"] is None
    # A write without the CSRF token is refused.
    response = browser.post("/api/v1/visits/", {}, format="json")
    assert_refused(response, 403, "permission_denied")
    assert "CSRF" in response.json()["error"]["message"]


def test_the_schema_and_its_pages_are_behind_login(reception: User, token_client) -> None:
    assert_refused(APIClient().get("/api/v1/schema/"), 401, "not_authenticated")
    schema = token_client(reception).get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/v1/visits/{id}/check-in/" in schema.json()["paths"]
    # Every operation documents the one error shape.
    create = schema.json()["paths"]["/api/v1/visits/"]["post"]["responses"]
    assert create["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "Error" in schema.json()["components"]["schemas"]
    # The Swagger UI and Redoc pages: the site's sign-in page first.
    for page in ("/api/v1/docs/", "/api/v1/redoc/"):
        assert Client().get(page).status_code == 302
        browser = Client()
        browser.force_login(reception)
        response = browser.get(page)
        assert response.status_code == 200
        assert b"cdn" not in response.content.lower()  # served from our own static files
        # Nothing from another site at all (drf-spectacular's Redoc page loads Google Fonts).
        assert re.findall(rb'(?:src|href)="(https?:)?//', response.content) == []


def test_the_schema_validates() -> None:
    """drf-spectacular's own validation, every warning an error."""
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null", stdout=io.StringIO()
    )
