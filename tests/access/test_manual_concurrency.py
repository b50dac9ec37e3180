"""Two staff press "Revoke access now" for one visitor at the same moment, over HTTP: one hold,
one audit entry, one work row - the visitor's row lock makes the second see the first.

Needs a database with concurrent writers: PostgreSQL, or SQLite in a file (tests/settings.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from propusk.access.models import AccessHold, AccessWork, WorkPriority
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit
from tests.concurrency import run_together, signed_in_client

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROUNDS = 4
VISITORS = reverse("admin:visitors_visitor_changelist")


def _staff(user: User) -> None:
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="view_visitor"))


def _press(username: str, action: str, reason: str, *, visitor_id: int) -> Any:
    client = signed_in_client(username)
    data = {"action": action, "_selected_action": [str(visitor_id)], "apply": "yes"}
    return client.post(VISITORS, {**data, "reason": reason}).status_code


def test_two_revocations_at_once_hold_once(
    register: Callable[..., Visit], security: User, admin_user: User
) -> None:
    _staff(security)
    _staff(admin_user)
    visit = register(family_name="Оспанова", given_name="Гульнара")
    press = partial(_press, visitor_id=visit.visitor_id)

    for round_ in range(ROUNDS):
        results = run_together(
            partial(press, "security", "revoke_access_now", "Смена охраны 1"),
            partial(press, "admin", "revoke_access_now", "Смена охраны 2"),
        )

        assert results == [302, 302]
        assert AccessHold.objects.filter(released_at__isnull=True).count() == 1
        assert AuditEntry.objects.filter(action="access.revoked_now").count() == round_ + 1
        work = AccessWork.objects.get(person_code=visit.visitor.person_code)
        assert work.priority == WorkPriority.REVOKE
        assert press("admin", "restore_access", "Проверка закончена") == 302
        assert not AccessHold.objects.filter(released_at__isnull=True).exists()
