"""Invitations in the admin: read-only. Links are created on the invitation pages (which check
who may invite for whom); withdrawing goes through the service, as an admin action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from propusk.audit.admin_audit import AuditedAdminMixin
from propusk.invitations.models import Invitation
from propusk.invitations.selectors import invitation_state
from propusk.invitations.services import revoke_invitation


@admin.register(Invitation)
class InvitationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "kind",
        "host",
        "state",
        "uses",
        "planned_start",
        "expires_at",
        "created_at",
    )
    list_filter = ("kind", "access_policy", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("purpose", "host__username", "host__last_name", "group__name")
    date_hierarchy = "created_at"
    list_select_related = ("host", "access_policy", "group")
    fields = (
        "kind",
        "host",
        "department",
        "purpose",
        "access_policy",
        "planned_start",
        "planned_end",
        "group",
        "max_uses",
        "uses_count",
        "expires_at",
        "revoked_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    actions = ("withdraw",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("status"))
    def state(self, obj: Invitation) -> str:
        return invitation_state(obj).label

    @admin.display(description=_("registrations"))
    def uses(self, obj: Invitation) -> str:
        return f"{obj.uses_count} / {obj.max_uses}"

    @admin.action(description=_("Withdraw the selected invitation links"))
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        count = 0
        for invitation in queryset.filter(revoked_at__isnull=True):
            revoke_invitation(invitation=invitation, actor=request.user)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d link withdrawn.", "%(count)d links withdrawn.", count)
            % {"count": count},
            messages.SUCCESS,
        )
