"""The Swagger UI page in a real browser: served from our own static files, it loads the
schema with the signed-in user's session and lists the operations."""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_swagger_ui_shows_the_api_from_our_own_files(login, reception, live_server) -> None:
    page = login(reception)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs/")
    page.wait_for_selector("text=/api/v1/visits/{id}/check-in/")
    outside = [url for url in requested if not url.startswith((live_server.url, "data:", "blob:"))]
    assert outside == []  # no CDN: the sidecar's files
    assert any(url.endswith("/api/v1/schema/") for url in requested)
    assert page.locator(".opblock").count() >= 10
