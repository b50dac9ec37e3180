"""Linking an employee's Telegram chat: the employee opens the bot and sends
``/start <code>`` (the preferences page gives the code, and a t.me link that sends it).

Updates reach us either by polling (``manage.py telegram_link``, getUpdates: works behind a
firewall with no inbound access) or by the webhook view (``PROPUSK_TELEGRAM_WEBHOOK_SECRET``).
Both hand each update to ``handle_update``. Chats that send anything else get a short hint.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from propusk.core.jsonbody import BadJSON
from propusk.notifications import channels
from propusk.notifications.channels import Retry, Undeliverable
from propusk.notifications.models import Preference, TelegramCursor
from propusk.notifications.services import complete_telegram_link, default_language

logger = logging.getLogger(__name__)


def check_update(update: dict[str, Any]) -> dict[str, Any]:
    """The webhook's update as the Bot API sends it, or ``BadJSON`` naming what is wrong: an
    integer ``update_id``; a ``message``, when there is one, an object with a ``chat`` object
    whose ``id`` is an integer and a ``text``, when there is one, a string. Other kinds of
    update (an edited message, a button press) pass and are ignored by ``handle_update``."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadJSON("'update_id' must be an integer")
    if "message" not in update:
        return update
    message = update["message"]
    if not isinstance(message, dict):
        raise BadJSON("'message' must be an object")
    chat = message.get("chat")
    if not isinstance(chat, dict):
        raise BadJSON("'message.chat' must be an object")
    chat_id = chat.get("id")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        raise BadJSON("'message.chat.id' must be an integer")
    if not isinstance(message.get("text", ""), str):
        raise BadJSON("'message.text' must be a string")
    return update


def handle_update(update: Any) -> bool:
    """Act on one Bot API update; True if it linked a chat. Anything malformed is ignored
    (the update comes from outside)."""
    if not isinstance(update, dict):
        return False
    message = update.get("message")
    if not isinstance(message, dict):
        return False
    chat = message.get("chat")
    text = message.get("text")
    if not isinstance(chat, dict) or not isinstance(text, str):
        return False
    chat_id = chat.get("id")
    if (
        not isinstance(chat_id, int)
        or isinstance(chat_id, bool)
        or chat.get("type", "private") != "private"
    ):
        return False
    command, _sep, argument = text.strip().partition(" ")
    if command.split("@")[0] != "/start":
        _reply(chat_id, None, "hint")
        return False
    link = complete_telegram_link(argument.strip(), chat_id)
    if link is None:
        _reply(chat_id, None, "bad code")
        return False
    logger.info("Telegram linked for user %s", link.user_id)
    _reply(chat_id, link.user, "linked")
    return True


def _reply(chat_id: int, user: User | None, what: str) -> None:
    """A short answer in the user's language (the site's when not known yet). Best effort:
    the link is made whether or not the answer gets through."""
    language = default_language()
    if user is not None:
        language = (
            Preference.objects.filter(user=user).values_list("language", flat=True).first()
            or language
        )
    with translation.override(language):
        if what == "linked":
            text = _("Propusk notifications will come to this chat.")
        elif what == "bad code":
            text = _(
                "This code is unknown or has expired. Open Notification settings on the "
                "Propusk site and link Telegram again."
            )
        else:
            text = _("To get Propusk notifications here, link Telegram in Notification settings.")
    try:
        channels.telegram_call("sendMessage", {"chat_id": chat_id, "text": text})
    except (Retry, Undeliverable) as exc:
        logger.warning("could not answer a Telegram chat: %s", exc)


def poll_once(*, timeout: int = 0) -> int:
    """Read the bot's pending updates once (long-polling up to ``timeout`` seconds) and act
    on them; returns how many were read. The offset is stored, so an update is read once."""
    cursor, _created = TelegramCursor.objects.get_or_create(pk=1)
    result = channels.telegram_call(
        "getUpdates",
        {"offset": cursor.next_offset, "timeout": timeout, "allowed_updates": ["message"]},
    )
    updates = result if isinstance(result, list) else []
    for update in updates:
        update_id = update.get("update_id") if isinstance(update, dict) else None
        handle_update(update)
        if isinstance(update_id, int):
            with transaction.atomic():
                TelegramCursor.objects.filter(pk=cursor.pk, next_offset__lte=update_id).update(
                    next_offset=update_id + 1
                )
    return len(updates)
