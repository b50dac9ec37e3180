# ruff: noqa: RUF001 - Russian text
"""Delivery over real HTTP to local stand-ins: Telegram's Bot API, a Web Push service, and
email through Django's mail backends. Channels that are down retry with backoff and never hold
up the others."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import random
import socket
from datetime import timedelta

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.core import mail
from django.db import transaction
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.notifications import delivery, tasks
from propusk.notifications.kinds import Channel, Kind
from propusk.notifications.models import (
    Delivery,
    DeliveryStatus,
    Preference,
    PushSubscription,
    TelegramLink,
)
from propusk.notifications.services import notify
from tests.notifications.conftest import BOT_TOKEN, new_browser

pytestmark = pytest.mark.django_db

DENIED = {
    "visitor_name": "Ерлан Сейткали",
    "door_name": "Главный вход",
    "reason": "too_early",
    "visit_id": 42,
}


# Past a sweep interval (30 s) after a row fell due: the sweep sends it.
SWEPT = timedelta(seconds=31)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def link(user, chat_id: int, language: str = "en") -> None:
    TelegramLink.objects.create(user=user, chat_id=chat_id, linked_at=timezone.now())
    Preference.objects.create(user=user, language=language)


def send_committed(django_capture_on_commit_callbacks, **kwargs) -> int:
    """notify() in a committed transaction: its after-commit wake-ups run (eagerly)."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        return notify(**kwargs)


def row(user, channel: Channel) -> Delivery:
    return Delivery.objects.get(notification__recipient=user, channel=channel)


@pytest.fixture
def both_linked(host, security, telegram_api):
    link(host, 555, "ru")
    link(security, 777, "en")
    return host, security


def test_telegram_gets_each_recipient_in_their_language(
    both_linked, telegram_api, eager_tasks, django_capture_on_commit_callbacks
):
    host, security = both_linked
    send_committed(
        django_capture_on_commit_callbacks,
        recipients=[host, security],
        kind=Kind.GUEST_DENIED,
        key="passage:1",
        params=DENIED,
    )
    sent = {r.json()["chat_id"]: r.json()["text"] for r in telegram_api.requests}
    assert all(r.path == f"/bot{BOT_TOKEN}/sendMessage" for r in telegram_api.requests)
    assert set(sent) == {555, 777}
    assert sent[555].startswith("Вашему гостю отказали у двери")
    assert "Ерлан Сейткали" in sent[555]
    assert "раньше времени визита" in sent[555]
    assert sent[777].startswith("Your guest was refused at a door")
    assert "before the visit's time" in sent[777]
    assert "http://testserver.example/visits/42/" in sent[555]
    assert row(host, Channel.TELEGRAM).status == DeliveryStatus.SENT
    assert row(security, Channel.EMAIL).status == DeliveryStatus.SENT
    # Email too, in each one's language.
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects[host.email] == "Вашему гостю отказали у двери"
    assert subjects[security.email] == "Your guest was refused at a door"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.PROPUSK_SITE_URL = "http://testserver.example"


def test_a_rolled_back_caller_sends_nothing(
    both_linked, telegram_api, eager_tasks, django_capture_on_commit_callbacks
):
    host, _security = both_linked

    def caller() -> None:
        with transaction.atomic():
            notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:2", params=DENIED)
            raise RuntimeError("the passage could not be saved")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        caller()
    tasks.send_due.apply()
    assert telegram_api.requests == []
    assert mail.outbox == []


def test_telegram_down_retries_with_backoff_while_email_is_delivered(
    both_linked, telegram_api, eager_tasks, django_capture_on_commit_callbacks, caplog
):
    host, _security = both_linked
    telegram_api.answers = [(500, {"ok": False, "description": "Internal Server Error"})]
    caplog.set_level(logging.INFO)
    before = timezone.now()
    send_committed(
        django_capture_on_commit_callbacks,
        recipients=[host],
        kind=Kind.GUEST_ARRIVED,
        key="passage:3",
        params=DENIED,
    )
    tg = row(host, Channel.TELEGRAM)
    assert tg.status == DeliveryStatus.PENDING
    assert tg.attempts == 1
    assert "500" in tg.last_error
    # First backoff step: between half the minimum and the minimum (10 s).
    wait = (tg.next_attempt_at - before).total_seconds()
    assert 5 <= wait <= 11
    assert [m.to for m in mail.outbox] == [[host.email]]
    assert row(host, Channel.EMAIL).status == DeliveryStatus.SENT
    assert BOT_TOKEN not in caplog.text
    assert BOT_TOKEN not in tg.last_error

    # Not due yet: the sweep leaves it. Due, it is the retry task's; the sweep takes it once
    # it is overdue (that task was lost).
    tasks.send_due.apply()
    with time_machine.travel(tg.next_attempt_at + timedelta(seconds=1)):
        assert tasks.send_due.apply().get() == 0
    assert len(telegram_api.requests) == 1
    with time_machine.travel(tg.next_attempt_at + SWEPT):
        assert tasks.send_due.apply().get() == 1
    tg.refresh_from_db()
    assert tg.status == DeliveryStatus.SENT
    assert tg.attempts == 2
    assert len(telegram_api.requests) == 2
    assert len(mail.outbox) == 1  # email was not sent again


