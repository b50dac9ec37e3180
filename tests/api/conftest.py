"""Fixtures for the REST API: tokens for the suite's personas, an API client per token, and
registration bodies with realistic visitors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from propusk.api.tokens import create_token

# The HCP simulator and the reconciler, as the access engine's tests use them.
from tests.access.conftest import (  # noqa: F401
    confirm,
    distinct_face,
    drain,
    hcp,
    hcp_settings,
    simulator,
    site,
)
from tests.e2e.conftest import (  # noqa: F401 - the browser, for the docs page
    _async_unsafe_allowed,
    _connections_per_thread,
    browser,
    login,
    new_page,
)
from tests.factories import make_iin
from tests.passages.conftest import enrolled, make_visit, turnstile  # noqa: F401

Client = Callable[[User], APIClient]


def api_client(raw_token: str | None = None, **headers: str) -> APIClient:
    client = APIClient()
    if raw_token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}", **headers)
    return client


@pytest.fixture
def token_client(db: None) -> Client:
    """An API client with a new token of ``user``."""

    def make(user: User) -> APIClient:
        _, raw = create_token(user=user, name=f"{user.username} integration", actor=None)
        return api_client(raw)

    return make


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def registration(
    *, photo: bytes | None = None, national_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A guest visit starting in an hour, of Әлихан Нұрланұлы Сейітқали with a valid IIN."""
    start = timezone.now() + timedelta(hours=1)
    body: dict[str, Any] = {
        "kind": "guest",
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(hours=2)).isoformat(),
        "purpose": "Приёмная комиссия",
        "visitor": {
            "family_name": "Сейітқали",
            "given_name": "Әлихан",
            "middle_name": "Нұрланұлы",
            "phone": "+7 701 555 12 34",
            "email": "alikhan@example.kz",
            "national_id": national_id if national_id is not None else make_iin(),
            "consent": True,
            "photo": b64(photo if photo is not None else distinct_face(7)),
        },
    }
    visitor = overrides.pop("visitor", None)
    if visitor:
        body["visitor"].update(visitor)
    body.update(overrides)
    return body
