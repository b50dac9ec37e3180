"""Browser tests: Playwright (sync API) driving the system's Chromium against the live server.

Playwright's own browser download does not work everywhere, so the tests use an installed
Chromium (``PROPUSK_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH). Without
one the tests are skipped, unless ``PROPUSK_REQUIRE_BROWSER=1`` (CI), where they fail.

One browser serves the whole package: it is started before the first browser test and stopped
after the last one. It is not kept for the rest of the session on purpose: while Playwright's
sync API is running, an asyncio loop counts as running in the main thread. Django then refuses
ORM calls (``SynchronousOnlyOperation``), ``asyncio.run`` fails, and Django keeps database
connections per async context instead of per thread - so the test and pytest-django's set-up
and tear-down would each get a fresh connection, and the one holding the serialized test data
(``serialized_rollback``) would be lost after the first test. For this package only, Django's
async check is relaxed (the ORM calls are the test's own, in one thread) and the connections
are kept per thread, as in any sync test; both are put back after the last browser test.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from django.contrib.auth.models import User

from tests.conftest import PASSWORD

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PROPUSK_REQUIRE_BROWSER=1 makes this a failure)", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def _chromium_path() -> str:
    """The Chromium to drive, or skip (fail under PROPUSK_REQUIRE_BROWSER=1) saying why."""
    configured = os.environ.get("PROPUSK_CHROMIUM")
    if configured:
        if not os.access(configured, os.X_OK):
            _unavailable(f"PROPUSK_CHROMIUM={configured} is not an executable file")
        return configured
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _unavailable("No chromium or chromium-browser on the PATH (apt-get install chromium)")
    return found


@pytest.fixture(scope="package")
def _async_unsafe_allowed() -> Iterator[None]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def _connections_per_thread() -> Iterator[None]:
    from django.db import connections

    original = connections._connections
    per_thread = threading.local()
    for alias in connections:
        if hasattr(original, alias):
            setattr(per_thread, alias, getattr(original, alias))
    connections._connections = per_thread
    yield
    for alias in connections:
        if hasattr(per_thread, alias):
            setattr(original, alias, getattr(per_thread, alias))
    connections._connections = original


@pytest.fixture(scope="package")
def browser(_async_unsafe_allowed: None, _connections_per_thread: None) -> Iterator[Any]:
    executable = _chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("The playwright package is not installed")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"Chromium at {executable} did not start: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh contexts (own cookies), English unless told; all closed after the test."""
    contexts: list[Any] = []

    def make(*, phone: bool = False, locale: str = "en-US") -> Any:
        options: dict[str, Any] = {"locale": locale, "base_url": live_server.url}
        if phone:
            options.update(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        else:
            options.update(viewport=DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def login(new_page: Callable[..., Any]) -> Callable[..., Any]:
    """A page signed in as ``user`` through the login form, on the page the site sends them to."""

    def as_user(user: User, **page_options: Any) -> Any:
        page = new_page(**page_options)
        page.goto("/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("form:has(#id_password) button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return as_user


def choose_host(page: Any, name: str) -> None:
    """Pick the host on the desk's registration form as reception does: type, then choose
    the match (static/propusk/host-search.js over the host select)."""
    field = page.get_by_role("combobox", name="Host")
    field.fill(name)
    page.get_by_role("listbox").get_by_role("option", name=name).first.click()