def test_telegram_unreachable_retries_and_fails_for_good_after_the_last_attempt(
    both_linked, settings, eager_tasks, django_capture_on_commit_callbacks
):
    host, _security = both_linked
    settings.PROPUSK_TELEGRAM_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.PROPUSK_NOTIFY_MAX_ATTEMPTS = 3
    send_committed(
        django_capture_on_commit_callbacks,
        recipients=[host],
        kind=Kind.OVERSTAY,
        key="visit:42:overstay",
        params=DENIED,
    )
    tg = row(host, Channel.TELEGRAM)
    sent_at = timezone.now()
    waits = []
    for _ in range(2):
        assert tg.status == DeliveryStatus.PENDING
        assert "ConnectError" in tg.last_error
        waits.append((tg.next_attempt_at - sent_at).total_seconds())
        sent_at = tg.next_attempt_at + SWEPT
        with time_machine.travel(sent_at):
            tasks.send_due.apply()
        tg.refresh_from_db()
    assert 4 <= waits[0] <= 10  # the first step: 5 to 10 s
    assert 9 <= waits[1] <= 20  # the second step: 10 to 20 s
    assert tg.status == DeliveryStatus.FAILED
    assert tg.attempts == 3
    entry = AuditEntry.objects.get(action="notification.delivery_failed")
    assert entry.target_id == str(tg.pk)
    assert entry.changes["channel"] == "telegram"
    assert entry.changes["attempts"] == 3
    assert row(host, Channel.EMAIL).status == DeliveryStatus.SENT


def test_telegram_rate_limit_waits_as_long_as_asked(
    both_linked, telegram_api, django_capture_on_commit_callbacks
):
    host, _security = both_linked
    telegram_api.answers = [
        (429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 90}})
    ]
    notify(recipients=[host], kind=Kind.GUEST_LEFT, key="passage:4", params=DENIED)
    tg = row(host, Channel.TELEGRAM)
    outcome = delivery.attempt(tg.pk)
    assert outcome.status == "retry"
    assert outcome.retry_in is not None
    assert outcome.retry_in >= 90


def test_a_blocked_bot_fails_at_once_and_is_audited(both_linked, telegram_api):
    host, _security = both_linked
    telegram_api.answers = [
        (403, {"ok": False, "description": "Forbidden: bot was blocked by the user"})
    ]
    notify(recipients=[host], kind=Kind.GUEST_LEFT, key="passage:5", params=DENIED)
    tg = row(host, Channel.TELEGRAM)
    assert delivery.attempt(tg.pk).status == "failed"
    tg.refresh_from_db()
    assert tg.status == DeliveryStatus.FAILED
    assert "blocked" in tg.last_error
    assert AuditEntry.objects.filter(action="notification.delivery_failed").count() == 1


def test_a_delivery_is_sent_once_however_often_its_task_runs(both_linked, telegram_api):
    host, _security = both_linked
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:6", params=DENIED)
    tg = row(host, Channel.TELEGRAM)
    assert tasks.deliver.apply(args=(tg.pk,)).get() == "sent"
    assert tasks.deliver.apply(args=(tg.pk,)).get() == "not due"
    assert len(telegram_api.requests) == 1


def test_no_token_means_no_telegram_deliveries(host, settings):
    settings.PROPUSK_TELEGRAM_BOT_TOKEN = ""
    link(host, 555)
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:7", params=DENIED)
    assert list(Delivery.objects.values_list("channel", flat=True)) == [Channel.EMAIL]


def test_channels_switched_off_get_nothing(host, telegram_api):
    link(host, 555)
    Preference.objects.filter(user=host).update(email=False, telegram=False)
    assert notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="p:8", params=DENIED) == 1
    assert not Delivery.objects.exists()  # the feed entry only


