"""The Content-Security-Policy (propusk.core.middleware) breaks nothing: every page a role
works on, opened and used in real Chromium, reports no violation - so the policy can stay
strict (no inline script or style) and a name that ever got past the escaping could not run."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visits import services
from propusk.visits.models import VisitKind
from tests.factories import make_jpeg, make_visitor

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Each violation the page reports, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watched(page: Any) -> Any:
    page.add_init_script(RECORD_VIOLATIONS)
    return page


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__violations"))


def test_no_page_reports_a_violation(
    login, new_page, reception, security, admin_user, host, guest_policy, tmp_path
) -> None:
    visitor = make_visitor(family_name="Сейітқали", given_name="<img src=x onerror=alert(1)>")
    visit = services.register_walk_in(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_end=timezone.now() + timedelta(hours=2),
        access_policy=guest_policy,
        actor=reception,
    )
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Собеседование",
        department=None,
        planned_start=None,
        planned_end=None,
        expires_at=None,
        max_uses=1,
        group_name="",
    )
    photo = tmp_path / "face.jpg"
    photo.write_bytes(make_jpeg())

    desk = watched(login(reception))
    for url in ("/visits/today/", f"/visits/{visit.pk}/", "/visits/"):
        desk.goto(url)
        assert violations(desk) == [], url
    desk.goto("/visits/register/")
    desk.set_input_files("input[type=file][name$=photo]", str(photo))  # the preview: a blob:
    expect(desk.locator("img.photo-preview")).to_be_visible()
    preview = desk.locator("img.photo-preview").element_handle()
    desk.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview)
    assert violations(desk) == []

    guard = watched(login(security))
    guard.goto("/dashboard/")
    guard.wait_for_timeout(2_000)  # a live refresh or two
    assert violations(guard) == []
    guard.goto("/dashboard/evacuation/")
    assert violations(guard) == []

    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    admin = watched(login(admin_user))
    for url in ("/admin/", "/admin/visits/visit/", f"/admin/visits/visit/{visit.pk}/change/"):
        admin.goto(url)
        assert violations(admin) == [], url

    inviting = watched(login(host))
    inviting.goto("/notifications/settings/")
    assert violations(inviting) == []

    visitor_page = watched(new_page())
    visitor_page.goto(reverse("invitations:public", args=[invitation.token]))
    assert violations(visitor_page) == []
    # The header is there: the absence of violations is the policy's, not a missing one.
    response = visitor_page.request.get(reverse("invitations:public", args=[invitation.token]))
    assert "default-src 'self'" in response.headers["content-security-policy"]
