"""Passages and incidents in the admin: read-only lists (the handler writes them; staff work
incidents on the incident pages, audited). No pictures here: each view of one is audited
and served by ``passages:picture``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from propusk.core.admin_lists import DateRangeSafeAdminMixin
from propusk.passages.models import Incident, Passage


class _ReadOnly(DateRangeSafeAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Passage)
class PassageAdmin(_ReadOnly):
    list_display = (
        "happened_at",
        "door_name",
        "direction",
        "granted",
        "denial_reason",
        "visit",
        "picture_state",
    )
    list_filter = ("granted", "direction", "denial_reason", "picture_state")
    date_hierarchy = "happened_at"
    ordering = ("-happened_at", "-pk")
    list_select_related = ("visit__visitor",)
    exclude = ("picture",)
    raw_id_fields = ("event", "visit", "visitor")


@admin.register(Incident)
class IncidentAdmin(_ReadOnly):
    list_display = ("happened_at", "kind", "door_name", "denial_reason", "count", "state")
    list_filter = ("state", "kind", "denial_reason")
    date_hierarchy = "happened_at"
    ordering = ("-happened_at", "-pk")
    raw_id_fields = ("visit", "passage", "acknowledged_by", "resolved_by")