def test_smtp_down_retries_while_telegram_is_delivered(
    both_linked, telegram_api, settings, eager_tasks, django_capture_on_commit_callbacks
):
    host, _security = both_linked
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 2
    send_committed(
        django_capture_on_commit_callbacks,
        recipients=[host],
        kind=Kind.GUEST_ARRIVED,
        key="passage:9",
        params=DENIED,
    )
    mail_row = row(host, Channel.EMAIL)
    assert mail_row.status == DeliveryStatus.PENDING
    assert "ConnectionRefusedError" in mail_row.last_error
    assert row(host, Channel.TELEGRAM).status == DeliveryStatus.SENT


# --- Web Push ---------------------------------------------------------------------------


def subscribe(user, push_service, name: str):
    browser = new_browser()
    PushSubscription.objects.create(
        user=user,
        endpoint=f"{push_service.url}/push/{name}",
        p256dh=browser.p256dh,
        auth=b64(browser.auth),
    )
    return browser


def verified_vapid_claims(header: str, key) -> dict:
    """The claims of a ``vapid t=<JWT>, k=<key>`` header, after checking its ES256 signature
    with the site's public key (as the push service does)."""
    token = header.removeprefix("vapid ").split(",")[0].strip().removeprefix("t=")
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    key.public_key().verify(
        encode_dss_signature(r, s), signing_input.encode(), ec.ECDSA(hashes.SHA256())
    )
    payload = signing_input.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64(data: bytes) -> str:
    from tests.notifications.conftest import b64url

    return b64url(data)


def test_web_push_is_encrypted_for_the_browser_and_signed_with_vapid(
    host, vapid, push_service, eager_tasks, django_capture_on_commit_callbacks, settings
):
    settings.PROPUSK_NOTIFY_EMAIL = False
    Preference.objects.create(user=host, language="ru")
    browser = subscribe(host, push_service, "laptop")
    send_committed(
        django_capture_on_commit_callbacks,
        recipients=[host],
        kind=Kind.GUEST_ARRIVED,
        key="passage:10",
        params={**DENIED, "at": "2026-12-02T09:15:00+05:00"},
    )
    [request] = push_service.requests
    assert request.path == "/push/laptop"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["authorization"].startswith("vapid t=")
    assert f"k={settings.PROPUSK_VAPID_PUBLIC_KEY}" in request.headers["authorization"]
    claims = verified_vapid_claims(request.headers["authorization"], vapid)
    assert claims["aud"] == push_service.url
    assert claims["sub"] == settings.PROPUSK_VAPID_SUBJECT
    payload = browser.decrypt(request.body)
    assert payload["title"] == "Ваш гость пришёл"
    assert "Ерлан Сейткали" in payload["body"]
    assert "09:15" in payload["body"]
    assert payload["url"] == "http://testserver.example/visits/42/"
    assert row(host, Channel.WEBPUSH).status == DeliveryStatus.SENT
    assert settings.PROPUSK_VAPID_PRIVATE_KEY not in row(host, Channel.WEBPUSH).last_error


def test_a_gone_subscription_is_deleted_and_others_still_get_it(
    host, vapid, push_service, settings
):
    settings.PROPUSK_NOTIFY_EMAIL = False
    subscribe(host, push_service, "old-phone")
    subscribe(host, push_service, "laptop")
    push_service.answers = [(410, None)]  # the first browser asked is gone
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:11", params=DENIED)
    assert delivery.attempt(row(host, Channel.WEBPUSH).pk).status == "sent"
    assert len(push_service.requests) == 2
    assert PushSubscription.objects.filter(user=host).count() == 1


def test_push_service_down_retries(host, vapid, push_service, settings):
    settings.PROPUSK_NOTIFY_EMAIL = False
    subscribe(host, push_service, "laptop")
    push_service.default = (503, None)
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:12", params=DENIED)
    push = row(host, Channel.WEBPUSH)
    assert delivery.attempt(push.pk).status == "retry"
    push.refresh_from_db()
    assert push.status == DeliveryStatus.PENDING
    assert "503" in push.last_error
    assert PushSubscription.objects.filter(user=host).count() == 1


# --- Backoff ----------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(settings):
    settings.PROPUSK_NOTIFY_RETRY_MIN_SECONDS = 10
    settings.PROPUSK_NOTIFY_RETRY_MAX_SECONDS = 300
    rng = random.Random(7)
    for attempts, step in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (30, 300)]:
        waits = [delivery.backoff_seconds(attempts, rng=rng) for _ in range(200)]
        assert step / 2 <= min(waits)
        assert max(waits) <= step
        assert len({round(w, 3) for w in waits}) > 100  # jittered, not one value


