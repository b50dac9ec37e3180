"""The outbox in the admin, read-only: what was sent, what is waiting for a retry, and what
failed for good (with the error). Changing a row by hand would break the retry bookkeeping;
a failed delivery is not re-sent (the failure is in the audit log)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from propusk.notifications.models import Delivery, Notification


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "kind", "key", "read_at")
    list_filter = ("kind",)
    search_fields = ("recipient__username", "key")
    list_select_related = ("recipient",)
    fields = ("created_at", "recipient", "kind", "key", "params", "visit", "incident_id", "read_at")
    readonly_fields = fields
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "updated_at",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "notification",
    )
    list_filter = ("status", "channel")
    list_select_related = ("notification__recipient",)
    fields = (
        "notification",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
