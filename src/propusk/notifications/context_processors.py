"""The unread count beside the "Notifications" link of the menu."""

from __future__ import annotations

from django.http import HttpRequest

from propusk.notifications.models import Notification


def unread(request: HttpRequest) -> dict[str, int]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "notifications_unread": Notification.objects.filter(
            recipient=user, read_at__isnull=True
        ).count()
    }
