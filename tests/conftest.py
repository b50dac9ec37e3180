"""Shared fixtures: fixed personas (one per role, two hosts) and access policies."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.models import Department, EmployeeProfile
from propusk.accounts.roles import Role

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters (and anything else cached) never carry over from one test."""
    cache.clear()


def make_user(username: str, *roles: Role, department: Department | None = None) -> User:
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        first_name=username.capitalize(),
        last_name="Testova",
        email=f"{username}@example.org",
    )
    for role in roles:
        user.groups.add(Group.objects.get(name=role.value))
    EmployeeProfile.objects.create(user=user, department=department, phone="+77010000000")
    return user


@pytest.fixture
def department(db: None) -> Department:
    return Department.objects.create(name="Faculty of Physics")


@pytest.fixture
def other_department(db: None) -> Department:
    return Department.objects.create(name="Rectorate")


@pytest.fixture
def admin_user(db: None) -> User:
    return make_user("admin", Role.ADMINISTRATOR)


@pytest.fixture
def security(db: None) -> User:
    return make_user("security", Role.SECURITY)


@pytest.fixture
def reception(db: None) -> User:
    return make_user("reception", Role.RECEPTION)


@pytest.fixture
def host(department: Department) -> User:
    return make_user("alice", Role.HOST, department=department)


@pytest.fixture
def other_host(other_department: Department) -> User:
    return make_user("bob", Role.HOST, department=other_department)


@pytest.fixture
def no_role_user(db: None) -> User:
    return make_user("nobody")


@pytest.fixture
def guest_policy(db: None) -> AccessLevelPolicy:
    return AccessLevelPolicy.objects.create(
        key="guest",
        name="Guests",
        hcp_access_level_ids=["1"],
        hosts_may_choose=True,
        early_arrival_minutes=15,
        late_leave_minutes=15,
    )


@pytest.fixture
def vip_policy(db: None) -> AccessLevelPolicy:
    return AccessLevelPolicy.objects.create(
        key="vip",
        name="VIP guests",
        hcp_access_level_ids=["2"],
        early_arrival_minutes=30,
        late_leave_minutes=60,
    )


@pytest.fixture
def student_policy(db: None) -> AccessLevelPolicy:
    return AccessLevelPolicy.objects.create(
        key="student",
        name="Students",
        hcp_access_level_ids=["3"],
        hosts_may_choose=True,
        early_arrival_minutes=10,
        late_leave_minutes=10,
        single_pass_default=True,
    )
