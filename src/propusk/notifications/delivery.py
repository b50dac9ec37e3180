"""Send one outbox row, and decide what happens after: sent, retried later, or failed.

A worker first claims the row with one conditional UPDATE (pending and due), which pushes its
``next_attempt_at`` a lease ahead: a second worker given the same id, or the sweep, finds it
not due and leaves it. The send happens outside any transaction; a worker that dies
mid-send leaves the row pending, and the sweep tries it again when the lease runs out (so a
message may, rarely, arrive twice; it is never lost).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from propusk.audit.services import record
from propusk.notifications import channels, rendering
from propusk.notifications.channels import Gone, PushTarget, Retry, Skipped, Undeliverable
from propusk.notifications.kinds import Channel
from propusk.notifications.models import (
    Delivery,
    DeliveryStatus,
    Preference,
    PushSubscription,
    TelegramLink,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str  # "sent", "retry", "failed", "skipped", "not due"
    retry_in: float | None = None


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``attempts`` failed tries: exponential from the minimum, capped at
    the maximum, with jitter over the upper half (so rows that failed together spread out,
    and each wait stays at least half of its step)."""
    low = settings.PROPUSK_NOTIFY_RETRY_MIN_SECONDS
    high = settings.PROPUSK_NOTIFY_RETRY_MAX_SECONDS
    step = min(high, low * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(step / 2, step)


def attempt(delivery_id: int, *, now: datetime | None = None) -> Outcome:
    """Try to send one delivery if it is pending and due."""
    moment = now or timezone.now()
    lease_end = moment + timedelta(seconds=settings.PROPUSK_NOTIFY_LEASE_SECONDS)
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=moment
    ).update(next_attempt_at=lease_end, attempts=F("attempts") + 1, updated_at=moment)
    if not claimed:
        return Outcome("not due")
    delivery = Delivery.objects.select_related("notification__recipient").get(pk=delivery_id)
    try:
        _send(delivery)
    except Retry as exc:
        return _retry_or_fail(delivery, str(exc), after=exc.after)
    except Undeliverable as exc:
        _fail(delivery, str(exc))
        return Outcome("failed")
    except Skipped as exc:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SKIPPED, last_error=str(exc), updated_at=timezone.now()
        )
        return Outcome("skipped")
    except Exception as exc:
        # A bug or an error no channel expected: logged with its class only (its text may
        # quote an address), retried like an outage so the message is not lost, and failed
        # for good after the last attempt.
        logger.exception(
            "notification delivery %s (%s) raised %s",
            delivery.pk,
            delivery.channel,
            type(exc).__name__,
        )
        return _retry_or_fail(delivery, f"unexpected error: {type(exc).__name__}")
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="", updated_at=timezone.now()
    )
    return Outcome("sent")


def _preference(user_id: int) -> Preference:
    from propusk.notifications.services import default_language

    preference = Preference.objects.filter(user_id=user_id).first()
    return preference or Preference(user_id=user_id, language=default_language())


def _send(delivery: Delivery) -> None:
    notification = delivery.notification
    user = notification.recipient
    if not user.is_active:
        raise Undeliverable("the employee's account was deactivated")
    preference = _preference(user.pk)
    if not getattr(preference, delivery.channel, True):
        raise Skipped(f"the employee switched {delivery.channel} off")
    message = rendering.render(notification, preference.language)
    if delivery.channel == Channel.EMAIL:
        channels.send_email(user.email, message)
    elif delivery.channel == Channel.TELEGRAM:
        chat_id = TelegramLink.objects.filter(user=user).values_list("chat_id", flat=True).first()
        channels.send_telegram(chat_id, message)
    elif delivery.channel == Channel.WEBPUSH:
        _send_webpush(user.pk, message)
    else:
        raise Undeliverable(f"unknown channel {delivery.channel!r}")


def _send_webpush(user_id: int, message: channels.Message) -> None:
    """Push to each of the user's browsers. Subscriptions the push service says are gone are
    deleted; it is delivered if one browser took it, retried if one may take it later."""
    subscriptions = list(PushSubscription.objects.filter(user_id=user_id))
    if not subscriptions:
        raise Skipped("no browser is subscribed any more")
    delivered = 0
    retry: Retry | None = None
    for subscription in subscriptions:
        target = PushTarget(subscription.endpoint, subscription.p256dh, subscription.auth)
        try:
            channels.send_webpush(target, message)
        except Gone:
            subscription.delete()
        except Retry as exc:
            retry = exc
        except Undeliverable as exc:
            logger.warning("browser subscription %s refused: %s", subscription.pk, exc)
        else:
            delivered += 1
    if delivered:
        return
    if retry is not None:
        raise retry
    raise Undeliverable("no browser took the message")


def _retry_or_fail(delivery: Delivery, error: str, *, after: float | None = None) -> Outcome:
    if delivery.attempts >= settings.PROPUSK_NOTIFY_MAX_ATTEMPTS:
        _fail(delivery, error)
        return Outcome("failed")
    wait = backoff_seconds(delivery.attempts)
    if after is not None:
        wait = max(wait, min(after, settings.PROPUSK_NOTIFY_RETRY_MAX_SECONDS))
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
        last_error=error[:500],
        updated_at=timezone.now(),
    )
    logger.info(
        "notification delivery %s (%s) failed, attempt %d of %d, retry in %.0f s: %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        settings.PROPUSK_NOTIFY_MAX_ATTEMPTS,
        wait,
        error,
    )
    return Outcome("retry", retry_in=wait)


def _fail(delivery: Delivery, error: str) -> None:
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, last_error=error[:500], updated_at=timezone.now()
        )
        record(
            actor=None,
            action="notification.delivery_failed",
            target=delivery,
            changes={
                "channel": delivery.channel,
                "kind": delivery.notification.kind,
                "recipient": delivery.notification.recipient_id,
                "attempts": delivery.attempts,
                "error": error[:300],
            },
        )
    logger.warning(
        "notification delivery %s (%s) failed for good after %d attempts: %s",
        delivery.pk,
        delivery.channel,
        delivery.attempts,
        error,
    )


def overdue_ids(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries due for longer than a sweep interval: new ones whose wake-up was
    lost, retries whose countdown task was lost, sends whose worker died (lease over). Rows
    due more recently are left to the task already queued for them, so a busy queue is not
    flooded with copies."""
    moment = (now or timezone.now()) - timedelta(seconds=settings.PROPUSK_NOTIFY_SWEEP_SECONDS)
    return list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=moment)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
