"""What a notification is about. The label is the message's title; its body is rendered
per recipient, in their language, at delivery time (``propusk.notifications.rendering``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    # To the host.
    GUEST_ARRIVED = "guest_arrived", _("Your guest arrived")
    GUEST_LEFT = "guest_left", _("Your guest left")
    # To the host and security; params["reason"] is one of DENIAL_REASONS.
    GUEST_DENIED = "guest_denied", _("Your guest was refused at a door")
    # To reception and security, with the incident.
    FACE_NOT_RECOGNISED = "face_not_recognised", _("A face was not recognised at a door")
    # Escalation to security.
    REPEATED_FAILURES = "repeated_failures", _("Repeated failures at a door")
    # To security.
    EXIT_WITHOUT_ENTRY = "exit_without_entry", _("An exit without an entry")
    # To the host and security.
    OVERSTAY = "overstay", _("A visitor stayed past the end of the visit")
    # To the host: the visit ended because the guest went out (single pass, or last exit).
    VISIT_CHECKED_OUT_BY_EXIT = (
        "visit_checked_out_by_exit",
        _("The visit ended when your guest went out"),
    )
    # Sent by the employee from Notification settings, to check their channels.
    TEST = "test", _("Test notification")


class Channel(models.TextChoices):
    """Where a message goes besides the in-app feed (which always has it)."""

    EMAIL = "email", _("Email")
    TELEGRAM = "telegram", _("Telegram")
    WEBPUSH = "webpush", _("Browser notifications")


# Why a guest was refused at a door (params["reason"] of GUEST_DENIED).
DENIAL_REASONS = {
    "too_early": _("before the visit's time"),
    "too_late": _("after the visit's time"),
    "visit_ended": _("the visit has ended"),
    "no_access": _("no access to this door"),
}
