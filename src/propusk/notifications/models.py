"""The notification outbox.

``Notification`` is one message of one kind to one employee, once per (recipient, kind, key):
the key names the event (a passage, an incident), so a repeated event adds nothing. It is
also the employee's in-app feed entry. Each outside channel the employee wants gets a
``Delivery`` row, the durable outbox entry a worker sends and retries; rows are written in
the caller's transaction and the workers are woken only after it commits.

Only parameters (names, doors, times) are stored, never rendered text: the message is rendered
in the recipient's language when it is shown or sent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from propusk.notifications.kinds import Channel, Kind


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    key = models.CharField(_("event key"), max_length=200)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    visit = models.ForeignKey(
        "visits.Visit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("visit"),
    )
    incident_id = models.BigIntegerField(_("incident"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "key"], name="notification_once_per_event"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at", "created_at"]),
            models.Index(fields=["created_at"]),  # the retention sweep
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} -> {self.recipient_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    # Not sent: the employee switched the channel off, unlinked or unsubscribed meanwhile.
    SKIPPED = "skipped", _("skipped")


class Delivery(models.Model):
    """One channel's delivery of a notification: the outbox row a worker claims, sends and,
    on a failure that may pass, retries with backoff until ``next_attempt_at``."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Pending: when it may be tried (again). While a worker sends it, the end of its lease.
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="delivery_once_per_channel"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.status} ({self.notification_id})"


class Preference(models.Model):
    """An employee's channels and language. No row: every channel on, the site's language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
    )
    email = models.BooleanField(_("by email"), default=True)
    telegram = models.BooleanField(_("in Telegram"), default=True)
    webpush = models.BooleanField(_("in the browser"), default=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")

    def __str__(self) -> str:
        return str(self.user_id)


class TelegramLink(models.Model):
    """An employee's Telegram chat. Linked when the employee sends ``/start <code>`` to the
    bot; only a hash of the one-time code is stored."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_link"
    )
    chat_id = models.BigIntegerField(_("chat"), null=True, blank=True, unique=True)
    code_hash = models.CharField(max_length=64, blank=True, db_index=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(_("linked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Telegram link")
        verbose_name_plural = _("Telegram links")

    def __str__(self) -> str:
        return str(self.user_id)


class TelegramCursor(models.Model):
    """The next getUpdates offset of the bot (one row): updates already read are not
    read again."""

    next_offset = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.next_offset)


class PushSubscription(models.Model):
    """A browser's Web Push subscription (one per browser of an employee)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("browser subscription")
        verbose_name_plural = _("browser subscriptions")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.user_agent[:40]}"