def test_broker_down_never_fails_the_caller_and_the_sweep_sends_later(
    both_linked, telegram_api, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    host, _security = both_linked

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.deliver, "delay", broker_down)
        queued = send_committed(
            django_capture_on_commit_callbacks,
            recipients=[host],
            kind=Kind.GUEST_ARRIVED,
            key="passage:13",
            params=DENIED,
        )
    assert queued == 1
    assert "the sweep will send it" in caplog.text
    assert telegram_api.requests == []
    due = row(host, Channel.TELEGRAM).next_attempt_at
    with time_machine.travel(due + SWEPT):
        for delivery_id in delivery.overdue_ids():
            tasks.deliver.apply(args=(delivery_id,))
    assert [r.json()["chat_id"] for r in telegram_api.requests] == [555]
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 2  # email too


def test_an_account_deactivated_before_sending_gets_nothing(both_linked, telegram_api):
    host, _security = both_linked
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:14", params=DENIED)
    host.is_active = False
    host.save()
    tg = row(host, Channel.TELEGRAM)
    assert delivery.attempt(tg.pk).status == "failed"
    assert telegram_api.requests == []


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", True),
        ("https://updates.push.services.mozilla.com/wpush/v2/abc", True),
        ("https://db5p.notify.windows.com/w/?token=abc", True),
        ("https://web.push.apple.com/QGx", True),
        ("http://fcm.googleapis.com/fcm/send/abc", False),  # not https
        ("https://fcm.googleapis.com.evil.example/x", False),
        ("https://evilnotify.windows.com/x", False),
        ("https://user:pw@fcm.googleapis.com/x", False),
        ("https://fcm.googleapis.com:99999/x", False),
        ("https://10.0.0.5/x", False),
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
def test_push_endpoints_only_on_the_allowed_push_services(endpoint, allowed, settings):
    from propusk.notifications.channels import push_endpoint_allowed

    settings.PROPUSK_WEBPUSH_ALLOW_HTTP = False
    assert push_endpoint_allowed(endpoint) is allowed


def test_a_subscription_on_a_host_no_longer_allowed_gets_nothing(
    host, vapid, push_service, settings
):
    settings.PROPUSK_NOTIFY_EMAIL = False
    subscribe(host, push_service, "laptop")
    settings.PROPUSK_WEBPUSH_ALLOWED_HOSTS = ["fcm.googleapis.com"]
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:15", params=DENIED)
    assert delivery.attempt(row(host, Channel.WEBPUSH).pk).status == "failed"
    assert push_service.requests == []


def test_email_over_smtp_in_the_recipients_language(host, smtp_server):
    Preference.objects.create(user=host, language="ru")
    notify(recipients=[host], kind=Kind.GUEST_DENIED, key="passage:16", params=DENIED)
    assert delivery.attempt(row(host, Channel.EMAIL).pk).status == "sent"
    [data] = smtp_server.received
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["To"] == host.email
    assert message["Subject"].strip() == "Вашему гостю отказали у двери"  # folded: a space
    assert "Ерлан Сейткали" in message.get_content()
    assert "http://testserver.example/visits/42/" in message.get_content()


def test_an_address_the_mail_server_refuses_fails_at_once(host, smtp_server):
    smtp_server.refuse_recipients = True
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="passage:17", params=DENIED)
    mail_row = row(host, Channel.EMAIL)
    assert delivery.attempt(mail_row.pk).status == "failed"
    mail_row.refresh_from_db()
    assert mail_row.last_error == "the mail server refused the address"
    assert AuditEntry.objects.filter(action="notification.delivery_failed").count() == 1


def test_a_channel_switched_off_or_unlinked_after_queueing_is_skipped(both_linked, telegram_api):
    host, security = both_linked
    notify(recipients=[host, security], kind=Kind.GUEST_ARRIVED, key="p:18", params=DENIED)
    Preference.objects.filter(user=host).update(telegram=False)
    TelegramLink.objects.filter(user=security).delete()
    for user in (host, security):
        tg = row(user, Channel.TELEGRAM)
        assert delivery.attempt(tg.pk).status == "skipped"
        tg.refresh_from_db()
        assert tg.status == DeliveryStatus.SKIPPED
    assert telegram_api.requests == []
    assert not AuditEntry.objects.filter(action="notification.delivery_failed").exists()
