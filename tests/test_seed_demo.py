"""seed_demo: demo employees and policies, idempotent, refused in production."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.management.commands.seed_demo import DEMO_PASSWORD
from propusk.accounts.models import Department, EmployeeProfile
from propusk.accounts.roles import Role, roles_of

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _snapshot() -> list:
    return [
        sorted(User.objects.values_list("username", "password", "is_staff", "is_superuser")),
        sorted(EmployeeProfile.objects.values_list("user__username", "department__name")),
        sorted(Department.objects.values_list("name", flat=True)),
        sorted(
            AccessLevelPolicy.objects.values_list(
                "key",
                "hcp_access_level_ids",
                "early_arrival_minutes",
                "late_leave_minutes",
                "single_pass_default",
            )
        ),
        sorted(User.groups.through.objects.values_list("user__username", "group__name")),
    ]


def test_creates_one_employee_per_role_and_two_hosts(settings):
    settings.DEBUG = True
    output = seed()
    expected = {
        "admin": {Role.ADMINISTRATOR},
        "security": {Role.SECURITY},
        "reception": {Role.RECEPTION},
        "host": {Role.HOST},
        "host2": {Role.HOST},
    }
    for username, roles in expected.items():
        user = authenticate(username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        assert roles_of(user) == roles
        assert user.profile.department is not None
        assert username in output
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert DEMO_PASSWORD in output
    assert "Demo-only" in output
    assert Department.objects.count() >= 3


def test_policies_match_the_simulator_demo_access_levels(settings):
    settings.DEBUG = True
    seed()
    policies = {p.key: p for p in AccessLevelPolicy.objects.all()}
    assert policies["guest"].hcp_access_level_ids == ["1"]
    assert policies["vip"].hcp_access_level_ids == ["2"]
    assert policies["student"].hcp_access_level_ids == ["3"]
    assert policies["student"].single_pass_default is True
    assert policies["guest"].single_pass_default is False
    for policy in policies.values():
        policy.full_clean()


def test_running_twice_changes_nothing_and_prints_the_same(settings):
    settings.DEBUG = True
    first_output = seed()
    first = _snapshot()
    second_output = seed()
    assert _snapshot() == first
    assert second_output == first_output


def test_password_option(settings):
    settings.DEBUG = True
    output = seed("--password", "another-demo-secret")
    assert authenticate(username="host", password="another-demo-secret") is not None
    assert "another-demo-secret" in output
    assert "Demo-only" not in output


def test_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed()
    assert not User.objects.exists()
    seed("--force")
    assert User.objects.filter(username="admin").exists()


def test_keeps_existing_policies_as_edited(settings):
    settings.DEBUG = True
    AccessLevelPolicy.objects.create(key="guest", name="Our guests", hcp_access_level_ids=["7"])
    seed()
    assert AccessLevelPolicy.objects.get(key="guest").hcp_access_level_ids == ["7"]
