"""The Content-Security-Policy header (propusk.core.middleware): on every HTML page, the
sign-in and error pages too; not on the API's Swagger UI and Redoc pages (their inline
start-up script); not on what is not HTML. tests/e2e/test_content_security_policy.py opens the
pages in Chromium and checks that the policy blocks nothing of ours."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

POLICY = "Content-Security-Policy"


def test_html_pages_carry_the_policy(client: Client, reception) -> None:
    for url in ("/login/", "/invitations/i/no-such-link/", "/admin/login/"):
        response = client.get(url)
        assert "default-src 'self'" in response[POLICY], url
        assert "'unsafe-inline'" not in response[POLICY]
    client.force_login(reception)
    for url in ("/visits/today/", "/visits/no-such-page/"):
        response = client.get(url)
        assert response["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in response[POLICY], url


def test_api_documentation_pages_and_json_go_without(client: Client, reception) -> None:
    client.force_login(reception)
    for url in ("/api/v1/docs/", "/api/v1/redoc/", "/api/v1/me/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert POLICY not in response, url


@override_settings(DEBUG=True)
def test_the_debug_error_pages_go_without(client: Client, reception) -> None:
    """Django's technical 404 and 500 pages style and script themselves inline."""
    client.force_login(reception)
    response = client.get("/visits/no-such-page/")
    assert response.status_code == 404
    assert "<style" in response.content.decode()  # the technical page
    assert POLICY not in response
    assert POLICY in client.get("/visits/today/")
