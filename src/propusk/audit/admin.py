"""The audit log in the admin: strictly read-only (no add, change or delete, for anyone)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from propusk.audit.labels import action_label
from propusk.audit.models import AuditEntry
from propusk.core.admin_lists import DateRangeSafeAdminMixin

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


class ActionFilter(admin.AllValuesFieldListFilter):
    """The actions present, by their labels (``audit.labels``); it filters by the key as
    Django's own filter does (``?action=access.revoked_now``)."""

    def choices(self, changelist: Any) -> Iterator[_ListFilterChoices]:
        values = iter([str(value) for value in self.lookup_choices if value is not None])
        for index, choice in enumerate(super().choices(changelist)):
            value = next(values, None) if index > 0 else None
            display = str(choice["display"])
            if value is not None and display.startswith(value):
                # "key" or "key (count)" with facets: the label in the key's place.
                choice["display"] = action_label(value) + display[len(value) :]
            yield choice


@admin.register(AuditEntry)
class AuditEntryAdmin(DateRangeSafeAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor_label", "action_display", "target_type", "target_id")
    list_filter = (("action", ActionFilter), "target_type")
    search_fields = ("actor_label", "action", "target_type", "target_id")
    date_hierarchy = "at"
    fields = (
        "at",
        "actor",
        "actor_label",
        "action_display",
        "action_key",
        "target_type",
        "target_id",
        "changes_pretty",
    )
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

    @admin.display(description=_("action"), ordering="action")
    def action_display(self, obj: AuditEntry) -> str:
        """The action in words - the wording of the visit page's history (``audit.labels``)."""
        return action_label(obj.action)

    @admin.display(description=_("action key"))
    def action_key(self, obj: AuditEntry) -> str:
        return obj.action
