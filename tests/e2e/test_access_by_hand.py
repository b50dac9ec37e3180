"""Access by hand in a real browser, against the real HCP simulator: security revokes a
visitor's access from the visit page, and the card shows HikCentral confirming it without a
reload (it refreshes itself while the change is on its way); the turnstile then refuses."""

from __future__ import annotations

import os

import pytest

from tests.access.conftest import (  # noqa: F401 - fixtures used by name
    ENTRANCE,
    confirm,
    drain,
    hcp,
    hcp_settings,
    register,
    simulator,
    site,
)

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.simulator,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_security_revokes_on_the_visit_page_and_sees_it_confirmed(
    login,
    security,
    site,  # noqa: F811
    register,  # noqa: F811
    drain,  # noqa: F811
    confirm,  # noqa: F811
) -> None:
    visit = register(family_name="Касымова", given_name="Айжан")
    code = visit.visitor.person_code
    drain()
    confirm()
    assert site.control.passage(ENTRANCE, person_code=code).granted
    page = login(security)
    page.goto(f"/visits/{visit.pk}/")
    card = page.locator("#access")
    expect(card.locator(".badge")).to_have_text("active in HikCentral")

    page.click("details[data-operation=revoke] summary")
    page.fill("details[data-operation=revoke] input[name=reason]", "Пропуск утерян")
    page.click("details[data-operation=revoke] button[type=submit]")

    expect(page.locator(".messages")).to_contain_text("on its way to HikCentral")
    expect(page.locator("#access[data-settling]")).to_have_count(1)
    # The access engine runs (a worker would); the page is not reloaded.
    drain()
    confirm()
    expect(page.locator("#access .badge")).to_have_text("revoked by hand", timeout=10_000)
    expect(page.locator("#access[data-settling]")).to_have_count(0)
    expect(page.locator("details[data-operation=restore]")).to_have_count(1)
    assert not site.control.passage(ENTRANCE, person_code=code).granted
