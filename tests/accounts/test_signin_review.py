"""The outside review's sign-in attack, with the settings as shipped (no limits set by the test).

The review sent 25 wrong passwords and then the right one, and was signed in, on /login/ and
on /admin/login/, with no record of the failures. test_signin_throttling.py tests the rules
with explicit limits; this runs the attack as it was made, against the defaults that a site
which sets nothing gets (PROPUSK_LOGIN_FAILURE_LIMIT 5, PROPUSK_LOGIN_ADDRESS_FAILURE_LIMIT
20, PROPUSK_LOGIN_COOLOFF_MINUTES 15: README.md, "Sign-in").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from propusk.accounts.roles import Role
from propusk.audit.models import AuditEntry
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.77"
WRONG = [f"Qazaqstan-{number:02d}" for number in range(25)]


def test_the_shipped_limits_are_the_documented_ones():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 20
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


@pytest.mark.parametrize("page", ["login", "admin:login"])
def test_twenty_five_wrong_passwords_then_the_right_one_does_not_sign_in(page, time_machine):
    time_machine.move_to(datetime(2030, 3, 12, 6, 0, tzinfo=UTC), tick=False)
    user = make_user("erlan.admin", Role.ADMINISTRATOR)
    user.is_staff = user.is_superuser = True
    user.save()
    url = reverse(page)
    client = Client()

    statuses = [
        client.post(
            url, {"username": user.username, "password": w}, REMOTE_ADDR=ATTACKER
        ).status_code
        for w in WRONG
    ]
    response = client.post(
        url, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=ATTACKER
    )

    assert statuses == [200] * 4 + [429] * 21  # locked at the fifth failure
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert client.get(reverse("admin:index")).status_code == 302  # sent to sign in
    # Every attempt is on record (the right password too: refused while locked), once locked.
    failed = AuditEntry.objects.filter(action="auth.login_failed", target_id=str(user.pk))
    assert failed.count() == 26
    assert failed.filter(changes__while_locked_out=True).count() == 21
    assert AuditEntry.objects.filter(action="auth.locked_out").count() == 1
    assert not AuditEntry.objects.filter(action="auth.logged_in").exists()

    # After the cool-off the right password works again.
    time_machine.shift(timedelta(minutes=15, seconds=1))
    response = client.post(
        url, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=ATTACKER
    )
    assert response.status_code == 302
    assert SESSION_KEY in client.session
