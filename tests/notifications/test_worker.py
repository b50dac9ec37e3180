"""The whole path through a real Celery worker and the configured broker: a committed
notify() publishes after the commit, a worker consumes the task and sends over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from propusk.celery import app
from propusk.notifications.kinds import Channel, Kind
from propusk.notifications.models import Delivery, DeliveryStatus, TelegramLink
from propusk.notifications.services import notify

WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _prepare_broker() -> None:
    if app.conf.broker_url.startswith("filesystem"):
        for key, value in app.conf.broker_transport_options.items():
            if key.endswith("_folder") or key.startswith("data_folder"):
                Path(value).mkdir(parents=True, exist_ok=True)


def test_a_committed_notification_reaches_telegram_through_the_worker(host, telegram_api, settings):
    settings.PROPUSK_NOTIFY_EMAIL = False
    TelegramLink.objects.create(user=host, chat_id=555)
    _prepare_broker()
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30
    ):
        with transaction.atomic():
            notify(
                recipients=[host],
                kind=Kind.GUEST_ARRIVED,
                key="passage:1",
                params={"visitor_name": "Ерлан Сейткали", "door_name": "Турникет 2"},
            )
            time.sleep(0.5)
            assert telegram_api.requests == []  # nothing before the commit
        deadline = time.monotonic() + WAIT_SECONDS
        delivery = Delivery.objects.get(channel=Channel.TELEGRAM)
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status != DeliveryStatus.PENDING:
                break
            time.sleep(0.1)
    assert delivery.status == DeliveryStatus.SENT
    assert [r.json()["chat_id"] for r in telegram_api.requests] == [555]
    assert "Ерлан Сейткали" in telegram_api.requests[0].json()["text"]
