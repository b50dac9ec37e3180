"""The events inbox in the admin: read-only (the intake writes it), with a "process again"
action for failed events (administrators and security; audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from propusk.accounts.roles import Role, has_role
from propusk.core.admin_lists import DateRangeSafeAdminMixin
from propusk.events import processing
from propusk.events.models import EventState, HcpEvent, PollCursor
from propusk.events.services import wake


class _ReadOnly(DateRangeSafeAdminMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HcpEvent)
class HcpEventAdmin(_ReadOnly):
    list_display = (
        "happened_at",
        "event_type",
        "door_name",
        "direction",
        "person_code",
        "source",
        "state",
        "attempts",
        "last_error",
    )
    list_filter = ("state", "event_type", "source", "direction")
    search_fields = ("=person_code", "=event_id", "=person_id")
    date_hierarchy = "happened_at"
    ordering = ("-happened_at", "-pk")
    fields = (
        "event_id",
        "event_type",
        "happened_at",
        "door_index_code",
        "door_name",
        "direction",
        "person_id",
        "person_code",
        "pic_uri",
        "source",
        "received_at",
        "state",
        "processed_at",
        "attempts",
        "last_error",
        "retry_at",
        "leased_until",
    )
    readonly_fields = fields
    actions = ("process_again",)

    def has_events_reprocess_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.ADMINISTRATOR, Role.SECURITY)

    @admin.action(
        description=_("Process the selected failed events again"),
        permissions=["events_reprocess"],
    )
    def process_again(self, request: HttpRequest, queryset: QuerySet[HcpEvent]) -> None:
        requeued: list[int] = []
        for event in queryset.filter(state=EventState.FAILED):
            if processing.process_again(event, actor=request.user, reason="admin action"):
                requeued.append(event.pk)
        if requeued:
            transaction.on_commit(lambda: wake(requeued))
        skipped = queryset.count() - len(requeued)
        self.message_user(
            request,
            ngettext(
                "%(count)d event queued to be processed again.",
                "%(count)d events queued to be processed again.",
                len(requeued),
            )
            % {"count": len(requeued)},
            messages.SUCCESS if requeued else messages.WARNING,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected event was not failed and was left as it is.",
                    "%(count)d selected events were not failed and were left as they are.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )


@admin.register(PollCursor)
class PollCursorAdmin(_ReadOnly):
    list_display = ("name", "read_until", "last_run_at", "last_error")
    readonly_fields = ("name", "read_until", "updated_at", "last_run_at", "last_error")
