"""The audit log in the admin: strictly read-only (no add, change or delete, for anyone)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from propusk.audit.models import AuditEntry
from propusk.core.admin_lists import DateRangeSafeAdminMixin


@admin.register(AuditEntry)
class AuditEntryAdmin(DateRangeSafeAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "action", "target_type", "target_id")
    date_hierarchy = "at"
    fields = ("at", "actor", "actor_label", "action", "target_type", "target_id", "changes_pretty")
    readonly_fields = fields
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("changes"))
    def changes_pretty(self, obj: AuditEntry) -> SafeString:
        text = json.dumps(obj.changes, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", text)
