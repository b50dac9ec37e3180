"""Linking Telegram: the one-time code sent as ``/start <code>``, read by polling getUpdates
from the Bot API stand-in, or pushed to the webhook with its secret."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.notifications import services, telegram
from propusk.notifications.models import Preference, TelegramCursor, TelegramLink
from tests.conftest import PASSWORD
from tests.notifications.conftest import BOT_TOKEN

pytestmark = pytest.mark.django_db


def update(update_id: int, chat_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "chat": {"id": chat_id, "type": "private", "first_name": "Айгерим"},
            "text": text,
        },
    }


def test_the_code_from_the_settings_page_links_the_chat_that_sends_it(host, telegram_api):
    Preference.objects.create(user=host, language="ru")
    client = Client()
    client.login(username=host.username, password=PASSWORD)
    page = client.post(reverse("notifications:telegram_link")).content.decode()
    code = page.split("<code>/start ", 1)[1].split("</code>", 1)[0]
    assert TelegramLink.objects.get(user=host).code_hash != code  # only a hash is kept
    telegram_api.answers = [
        (200, {"ok": True, "result": [update(10, 99, "hello"), update(11, 555, f"/start {code}")]})
    ]
    assert telegram.poll_once() == 2
    link = TelegramLink.objects.get(user=host)
    assert link.chat_id == 555
    assert link.code_hash == ""
    # Asked for updates from offset 0, then answered both chats; the cursor moved past them.
    calls = [(r.path.rsplit("/", 1)[1], r.json()) for r in telegram_api.requests]
    assert calls[0] == ("getUpdates", {"offset": 0, "timeout": 0, "allowed_updates": ["message"]})
    replies = {body["chat_id"]: body["text"] for name, body in calls if name == "sendMessage"}
    assert replies[555] == "Уведомления Propusk будут приходить в этот чат."
    assert "link Telegram" in replies[99]  # the site's language (en in tests) for a stranger
    assert TelegramCursor.objects.get().next_offset == 12
    telegram_api.answers = [(200, {"ok": True, "result": []})]
    telegram.poll_once()
    assert telegram_api.requests[-1].json()["offset"] == 12
    # The code works once.
    assert services.complete_telegram_link(code, 777) is None


def test_an_expired_code_links_nothing(host, telegram_api):
    code = services.start_telegram_link(host)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert not telegram.handle_update(update(1, 555, f"/start {code}"))
    assert TelegramLink.objects.get(user=host).chat_id is None
    assert "unknown or has expired" in telegram_api.requests[-1].json()["text"]


def test_a_chat_moves_to_the_user_who_linked_it_last(host, other_host, telegram_api):
    TelegramLink.objects.create(user=other_host, chat_id=555)
    code = services.start_telegram_link(host)
    assert telegram.handle_update(update(1, 555, f"/start {code}"))
    assert TelegramLink.objects.get(user=host).chat_id == 555
    assert TelegramLink.objects.get(user=other_host).chat_id is None


def test_malformed_updates_are_ignored(host, telegram_api):
    for bad in (None, [], {"message": "x"}, {"message": {"chat": {"id": "1"}, "text": "/start"}}):
        assert not telegram.handle_update(bad)
    group = update(1, -100, "/start abc")
    group["message"]["chat"]["type"] = "group"
    assert not telegram.handle_update(group)
    assert telegram_api.requests == []


def test_the_command_polls_once_and_refuses_without_a_token(host, telegram_api, settings):
    code = services.start_telegram_link(host)
    telegram_api.answers = [(200, {"ok": True, "result": [update(5, 321, f"/start {code}")]})]
    call_command("telegram_link")
    assert TelegramLink.objects.get(user=host).chat_id == 321
    telegram_api.answers = [(409, {"ok": False, "description": "Conflict: webhook is active"})]
    with pytest.raises(CommandError, match="409 Conflict"):
        call_command("telegram_link")
    settings.PROPUSK_TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="not configured"):
        call_command("telegram_link")


def test_webhook_needs_its_secret(host, telegram_api, settings):
    url = reverse("notifications:telegram_webhook")
    code = services.start_telegram_link(host)
    body = json.dumps(update(1, 555, f"/start {code}"))
    client = Client(enforce_csrf_checks=True)
    assert client.post(url, body, content_type="application/json").status_code == 404  # off
    settings.PROPUSK_TELEGRAM_WEBHOOK_SECRET = "webhook-secret-1"
    response = client.post(
        url, body, content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="nope"
    )
    assert response.status_code == 403
    assert TelegramLink.objects.get(user=host).chat_id is None
    response = client.post(
        url,
        body,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="webhook-secret-1",
    )
    assert response.status_code == 200
    assert TelegramLink.objects.get(user=host).chat_id == 555


def test_the_loop_outlives_a_refusal_and_links_once_telegram_answers(
    host, telegram_api, monkeypatch
):
    # make run runs the loop beside the web server: a token Telegram refuses must not end it
    # (and with it everything the process manager started).
    from propusk.notifications.management.commands import telegram_link as command

    class Stopped(Exception):
        pass

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise Stopped

    monkeypatch.setattr(command, "wait", sleep)
    code = services.start_telegram_link(host)
    telegram_api.answers = [
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}),
        (200, {"ok": True, "result": [update(7, 4242, f"/start {code}")]}),
        (200, {"ok": True, "result": {"message_id": 1}}),  # the bot's "linked" answer
        (502, {"ok": False, "description": "Bad Gateway"}),
    ]
    stderr = io.StringIO()
    with pytest.raises(Stopped):
        call_command("telegram_link", "--loop", "--timeout", "1", stderr=stderr)

    assert waits == [command.REFUSED_WAIT_SECONDS, command.RETRY_WAIT_SECONDS]
    assert "Telegram refused" in stderr.getvalue()
    assert BOT_TOKEN not in stderr.getvalue()
    assert TelegramLink.objects.get(user=host).chat_id == 4242


DEEP = "[" * 100_000  # Python's JSON parser recurses per level: a RecursionError, not JSON


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (DEEP, "JSON parse error - nested too deeply."),
        ('{"update_id": 1, "message": ' + DEEP, "JSON parse error - nested too deeply."),
        ("{not json", "the request is not JSON"),
        ("[1, 2]", "the request is not a JSON object"),
        ({"message": {"chat": {"id": 555}, "text": "/start"}}, "'update_id' must be an integer"),
        ({"update_id": "7"}, "'update_id' must be an integer"),
        ({"update_id": 7, "message": ["/start"]}, "'message' must be an object"),
        ({"update_id": 7, "message": {"text": "/start"}}, "'message.chat' must be an object"),
        (
            {"update_id": 7, "message": {"chat": {"id": "555"}, "text": "/start"}},
            "'message.chat.id' must be an integer",
        ),
        (
            {"update_id": 7, "message": {"chat": {"id": True}, "text": "/start"}},
            "'message.chat.id' must be an integer",
        ),
        (
            {"update_id": 7, "message": {"chat": {"id": 555}, "text": {"cmd": "/start"}}},
            "'message.text' must be a string",
        ),
    ],
)
def test_webhook_refuses_malformed_json_with_400_and_links_nothing(
    host, telegram_api, settings, body, error
):
    settings.PROPUSK_TELEGRAM_WEBHOOK_SECRET = "webhook-secret-1"
    services.start_telegram_link(host)
    before = list(TelegramLink.objects.values())
    raw = json.dumps(body) if isinstance(body, dict) else body
    response = Client().post(
        reverse("notifications:telegram_webhook"),
        raw,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="webhook-secret-1",
    )
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert list(TelegramLink.objects.values()) == before
    assert telegram_api.requests == []  # no answer sent to any chat


def test_webhook_ignores_other_kinds_of_update(host, telegram_api, settings):
    """An edited message or a button press is a well-formed update we do not act on: 200."""
    settings.PROPUSK_TELEGRAM_WEBHOOK_SECRET = "webhook-secret-1"
    code = services.start_telegram_link(host)
    response = Client().post(
        reverse("notifications:telegram_webhook"),
        json.dumps(
            {
                "update_id": 8,
                "edited_message": {
                    "chat": {"id": 555, "type": "private"},
                    "text": f"/start {code}",
                },
            }
        ),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="webhook-secret-1",
    )
    assert response.status_code == 200
    assert TelegramLink.objects.get(user=host).chat_id is None
    assert telegram_api.requests == []
