"""Visits in the admin are read-mostly.

Every change of status or time must go through ``propusk.visits.services``: those check the
lifecycle, write the audit trail and tell the access engine to update HikCentral. An edit here
would do none of that, so status, lifecycle, time, visitor, host and access fields are
read-only; only descriptive details can be corrected.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from propusk.audit.admin_audit import AuditedAdminMixin
from propusk.visits.models import Visit, VisitGroup

_USE_THE_SERVICES = _(
    "Status, time, visitor, host and access fields are read-only here: change them on the "
    "visit's page (confirm, check in or out, cancel, change the time), which records the "
    "change and updates the turnstiles."
)


class ReadMostlyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Visit)
class VisitAdmin(ReadMostlyAdmin):
    list_display = (
        "visitor",
        "kind",
        "status",
        "host",
        "department",
        "planned_start",
        "planned_end",
        "access_policy",
        "single_pass",
    )
    list_filter = ("status", "kind", "access_policy", "single_pass", "department")
    search_fields = (
        "visitor__family_name",
        "visitor__given_name",
        "host__username",
        "host__last_name",
        "purpose",
    )
    date_hierarchy = "planned_start"
    list_select_related = ("visitor", "host", "department", "access_policy")
    fieldsets = (
        (
            _("Visit"),
            {
                "description": _USE_THE_SERVICES,
                "fields": (
                    "kind",
                    "status",
                    "visitor",
                    "host",
                    "planned_start",
                    "planned_end",
                    "access_policy",
                    "single_pass",
                    "group",
                    "invitation",
                ),
            },
        ),
        (_("Details"), {"fields": ("purpose", "department")}),
        (_("Student or applicant"), {"fields": ("student_id", "student_group", "course")}),
        (
            _("Lifecycle"),
            {
                "fields": (
                    "checked_in_at",
                    "checked_out_at",
                    "cancelled_at",
                    "closed_at",
                    "cancel_reason",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = (
        "kind",
        "status",
        "visitor",
        "host",
        "planned_start",
        "planned_end",
        "access_policy",
        "single_pass",
        "group",
        "invitation",
        "checked_in_at",
        "checked_out_at",
        "cancelled_at",
        "closed_at",
        "cancel_reason",
        "created_by",
        "created_at",
        "updated_at",
    )


class GroupVisitInline(admin.TabularInline):
    model = Visit
    fields = ("visitor", "status", "planned_start", "planned_end")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VisitGroup)
class VisitGroupAdmin(ReadMostlyAdmin):
    list_display = ("name", "host", "department", "planned_start", "planned_end", "member_count")
    list_filter = ("access_policy", "department")
    search_fields = ("name", "purpose", "host__username", "host__last_name")
    date_hierarchy = "planned_start"
    fields = (
        "name",
        "purpose",
        "department",
        "host",
        "planned_start",
        "planned_end",
        "access_policy",
        "created_by",
        "created_at",
    )
    readonly_fields = (
        "host",
        "planned_start",
        "planned_end",
        "access_policy",
        "created_by",
        "created_at",
    )
    inlines = (GroupVisitInline,)

    @admin.display(description=_("members"))
    def member_count(self, obj: VisitGroup) -> int:
        return obj.visits.count()
