"""notify(): the outbox rows, idempotency per (recipient, kind, key), after-commit wake-up."""

from __future__ import annotations

import pytest
from django.db import transaction

from propusk.accounts.roles import Role
from propusk.notifications import services
from propusk.notifications.kinds import Channel, Kind
from propusk.notifications.models import Delivery, Notification
from propusk.notifications.selectors import users_with_roles
from propusk.notifications.services import NotificationError, notify
from tests.conftest import make_user
from tests.factories import make_iin

pytestmark = pytest.mark.django_db


def test_same_key_twice_queues_one_message_per_recipient(host, security):
    first = notify(
        recipients=[host, security],
        kind=Kind.GUEST_DENIED,
        key="passage:7",
        params={"visitor_name": "Айгерим Нурланова", "reason": "too_early"},
    )
    again = notify(
        recipients=[host, security, host],
        kind=Kind.GUEST_DENIED,
        key="passage:7",
        params={"visitor_name": "Айгерим Нурланова", "reason": "too_early"},
    )
    assert (first, again) == (2, 0)
    assert Notification.objects.filter(kind=Kind.GUEST_DENIED, key="passage:7").count() == 2
    # Email is on by default and both have an address: one delivery each, no more.
    assert Delivery.objects.filter(channel=Channel.EMAIL).count() == 2


def test_another_key_or_kind_is_another_message(host):
    assert notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:1") == 1
    assert notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:2") == 1
    assert notify(recipients=[host], kind=Kind.GUEST_LEFT, key="passage:1") == 1
    assert Notification.objects.filter(recipient=host).count() == 3


def test_inactive_recipient_is_skipped(host):
    host.is_active = False
    host.save()
    assert notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:1") == 0
    assert not Notification.objects.exists()


def test_bad_input_changes_nothing(host):
    with pytest.raises(NotificationError):
        notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="")
    with pytest.raises(NotificationError):
        notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="k", params={"x": object()})
    with pytest.raises(ValueError, match="no_such_kind"):
        notify(recipients=[host], kind="no_such_kind", key="k")  # type: ignore[arg-type]
    assert not Notification.objects.exists()


def test_rolled_back_caller_queues_and_wakes_nothing(host, django_capture_on_commit_callbacks):
    class Boom(Exception):
        pass

    def caller() -> None:
        with transaction.atomic():
            notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:9")
            raise Boom

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Boom):
        caller()
    assert callbacks == []
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_committed_caller_wakes_a_worker_per_delivery(
    host, monkeypatch, django_capture_on_commit_callbacks
):
    woken: list[int] = []
    monkeypatch.setattr(services, "wake", woken.extend)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:9")
        assert woken == []  # not before the commit
    assert woken == list(Delivery.objects.values_list("pk", flat=True))
    assert len(woken) == 1


def test_users_with_roles(security, reception, host, admin_user):
    superuser = make_user("root")
    superuser.is_superuser = True
    superuser.save()
    gone = make_user("ushla", Role.SECURITY)
    gone.is_active = False
    gone.save()
    assert set(users_with_roles(Role.SECURITY, Role.RECEPTION)) == {security, reception}
    assert set(users_with_roles(Role.ADMINISTRATOR)) == {admin_user, superuser}
    assert list(users_with_roles()) == []


def test_an_id_number_in_the_parameters_never_leaves_the_site(host):
    iin = make_iin()
    notify(
        recipients=[host],
        kind=Kind.GUEST_DENIED,
        key="passage:1",
        params={"visitor_name": f"Айгерим Нурланова {iin}", "reason": "no_access"},
    )
    stored = Notification.objects.get().params["visitor_name"]
    assert iin not in stored
    assert stored.startswith("Айгерим Нурланова")


def test_times_are_shown_in_the_sites_zone(host):
    from propusk.notifications.rendering import render

    notify(
        recipients=[host],
        kind=Kind.GUEST_ARRIVED,
        key="passage:1",
        params={
            "visitor_name": "Ерлан Сейткали",
            "door_name": "Турникет 1",
            "at": "2026-12-02T04:15:00+00:00",
        },
    )
    message = render(Notification.objects.get(), "en")
    assert message.body == "Ерлан Сейткали came in through Турникет 1 at 02.12.2026 09:15."


def test_old_notifications_are_purged_unless_a_delivery_is_pending(host, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from propusk.notifications.models import DeliveryStatus
    from propusk.notifications.services import purge_old
    from propusk.notifications.tasks import purge_old as purge_task

    settings.PROPUSK_NOTIFY_RETENTION_DAYS = 30
    start = timezone.now()
    with time_machine.travel(start - timedelta(days=31)):
        notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="old-sent")
        notify(recipients=[host], kind=Kind.GUEST_LEFT, key="old-pending")
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="new")
    Delivery.objects.filter(notification__key="old-sent").update(status=DeliveryStatus.SENT)
    assert purge_task.apply().get() == 1
    assert sorted(Notification.objects.values_list("key", flat=True)) == ["new", "old-pending"]
    assert not Delivery.objects.filter(notification__key="old-sent").exists()
    assert purge_old() == 0
