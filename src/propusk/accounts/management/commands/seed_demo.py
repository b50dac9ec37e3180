"""Demo data for a fresh checkout: departments, one employee per role, two hosts, policies.

Idempotent: running it again changes nothing and prints the same logins. The passwords are
for demonstrations only; the command refuses to run when DEBUG is off unless ``--force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from propusk.access.models import AccessLevelPolicy
from propusk.accounts.models import Department, EmployeeProfile
from propusk.accounts.roles import Role

# DEMO ONLY: printed on the console and known to everyone who reads this file.
DEMO_PASSWORD = "demo-propusk-2030"  # noqa: S105 - deliberately public, demo only

DEPARTMENTS = (
    "Ректорат",
    "Факультет физики и технических наук",
    "Факультет информационных технологий",
    "Приёмная комиссия",
    "Служба безопасности",
)


@dataclass(frozen=True)
class DemoEmployee:
    username: str
    first_name: str
    last_name: str
    role: Role
    department: str
    position: str
    superuser: bool = False


EMPLOYEES = (
    DemoEmployee(
        "admin",
        "Айгуль",
        "Серикова",
        Role.ADMINISTRATOR,
        "Ректорат",
        "Администратор системы",
        superuser=True,
    ),
    DemoEmployee(
        "security", "Ерлан", "Жумабаев", Role.SECURITY, "Служба безопасности", "Дежурный охраны"
    ),
    DemoEmployee(
        "reception",
        "Динара",
        "Ахметова",
        Role.RECEPTION,
        "Ректорат",
        "Администратор бюро пропусков",
    ),
    DemoEmployee(
        "host", "Марат", "Касымов", Role.HOST, "Факультет физики и технических наук", "Профессор"
    ),
    DemoEmployee(
        "host2", "Салтанат", "Нурланова", Role.HOST, "Факультет информационных технологий", "Доцент"
    ),
)


@dataclass(frozen=True)
class DemoPolicy:
    key: str
    name: str
    hcp_access_level_ids: tuple[str, ...]
    early_arrival_minutes: int
    late_leave_minutes: int
    single_pass_default: bool
    hosts_may_choose: bool


# The HCP simulator's demo seed has these access levels: 1 Guests, 2 VIP guests, 3 Students.
POLICIES = (
    DemoPolicy("guest", "Гости", ("1",), 15, 30, False, hosts_may_choose=True),
    DemoPolicy("vip", "VIP-гости", ("2",), 30, 60, False, hosts_may_choose=False),
    DemoPolicy("student", "Студенты и абитуриенты", ("3",), 10, 10, True, hosts_may_choose=True),
)


class Command(BaseCommand):
    help = "Create demo departments, employees (one per role, two hosts) and access policies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=DEMO_PASSWORD,
            help="Password for every demo employee (default: a fixed demo-only password).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (not for production)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like production. Demo users with known passwords "
                "must not exist there. Use --force if you really mean it."
            )
        password: str = options["password"]
        if not password:
            raise CommandError("--password must not be empty")
        with transaction.atomic():
            departments = {name: self._department(name) for name in DEPARTMENTS}
            for employee in EMPLOYEES:
                self._employee(employee, departments[employee.department], password)
            for policy in POLICIES:
                self._policy(policy)
        self._print_logins(password)

    def _department(self, name: str) -> Department:
        department, _ = Department.objects.get_or_create(name=name)
        return department

    def _employee(self, spec: DemoEmployee, department: Department, password: str) -> User:
        user, created = User.objects.get_or_create(
            username=spec.username,
            defaults={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "email": f"{spec.username}@demo.propusk.local",
            },
        )
        changed = created
        if spec.superuser and not (user.is_superuser and user.is_staff):
            user.is_superuser = user.is_staff = True
            changed = True
        if created or not user.check_password(password):
            user.set_password(password)
            changed = True
        if changed:
            user.save()
        user.groups.add(Group.objects.get(name=spec.role.value))
        EmployeeProfile.objects.get_or_create(
            user=user, defaults={"department": department, "position": spec.position}
        )
        return user

    def _policy(self, spec: DemoPolicy) -> AccessLevelPolicy:
        policy, _ = AccessLevelPolicy.objects.get_or_create(
            key=spec.key,
            defaults={
                "name": spec.name,
                "hcp_access_level_ids": list(spec.hcp_access_level_ids),
                "early_arrival_minutes": spec.early_arrival_minutes,
                "late_leave_minutes": spec.late_leave_minutes,
                "single_pass_default": spec.single_pass_default,
                "hosts_may_choose": spec.hosts_may_choose,
            },
        )
        return policy

    def _print_logins(self, password: str) -> None:
        header = ("username", "password", "role")
        rows = [header, *((e.username, password, e.role.value) for e in EMPLOYEES)]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        for number, row in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
            if number == 0:
                self.stdout.write("  ".join("-" * w for w in widths))
        if password == DEMO_PASSWORD:
            self.stdout.write(
                self.style.WARNING("Demo-only password: never use these accounts in production.")
            )
