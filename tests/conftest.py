"""Shared fixtures: fixed personas (one per role, two hosts) and access policies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from propusk.access.models import AccessLevelPolicy, AccessWork
from propusk.accounts.models import Department, EmployeeProfile
from propusk.accounts.roles import Role

PASSWORD = "correct-horse-battery"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that commits for real must also ask for ``serialized_rollback``.

    A transactional test ends with a flush, after which Django makes the content types and
    permissions again under new ids; the next ``serialized_rollback`` test then restores the
    old rows and collides with them (IntegrityError on django_content_type), wherever it runs
    in the suite. So the rule holds for all or it breaks at random: refuse to run otherwise.
    """
    offenders = []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("django_db")
        transactional = bool({"transactional_db", "live_server"} & fixtures) or (
            marker is not None and marker.kwargs.get("transaction", False)
        )
        serialized = marker is not None and marker.kwargs.get("serialized_rollback", False)
        if transactional and not serialized:
            offenders.append(item.nodeid)
    if offenders:
        raise pytest.UsageError(
            "Mark these tests @pytest.mark.django_db(transaction=True, serialized_rollback=True)"
            " (see tests/conftest.py): " + ", ".join(offenders)
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters (and anything else cached) never carry over from one test."""
    cache.clear()


@pytest.fixture(autouse=True)
def _own_hcp_throttle(settings, tmp_path_factory):
    """Each test has its own HCP call bucket and circuit breaker (shared_state in a fresh
    directory): a breaker one test opened must not refuse the next test's calls."""
    settings.HCP_RATE_LIMIT_URL = tmp_path_factory.mktemp("hcp-throttle").as_uri()


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


class QueuedAccessWork:
    """(visit id, reason) of every access change recorded for the access engine, read from the
    durable work rows (``access.work``) each time it is looked at."""

    def _items(self) -> list[tuple[int, str]]:
        items = []
        for row in AccessWork.objects.order_by("pk"):
            for reason in row.reasons:
                kind, _, rest = reason.partition(" ")
                visit_id, _, what = rest.partition(" ")
                if kind == "visit":
                    items.append((int(visit_id), what))
        return items

    __hash__ = None  # type: ignore[assignment]  # compared by value, never hashed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, list) and self._items() == other

    def __getitem__(self, index: int) -> tuple[int, str]:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return iter(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


@pytest.fixture
def announced(db: None) -> QueuedAccessWork:
    """The access changes recorded so far (see ``QueuedAccessWork``)."""
    return QueuedAccessWork()


@pytest.fixture
def daytime() -> Iterator[datetime]:
    """Tomorrow 11:00 site time (Almaty), the clock running from there: for a test whose
    visits must fall within the site's day as reception sees it. Run at the real hour, a
    visit "in an hour" is tomorrow's after 23:00 and one "three hours ago" yesterday's before
    03:00 - and CI runs late in the Almaty evening. Moves this process's clock only: a test
    with the HCP simulator sets its clock too (tests/access/conftest.py ``daytime_site``)."""
    from django.utils import timezone

    site_now = timezone.localtime()
    moment = (site_now + timedelta(days=1)).replace(hour=11, minute=0, second=0, microsecond=0)
    with time_machine.travel(moment, tick=True):
        yield moment
