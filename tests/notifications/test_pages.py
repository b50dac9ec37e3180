"""The feed and the settings pages: login and roles, one's own entries only, the browser
subscription endpoint (login + CSRF), the Telegram webhook's secret."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification, Preference, PushSubscription
from propusk.notifications.services import notify
from tests.conftest import PASSWORD
from tests.notifications.conftest import new_browser

pytestmark = pytest.mark.django_db

PARAMS = {"visitor_name": "Айгерим Нурланова", "door_name": "Турникет 1", "visit_id": 42}


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_feed_shows_own_entries_unread_first_in_the_page_language(host, other_host):
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="p:1", params=PARAMS)
    notify(recipients=[host], kind=Kind.GUEST_LEFT, key="p:2", params=PARAMS)
    notify(recipients=[other_host], kind=Kind.OVERSTAY, key="v:9", params=PARAMS)
    Notification.objects.filter(kind=Kind.GUEST_LEFT).update(read_at=timezone.now())
    client = signed_in(host)
    page = client.get(reverse("notifications:feed")).content.decode()
    assert "Айгерим Нурланова came in through Турникет 1" in page
    assert page.index("Your guest arrived") < page.index("Your guest left")  # unread first
    assert "A visitor stayed past the end" not in page  # another host's
    assert 'href="/visits/42/"' in page
    # The same entry in Russian when the page is in Russian.
    client.cookies["django_language"] = "ru"
    page = client.get(reverse("notifications:feed"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Ваш гость пришёл" in page


def test_nav_shows_the_unread_count(host):
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="p:1", params=PARAMS)
    notify(recipients=[host], kind=Kind.GUEST_LEFT, key="p:2", params=PARAMS)
    page = signed_in(host).get(reverse("notifications:preferences")).content.decode()
    assert 'aria-label="2 unread">2</span>' in page


def test_mark_read_own_only(host, other_host):
    notify(recipients=[host, other_host], kind=Kind.GUEST_ARRIVED, key="p:1", params=PARAMS)
    mine = Notification.objects.get(recipient=host)
    theirs = Notification.objects.get(recipient=other_host)
    client = signed_in(host)
    assert client.post(reverse("notifications:mark_read", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("notifications:mark_read", args=[mine.pk])).status_code == 405
    response = client.post(reverse("notifications:mark_read", args=[mine.pk]))
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.read_at is not None
    assert theirs.read_at is None


def test_mark_all_read(host, other_host):
    notify(recipients=[host, other_host], kind=Kind.GUEST_ARRIVED, key="p:1", params=PARAMS)
    notify(recipients=[host], kind=Kind.GUEST_LEFT, key="p:1", params=PARAMS)
    signed_in(host).post(reverse("notifications:mark_all_read"))
    assert not Notification.objects.filter(recipient=host, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=other_host, read_at__isnull=True).count() == 1


@pytest.mark.parametrize("name", ["feed", "preferences"])
def test_pages_need_login_and_a_role(name, no_role_user, security, reception, admin_user):
    url = reverse(f"notifications:{name}")
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert signed_in(no_role_user).get(url).status_code == 403
    for user in (security, reception, admin_user):
        assert signed_in(user).get(url).status_code == 200


def test_preferences_are_saved_and_bad_input_changes_nothing(host):
    client = signed_in(host)
    url = reverse("notifications:preferences")
    response = client.post(url, {"email": "on", "language": "ru"})
    assert response.status_code == 302
    preference = Preference.objects.get(user=host)
    assert (preference.email, preference.telegram, preference.webpush) == (True, False, False)
    assert preference.language == "ru"
    response = client.post(url, {"email": "on", "telegram": "on", "language": "de"})
    assert response.status_code == 200
    assert "de is not one of the available choices" in response.content.decode()
    preference.refresh_from_db()
    assert (preference.telegram, preference.language) == (False, "ru")


def test_push_subscribe_needs_csrf_and_stores_the_subscription(host, vapid):
    client = Client(enforce_csrf_checks=True)
    client.login(username=host.username, password=PASSWORD)
    browser = new_browser()
    body = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
        "keys": {"p256dh": browser.p256dh, "auth": "c2VjcmV0LWF1dGg"},
    }
    url = reverse("notifications:push_subscribe")
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 403
    assert not PushSubscription.objects.exists()
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert "data-public-key" in page
    token = client.cookies["csrftoken"].value
    response = client.post(
        url, json.dumps(body), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201
    subscription = PushSubscription.objects.get()
    assert subscription.user == host
    assert subscription.endpoint == body["endpoint"]
    for endpoint in (
        "javascript:alert(1)",
        "https://10.0.0.5/admin",
        "https://169.254.169.254/latest",
    ):
        bad = {**body, "endpoint": endpoint}
        response = client.post(
            url, json.dumps(bad), content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 400, endpoint
    assert PushSubscription.objects.count() == 1
    response = client.post(
        reverse("notifications:push_unsubscribe"),
        json.dumps({"endpoint": body["endpoint"]}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.json() == {"ok": True, "deleted": 1}


def test_push_subscribe_is_off_without_vapid_keys(host, settings):
    settings.PROPUSK_VAPID_PRIVATE_KEY = ""
    response = signed_in(host).post(
        reverse("notifications:push_subscribe"), "{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_the_outbox_is_read_only_in_the_admin(host, admin_user):
    notify(recipients=[host], kind=Kind.GUEST_ARRIVED, key="p:1", params=PARAMS)
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = signed_in(admin_user)
    notification = Notification.objects.get()
    assert client.get(reverse("admin:notifications_delivery_changelist")).status_code == 200
    page = client.get(reverse("admin:notifications_notification_change", args=[notification.pk]))
    assert page.status_code == 200
    assert "guest_arrived" in page.content.decode() or "Your guest arrived" in page.content.decode()
    assert client.get(reverse("admin:notifications_notification_add")).status_code == 403


def test_a_test_notification_once_a_minute(host, telegram_api, settings):
    from datetime import timedelta

    import time_machine

    from propusk.notifications.models import Delivery, TelegramLink

    TelegramLink.objects.create(user=host, chat_id=555)
    client = signed_in(host)
    url = reverse("notifications:send_test")
    start = timezone.now().replace(second=5)
    with time_machine.travel(start, tick=False):
        page = client.post(url, follow=True).content.decode()
        assert "A test notification is on its way" in page
        page = client.post(url, follow=True).content.decode()
        assert "try again in a minute" in page
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        client.post(url)
    assert Notification.objects.filter(recipient=host, kind=Kind.TEST).count() == 2
    assert set(Delivery.objects.values_list("channel", flat=True)) == {"email", "telegram"}
    assert signed_in(host).get(url).status_code == 405


DEEP = "[" * 100_000  # Python's JSON parser recurses per level: a RecursionError, not JSON


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (DEEP, "JSON parse error - nested too deeply."),
        ('{"endpoint": ' + DEEP, "JSON parse error - nested too deeply."),
        ("{not json", "the request is not JSON"),
        (b"\xff\xfe", "the request is not JSON"),
        ("[]", "the request is not a JSON object"),
        ('"https://fcm.googleapis.com/fcm/send/abc"', "the request is not a JSON object"),
        (
            {"endpoint": ["https://fcm.googleapis.com/fcm/send/abc"], "keys": {}},
            "'endpoint' must be a string",
        ),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "keys": "p256dh"},
            "'keys' must be an object",
        ),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/abc", "keys": {"p256dh": 12345}},
            "'keys.p256dh' must be a string",
        ),
        (
            {
                "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
                "keys": {"p256dh": "BNc", "auth": {"nested": [1]}},
            },
            "'keys.auth' must be a string",
        ),
    ],
)
def test_push_subscribe_refuses_malformed_json_with_400_and_stores_nothing(
    host, vapid, body, error
):
    """Deep nesting was a server error (RecursionError), a number where a key goes was stored
    as its text: each is a clear 400 now, the error named, nothing stored."""
    raw = json.dumps(body) if isinstance(body, dict) else body
    client = signed_in(host)
    for name in ("notifications:push_subscribe", "notifications:push_unsubscribe"):
        if name.endswith("unsubscribe") and "keys" in error:
            continue  # unsubscribing reads the endpoint only
        response = client.post(reverse(name), raw, content_type="application/json")
        assert response.status_code == 400, name
        assert response.json() == {"error": error}
    assert not PushSubscription.objects.exists()
