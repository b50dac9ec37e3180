"""Writes for notifications: queue messages (``notify``), feed and settings changes, the
Telegram link and browser subscriptions."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from propusk.core.logging import mask_secrets
from propusk.notifications import channels
from propusk.notifications.kinds import Channel, Kind
from propusk.notifications.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    Preference,
    PushSubscription,
    TelegramLink,
)

if TYPE_CHECKING:
    from propusk.visits.models import Visit

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200
TELEGRAM_CODE_LIFETIME = timedelta(minutes=30)


class NotificationError(ValueError):
    """Bad input to a notification service; nothing was changed."""


def notify(
    *,
    recipients: Iterable[User],
    kind: Kind,
    key: str,
    params: Mapping[str, Any] | None = None,
    visit: Visit | None = None,
    incident_id: int | None = None,
) -> int:
    """Queue one message of ``kind`` for each recipient, once per (recipient, kind, key):
    calling it again with the same key adds nothing. Call it inside the transaction of the
    change it reports: the rows commit with that change, and the workers that send them are
    woken only after the commit (a rolled-back caller sends nothing). Inactive recipients
    are skipped. Returns how many new messages were queued.

    ``params`` are plain values (names, door, ``at`` as a datetime or ISO string, reason,
    ``visit_id``); the text is rendered per recipient, in their language, when sent.
    """
    kind = Kind(kind)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise NotificationError(f"key must be 1 to {MAX_KEY_LENGTH} characters")
    clean = _plain(dict(params or {}))
    if visit is not None:
        clean.setdefault("visit_id", visit.pk)
    unique: dict[Any, User] = {}
    for user in recipients:
        if user.is_active:
            unique.setdefault(user.pk, user)
    queued = 0
    delivery_ids: list[int] = []
    now = timezone.now()
    with transaction.atomic():
        for user in unique.values():
            try:
                with transaction.atomic():
                    notification = Notification.objects.create(
                        recipient=user,
                        kind=kind,
                        key=key,
                        params=clean,
                        visit=visit,
                        incident_id=incident_id,
                    )
            except IntegrityError:
                continue  # this recipient was told of this event already
            queued += 1
            rows = [
                Delivery(notification=notification, channel=channel, next_attempt_at=now)
                for channel in channels_for(user)
            ]
            delivery_ids += [row.pk for row in Delivery.objects.bulk_create(rows)]
    if delivery_ids:
        transaction.on_commit(lambda: wake(delivery_ids))
    return queued


def wake(delivery_ids: Iterable[int]) -> None:
    """Ask workers to send these deliveries now, one task each, so a slow channel holds up
    no other. A lost wake-up only waits for the sweep: the rows are in the database."""
    from propusk.notifications.tasks import deliver

    for delivery_id in delivery_ids:
        try:
            deliver.delay(delivery_id)
        except Exception as exc:  # the broker is down: the sweep sends it
            logger.warning(
                "could not queue notification delivery %s (%s); the sweep will send it",
                delivery_id,
                type(exc).__name__,
            )
            return


def preference_of(user: User) -> Preference:
    """The user's settings; an unsaved default (every channel, the site's language) if none."""
    try:
        return Preference.objects.get(user=user)
    except Preference.DoesNotExist:
        return Preference(user=user, language=default_language())


def default_language() -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return settings.LANGUAGE_CODE if settings.LANGUAGE_CODE in codes else "en"


def channels_for(user: User) -> list[Channel]:
    """The outside channels a message to ``user`` goes through now: those switched on, set up
    on the site, and that the user can be reached by."""
    preference = preference_of(user)
    result = []
    if preference.email and channels.email_configured() and user.email:
        result.append(Channel.EMAIL)
    if (
        preference.telegram
        and channels.telegram_configured()
        and TelegramLink.objects.filter(user=user, chat_id__isnull=False).exists()
    ):
        result.append(Channel.TELEGRAM)
    if (
        preference.webpush
        and channels.webpush_configured()
        and PushSubscription.objects.filter(user=user).exists()
    ):
        result.append(Channel.WEBPUSH)
    return result


def save_preference(
    user: User, *, email: bool, telegram: bool, webpush: bool, language: str
) -> Preference:
    codes = {code for code, _name in settings.LANGUAGES}
    if language not in codes:
        raise NotificationError(f"unknown language {language!r}")
    preference, _created = Preference.objects.update_or_create(
        user=user,
        defaults={"email": email, "telegram": telegram, "webpush": webpush, "language": language},
    )
    return preference


def purge_old(*, now: datetime | None = None) -> int:
    """Delete notifications (feed entries and their deliveries) older than
    ``PROPUSK_NOTIFY_RETENTION_DAYS``: they name visitors, and nobody reads a months-old
    feed. Ones with a delivery still pending wait for it. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PROPUSK_NOTIFY_RETENTION_DAYS)
    old = Notification.objects.filter(created_at__lt=cutoff).exclude(
        deliveries__status=DeliveryStatus.PENDING
    )
    _total, by_model = Notification.objects.filter(
        pk__in=list(old.values_list("pk", flat=True))
    ).delete()
    return by_model.get(Notification._meta.label, 0)


def mark_read(user: User, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when no ids are given)."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        rows = rows.filter(pk__in=list(notification_ids))
    return rows.update(read_at=timezone.now())


# --- Telegram link ----------------------------------------------------------------------


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def start_telegram_link(user: User) -> str:
    """A fresh one-time code the user sends to the bot as ``/start <code>``; valid for
    30 minutes; a newer code replaces an older one. Only its hash is stored."""
    code = secrets.token_urlsafe(16)
    TelegramLink.objects.update_or_create(
        user=user,
        defaults={
            "code_hash": _code_hash(code),
            "code_expires_at": timezone.now() + TELEGRAM_CODE_LIFETIME,
        },
    )
    return code


def complete_telegram_link(code: str, chat_id: int) -> TelegramLink | None:
    """Link the chat that sent ``/start <code>`` to the code's user. An unknown or expired code
    links nothing (None). A chat linked to another user before moves to this one."""
    if not code:
        return None
    with transaction.atomic():
        link = (
            TelegramLink.objects.select_for_update()
            .filter(code_hash=_code_hash(code), code_expires_at__gt=timezone.now())
            .first()
        )
        if link is None:
            return None
        TelegramLink.objects.filter(chat_id=chat_id).exclude(pk=link.pk).update(chat_id=None)
        link.chat_id = chat_id
        link.linked_at = timezone.now()
        link.code_hash = ""
        link.code_expires_at = None
        link.save()
    return link


def unlink_telegram(user: User) -> None:
    TelegramLink.objects.filter(user=user).delete()


# --- Browser subscriptions --------------------------------------------------------------


def save_push_subscription(
    user: User, *, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Store (or move to ``user``) a browser's subscription. Its endpoint must be on an
    allowed push service (``channels.push_endpoint_allowed``)."""
    if len(endpoint) > 1000 or not channels.push_endpoint_allowed(endpoint):
        raise NotificationError("the subscription endpoint is not a known push service")
    if not p256dh or not auth or len(p256dh) > 200 or len(auth) > 100:
        raise NotificationError("the subscription keys are missing or too long")
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]},
    )
    return subscription


def delete_push_subscription(user: User, endpoint: str) -> int:
    deleted, _kinds = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted


def _plain(value: Any) -> Any:
    """JSON-able parameters: datetimes as ISO strings, ID numbers in text masked; anything
    else not plain is refused."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        # Messages leave the site (mail, Telegram, push services): never with an ID number.
        return mask_secrets(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise NotificationError(f"parameter of type {type(value).__name__} is not a plain value")
