"""Sign-in throttling over HTTP: failures counted per account and per address, the lockout
refuses the right password too (429, a translated message, Retry-After), it ends after the
cool-off or when an administrator clears it, and every outcome is in the audit log without
the password. The admin's sign-in is throttled the same way."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from propusk.accounts.roles import Role
from propusk.audit.models import AuditEntry
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
START = datetime(2030, 3, 12, 6, 0, tzinfo=UTC)  # 11:00 in Almaty
DESK = "10.20.0.5"  # the reception desk
OFFICE = "10.20.7.31"  # a host's office
ELSEWHERE = "192.0.2.44"
WRONG = ["Astana-2030", "qwerty123", "Aigerim1990!", "baiterek", "Almaty#7", "zhuldyz"]
LOCKED_EN = "Too many failed sign-in attempts. Please try again in 15 minutes."
LOCKED_RU = "Слишком много неудачных попыток входа. Попробуйте снова через 15 минут."


@pytest.fixture(autouse=True)
def _limits(settings, time_machine):
    """Explicit limits (5 per account, 8 per address, 15 minutes) at a fixed time."""
    settings.AXES_FAILURE_LIMIT = 5
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    time_machine.move_to(START, tick=False)


@pytest.fixture
def aigerim(db: None) -> User:
    return make_user("aigerim", Role.RECEPTION)


@pytest.fixture
def dauren(db: None) -> User:
    return make_user("dauren", Role.HOST)


@pytest.fixture
def saule(db: None) -> User:
    return make_user("saule", Role.HOST)


@pytest.fixture
def nurlan_admin(db: None) -> User:
    user = make_user("nurlan", Role.ADMINISTRATOR)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def sign_in(username, password, *, address=DESK, url=LOGIN, client=None, **headers):
    client = client or Client()
    response = client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )
    return response, client


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def fail(username, times, *, address=DESK, url=LOGIN):
    """``times`` wrong passwords; returns the last response."""
    response = None
    for number in range(times):
        response, _ = sign_in(username, WRONG[number % len(WRONG)], address=address, url=url)
    return response


def assert_locked_out(response, client, message=LOCKED_EN):
    body = response.content.decode()
    assert response.status_code == 429
    assert message in body
    assert "Please enter a correct username and password" not in body
    assert not signed_in(client)


# --- The account's limit ----------------------------------------------------------------


def test_the_right_password_is_refused_once_the_account_is_locked(aigerim):
    for number in range(4):
        response, _ = sign_in("aigerim", WRONG[number])
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()

    response, client = sign_in("aigerim", WRONG[4])  # the fifth: locked from now on
    assert_locked_out(response, client)
    assert response["Retry-After"] == "900"

    response, client = sign_in("aigerim", PASSWORD)
    assert_locked_out(response, client)
    assert not client.get(reverse("home")).wsgi_request.user.is_authenticated


def test_the_lockout_message_is_russian(aigerim, settings):
    settings.LANGUAGE_CODE = "ru"
    fail("aigerim", 5)

    response, client = sign_in("aigerim", PASSWORD)

    assert_locked_out(response, client, LOCKED_RU)
    assert "Войти" in response.content.decode()  # the same sign-in page


def test_the_account_is_locked_from_every_address(aigerim, dauren):
    fail("aigerim", 5, address=ELSEWHERE)

    assert_locked_out(*sign_in("aigerim", PASSWORD, address=DESK))
    # Another account and another address are not affected.
    response, client = sign_in("dauren", PASSWORD, address=OFFICE)
    assert response.status_code == 302
    assert signed_in(client)


def test_unknown_usernames_are_counted_too():
    fail("akhmetov", 5)

    response, client = sign_in("akhmetov", "anything")

    assert_locked_out(response, client)


# --- The address's limit ----------------------------------------------------------------


def test_an_address_trying_many_accounts_is_locked_for_every_account(aigerim, dauren, saule):
    fail("aigerim", 3)
    fail("dauren", 3)
    response = fail("saule", 2)  # 8 from the desk, no account at its own limit
    assert response.status_code == 429

    # Saule's right password, from the same address: refused.
    assert_locked_out(*sign_in("saule", PASSWORD))
    # Forwarded-For headers are not trusted: the address is still REMOTE_ADDR.
    assert_locked_out(*sign_in("saule", PASSWORD, HTTP_X_FORWARDED_FOR=OFFICE))
    # Another address signs in to another account.
    response, client = sign_in("saule", PASSWORD, address=OFFICE)
    assert response.status_code == 302
    assert signed_in(client)


def test_below_both_limits_the_right_password_works(aigerim, dauren):
    fail("aigerim", 4)
    fail("dauren", 3)  # 7 from the desk

    response, client = sign_in("dauren", PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


# --- The end of a lockout ---------------------------------------------------------------


def test_the_lockout_ends_after_the_cool_off(aigerim, time_machine):
    fail("aigerim", 5)

    time_machine.shift(timedelta(minutes=14, seconds=30))
    response, client = sign_in("aigerim", PASSWORD)
    assert_locked_out(response, client, "Please try again in 1 minute.")
    assert response["Retry-After"] == "30"

    time_machine.shift(timedelta(seconds=31))
    response, client = sign_in("aigerim", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_attempts_during_a_lockout_do_not_lengthen_it(aigerim, time_machine):
    fail("aigerim", 5)
    for _ in range(10):
        time_machine.shift(timedelta(minutes=1))
        assert sign_in("aigerim", "baiterek")[0].status_code == 429

    time_machine.shift(timedelta(minutes=5, seconds=1))  # 15 minutes after the fifth failure
    response, client = sign_in("aigerim", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_a_sign_in_clears_its_own_failures_from_its_address(aigerim):
    fail("aigerim", 4)
    assert sign_in("aigerim", PASSWORD)[0].status_code == 302

    response = fail("aigerim", 4)  # would be 8 for the account without the reset

    assert response.status_code == 200
    assert sign_in("aigerim", PASSWORD)[0].status_code == 302


def test_a_sign_in_does_not_clear_failures_from_elsewhere(aigerim):
    fail("aigerim", 4, address=ELSEWHERE)  # someone guessing
    assert sign_in("aigerim", PASSWORD, address=DESK)[0].status_code == 302

    response = fail("aigerim", 1, address=ELSEWHERE)

    assert response.status_code == 429


def test_signing_in_to_ones_own_account_does_not_reset_the_address(aigerim, dauren, saule):
    fail("aigerim", 4)
    fail("dauren", 3)
    assert sign_in("saule", PASSWORD)[0].status_code == 302  # saule's own, from the same desk

    response = fail("dauren", 1)  # 8 from the desk: the address's limit; dauren's is 4

    assert response.status_code == 429


def test_an_administrator_unlocks_an_account_in_the_admin(aigerim, nurlan_admin):
    fail("aigerim", 5)
    rows = list(AccessAttempt.objects.filter(username="aigerim").values_list("pk", flat=True))
    admin = Client()
    admin.force_login(nurlan_admin)
    changelist = reverse("admin:axes_accessattempt_changelist")

    page = admin.get(changelist, {"q": "aigerim"})
    assert page.status_code == 200
    assert admin.get(reverse("admin:axes_accessattempt_change", args=[rows[0]])).status_code == 200
    response = admin.post(
        changelist, {"action": "delete_selected", "_selected_action": rows, "post": "yes"}
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert AuditEntry.objects.filter(
        action="admin.deleted", actor=nurlan_admin, target_type="axes.accessattempt"
    ).count() == len(rows)
    assert sign_in("aigerim", PASSWORD)[0].status_code == 302


def test_the_reset_command_unlocks_an_account(aigerim):
    fail("aigerim", 5)

    call_command("axes_reset_username", "aigerim")

    assert sign_in("aigerim", PASSWORD)[0].status_code == 302


# --- The admin's sign-in ------------------------------------------------------------------


def test_the_admin_sign_in_is_throttled_too(nurlan_admin):
    fail("nurlan", 3, url=LOGIN)
    response = fail("nurlan", 1, url=ADMIN_LOGIN)
    assert response.status_code == 200  # four failures, counted across both pages
    response = fail("nurlan", 1, url=ADMIN_LOGIN)
    assert response.status_code == 429

    response, client = sign_in("nurlan", PASSWORD, url=ADMIN_LOGIN)

    assert_locked_out(response, client)
    body = response.content.decode()
    assert re.search(r'class="errornote"[^>]*>\s*' + re.escape(LOCKED_EN), body)
    assert response["Retry-After"] == "900"
    assert client.get(reverse("admin:index")).status_code == 302  # back to the sign-in


def test_the_admin_sign_in_works_below_the_limit(nurlan_admin):
    fail("nurlan", 4, url=ADMIN_LOGIN)

    response, client = sign_in("nurlan", PASSWORD, url=ADMIN_LOGIN)

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


# --- The audit log ------------------------------------------------------------------------


def test_every_failure_and_the_lockout_are_in_the_audit_log(aigerim):
    fail("aigerim", 5)
    sign_in("aigerim", PASSWORD)  # refused: locked
    sign_in("aigerim", "zhuldyz", url=ADMIN_LOGIN)  # refused: locked

    failures = list(AuditEntry.objects.filter(action="auth.login_failed").order_by("id"))
    assert len(failures) == 7
    for entry in failures:
        assert entry.actor is None
        assert entry.actor_label == "anonymous"
        assert (entry.target_type, entry.target_id) == ("auth.user", str(aigerim.pk))
        assert entry.changes["username"] == "aigerim"
        assert entry.changes["address"] == DESK
    assert [e.changes["while_locked_out"] for e in failures] == [False] * 5 + [True] * 2
    assert [e.changes["page"] for e in failures] == [LOGIN] * 6 + [ADMIN_LOGIN]

    (lockout,) = AuditEntry.objects.filter(action="auth.locked_out")
    assert lockout.target_id == str(aigerim.pk)
    assert lockout.changes == {
        "username": "aigerim",
        "address": DESK,
        "page": LOGIN,
        "limits_reached": ["account"],
    }
    assert lockout.id > failures[4].id  # right after the failure that locked it


def test_an_address_lockout_names_the_address_limit(aigerim, dauren):
    fail("aigerim", 4)
    fail("dauren", 4)

    (lockout,) = AuditEntry.objects.filter(action="auth.locked_out")

    assert lockout.changes["limits_reached"] == ["address"]
    assert lockout.changes["username"] == "dauren"


def test_a_failure_for_an_unknown_username_names_no_account(db):
    fail("akhmetov.b", 1)

    (entry,) = AuditEntry.objects.filter(action="auth.login_failed")

    assert (entry.target_type, entry.target_id) == ("auth.user", "")
    assert entry.changes["username"] == "akhmetov.b"


def test_a_sign_in_through_a_page_is_in_the_audit_log(aigerim, nurlan_admin):
    sign_in("aigerim", PASSWORD, address=OFFICE)
    sign_in("nurlan", PASSWORD, url=ADMIN_LOGIN)

    entries = AuditEntry.objects.filter(action="auth.logged_in").order_by("id")

    assert [(e.actor, e.target_id, e.changes) for e in entries] == [
        (aigerim, str(aigerim.pk), {"address": OFFICE, "page": LOGIN}),
        (nurlan_admin, str(nurlan_admin.pk), {"address": DESK, "page": ADMIN_LOGIN}),
    ]


def test_no_password_reaches_the_audit_log_the_logs_or_the_counters(aigerim, caplog):
    caplog.set_level(logging.DEBUG)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(LOGIN).content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match is not None
    csrf_token = match.group(1)
    response = browser.post(
        LOGIN,
        {"username": "aigerim", "password": WRONG[5], "csrfmiddlewaretoken": csrf_token},
        REMOTE_ADDR=DESK,
    )
    assert response.status_code == 200
    fail("aigerim", 4)
    sign_in("aigerim", PASSWORD)
    sign_in("aigerim", PASSWORD, address=OFFICE, url=ADMIN_LOGIN)
    sign_in("dauren-typo", WRONG[0], address=OFFICE)

    audit = json.dumps([e.changes for e in AuditEntry.objects.all()], ensure_ascii=False)
    audit += " ".join(str(e) for e in AuditEntry.objects.all())
    counters = json.dumps(list(AccessAttempt.objects.values()), default=str)
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert AuditEntry.objects.count() >= 8
    assert AccessAttempt.objects.exists()
    assert caplog.records
    for secret in [PASSWORD, *WRONG, csrf_token]:
        assert secret not in audit
        assert secret not in counters
        assert secret not in logs


# --- Configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "PROPUSK_LOGIN_FAILURE_LIMIT",
        "PROPUSK_LOGIN_ADDRESS_FAILURE_LIMIT",
        "PROPUSK_LOGIN_COOLOFF_MINUTES",
    ],
)
def test_a_limit_below_one_stops_the_process_naming_the_variable(name):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import tests.settings"],
        cwd=root,
        env={"PYTHONPATH": f"{root / 'src'}:{root}", name: "0", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}=0 must be at least 1" in result.stderr
