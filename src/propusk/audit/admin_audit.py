"""Admin edits go to the project's audit log too, not only to Django's admin log.

Mixed into every ModelAdmin that can change data. The entry names the fields that changed
(Django's change message), never their values: a visitor's details are personal data.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from propusk.audit.services import record
from propusk.core.admin_lists import DateRangeSafeAdminMixin


def _fields_of(message: Any) -> list[str]:
    """The changed field names from Django's JSON change message."""
    if isinstance(message, str):
        try:
            message = json.loads(message) if message else []
        except ValueError:
            return []
    names: list[str] = []
    for part in message or []:
        for body in part.values() if isinstance(part, dict) else []:
            names.extend(str(field) for field in (body or {}).get("fields", []))
    return names


class AuditedAdminMixin(DateRangeSafeAdminMixin, admin.ModelAdmin):
    """The base of every admin that can change data (lists refuse out-of-range dates too)."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        record(actor=request.user, action="admin.added", target=obj)
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        record(
            actor=request.user,
            action="admin.changed",
            target=obj,
            changes={"fields": _fields_of(message)},
        )
        return entry

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        entries = super().log_deletions(request, queryset)
        for obj in queryset:
            record(actor=request.user, action="admin.deleted", target=obj)
        return entries
