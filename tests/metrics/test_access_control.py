"""Who may read /metrics: Prometheus with the token, administrators and security signed in."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.metrics.conftest import TOKEN, parse

pytestmark = pytest.mark.django_db


def get(client: Client | None = None, **headers: str) -> Any:
    return (client or Client()).get("/metrics", headers=headers)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_figures(response: Any) -> None:
    assert response.status_code == 200
    assert "propusk_build_info" in parse(response.content.decode()).names()


def test_refused_without_credentials(metrics_token):
    response = get()
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="propusk-metrics"'
    assert b"propusk_" not in response.content


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer wrong-token-of-the-right-length-000",
    ],
)
def test_refused_with_a_wrong_token(metrics_token, authorization):
    response = get(authorization=authorization)
    assert response.status_code == 401
    assert b"propusk_" not in response.content


def test_no_token_configured_refuses_every_token(settings):
    settings.PROPUSK_METRICS_TOKEN = ""
    assert get(authorization="Bearer ").status_code == 401
    assert get(authorization=f"Bearer {TOKEN}").status_code == 401


def test_answers_prometheus_with_the_token(metrics_token):
    response = get(authorization=f"Bearer {TOKEN}")
    assert_figures(response)
    assert response["Cache-Control"] == "no-store, private"
    # The scheme's case does not matter (RFC 7235).
    assert_figures(get(authorization=f"bearer {TOKEN}"))


def test_answers_a_signed_in_administrator_and_security(settings, admin_user, security):
    settings.PROPUSK_METRICS_TOKEN = ""  # no token needed for a signed-in user
    assert_figures(get(signed_in(admin_user)))
    assert_figures(get(signed_in(security)))


def test_refuses_reception_hosts_and_users_without_a_role(
    metrics_token, reception, host, no_role_user
):
    for user in (reception, host, no_role_user):
        response = get(signed_in(user))
        assert response.status_code == 403, user
        assert b"propusk_" not in response.content


def test_only_reads(metrics_token):
    response = Client().post("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405
