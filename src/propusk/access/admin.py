"""The access engine in the admin: the access level policies (edited here); the engine's
pending work, confirmed HCP persons and holds (read-only); and the manual operations
(``access.services``) as actions - retry and cancel on the work list, revoke now, restore,
re-enrol the face and resync on the visitor list (``VisitorAccessActions``) - each through an
intermediate page asking for the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from propusk.access import services
from propusk.access.models import AccessHold, AccessLevelPolicy, AccessWork, HcpPerson
from propusk.access.services import Operation
from propusk.audit.admin_audit import AuditedAdminMixin
from propusk.core.admin_lists import DateRangeSafeAdminMixin
from propusk.visitors.models import Visitor

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class AccessLevelIdsField(forms.CharField):
    """HCP access level ids typed as "1, 3" and stored as the JSON list ["1", "3"]."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return [str(item).strip() for item in value if str(item).strip()]
        text = super().to_python(value) or ""
        return [item.strip() for item in text.split(",") if item.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data or "")


class AccessLevelPolicyForm(forms.ModelForm):
    hcp_access_level_ids = AccessLevelIdsField(
        label=_("HCP access level ids"),
        help_text=_(
            "Comma-separated ids of the HikCentral access levels (privilegeGroupId), "
            'e.g. "1, 3". Every visit under this policy gets all of these levels.'
        ),
        # An empty value is refused by the model's clean() with a clear message.
        required=False,
    )

    class Meta:
        model = AccessLevelPolicy
        fields = (
            "key",
            "name",
            "hcp_access_level_ids",
            "early_arrival_minutes",
            "late_leave_minutes",
            "single_pass_default",
            "reentry_grace_minutes",
            "hosts_may_choose",
            "is_active",
        )


@admin.register(AccessLevelPolicy)
class AccessLevelPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = AccessLevelPolicyForm
    list_display = (
        "name",
        "key",
        "access_levels",
        "early_arrival_minutes",
        "late_leave_minutes",
        "single_pass_default",
        "hosts_may_choose",
        "is_active",
    )
    list_filter = ("is_active", "hosts_may_choose", "single_pass_default")
    search_fields = ("name", "key")

    @admin.display(description=_("HCP access level ids"))
    def access_levels(self, obj: AccessLevelPolicy) -> str:
        return ", ".join(obj.hcp_access_level_ids or [])


# --- Manual operations: the reason page ----------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=services.REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}),
        help_text=_("Required. Kept in the audit log with your name; no ID numbers."),
    )

    def clean_reason(self) -> str:
        return services.clean_reason(self.cleaned_data["reason"])


# What each operation says when done, and when there was nothing to do, by count.
_OUTCOMES: dict[Operation, tuple[Any, Any]] = {
    Operation.REVOKE: (
        ngettext_lazy(
            "Access revoked for %(count)d visitor.",
            "Access revoked for %(count)d visitors.",
            "count",
        ),
        ngettext_lazy(
            "%(count)d visitor was already revoked.",
            "%(count)d visitors were already revoked.",
            "count",
        ),
    ),
    Operation.RESTORE: (
        ngettext_lazy(
            "Access restored for %(count)d visitor.",
            "Access restored for %(count)d visitors.",
            "count",
        ),
        ngettext_lazy(
            "%(count)d visitor had no access on hold.",
            "%(count)d visitors had no access on hold.",
            "count",
        ),
    ),
    Operation.REENROL_FACE: (
        ngettext_lazy(
            "The face of %(count)d visitor will be sent again.",
            "The faces of %(count)d visitors will be sent again.",
            "count",
        ),
        ngettext_lazy(
            "The face of %(count)d visitor was already waiting to be sent.",
            "The faces of %(count)d visitors were already waiting to be sent.",
            "count",
        ),
    ),
    Operation.RESYNC: (
        ngettext_lazy(
            "%(count)d visitor will be compared with HikCentral.",
            "%(count)d visitors will be compared with HikCentral.",
            "count",
        ),
        ngettext_lazy(
            "The work of %(count)d visitor was already due.",
            "The work of %(count)d visitors was already due.",
            "count",
        ),
    ),
    Operation.RETRY: (
        ngettext_lazy(
            "%(count)d work item is due again now.",
            "%(count)d work items are due again now.",
            "count",
        ),
        ngettext_lazy(
            "%(count)d work item was already due.",
            "%(count)d work items were already due.",
            "count",
        ),
    ),
    Operation.CANCEL: (
        ngettext_lazy(
            "%(count)d work item cancelled.",
            "%(count)d work items cancelled.",
            "count",
        ),
        ngettext_lazy(
            "%(count)d work item was already gone.",
            "%(count)d work items were already gone.",
            "count",
        ),
    ),
}


def _outcome_message(operation: Operation, *, changed: bool, count: int) -> str:
    return str(_OUTCOMES[operation][0 if changed else 1] % {"count": count})


def run_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    operation: Operation,
    perform: Callable[[Any, str], bool],
) -> TemplateResponse | None:
    """An admin action that asks for the reason first: the first press shows the selected
    objects and a reason field; sending it runs ``perform(obj, reason)`` on each (a service,
    which checks the role again) and goes back to the list with what happened."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        _perform_all(request, queryset, operation, perform, form.cleaned_data["reason"])
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": services.OPERATION_LABELS[operation],
        "opts": opts,
        "objects": list(queryset),
        "form": form,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    status = 400 if form.is_bound else 200
    return TemplateResponse(request, "admin/access/reason.html", context, status=status)


def _perform_all(
    request: HttpRequest,
    queryset: QuerySet[Any],
    operation: Operation,
    perform: Callable[[Any, str], bool],
    reason: str,
) -> None:
    changed = unchanged = 0
    for obj in queryset:
        try:
            done = perform(obj, reason)
        except (PermissionDenied, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"{obj}: {text}")
            continue
        if done:
            changed += 1
        else:
            unchanged += 1
    if changed:
        messages.success(request, _outcome_message(operation, changed=True, count=changed))
    if unchanged:
        messages.info(request, _outcome_message(operation, changed=False, count=unchanged))


def _may(request: HttpRequest, operation: Operation) -> bool:
    return services.can_operate(request.user, operation)


# --- The engine's rows ---------------------------------------------------------------------


def _visitor_link(visitor_id: int | None) -> SafeString | str:
    if visitor_id is None:
        return "-"
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:visitors_visitor_change", args=[visitor_id]),
        visitor_id,
    )


class ReadOnlyAdmin(DateRangeSafeAdminMixin, admin.ModelAdmin):
    """Rows the engine writes: looked at here, changed only through the services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessWork)
class AccessWorkAdmin(ReadOnlyAdmin):
    list_display = (
        "person_code",
        "visitor_link",
        "priority",
        "state",
        "due_at",
        "attempts",
        "last_error",
    )
    list_filter = ("state", "priority")
    search_fields = ("person_code",)
    ordering = ("state", "priority", "due_at")
    fields = (
        "person_code",
        "visitor_link",
        "priority",
        "state",
        "due_at",
        "attempts",
        "last_error_code",
        "last_error_message",
        "reasons",
        "revoke_due_at",
        "leased_until",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ("retry", "cancel")

    @admin.display(description=_("visitor"))
    def visitor_link(self, obj: AccessWork) -> SafeString | str:
        return _visitor_link(obj.visitor_id)

    @admin.display(description=_("last error"))
    def last_error(self, obj: AccessWork) -> str:
        return " ".join(part for part in (obj.last_error_code, obj.last_error_message) if part)

    def has_access_retry_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.RETRY)

    def has_access_cancel_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.CANCEL)

    @admin.action(description=_("Retry the selected work now"), permissions=["access_retry"])
    def retry(
        self, request: HttpRequest, queryset: QuerySet[AccessWork]
    ) -> TemplateResponse | None:
        return run_with_reason(
            self,
            request,
            queryset,
            operation=Operation.RETRY,
            perform=lambda work, reason: services.retry_work(
                work=work, actor=request.user, reason=reason
            ),
        )

    @admin.action(description=_("Cancel the selected work"), permissions=["access_cancel"])
    def cancel(
        self, request: HttpRequest, queryset: QuerySet[AccessWork]
    ) -> TemplateResponse | None:
        return run_with_reason(
            self,
            request,
            queryset,
            operation=Operation.CANCEL,
            perform=lambda work, reason: services.cancel_work(
                work=work, actor=request.user, reason=reason
            ),
        )


@admin.register(HcpPerson)
class HcpPersonAdmin(ReadOnlyAdmin):
    list_display = (
        "person_code",
        "visitor_link",
        "person_id",
        "begin_time",
        "end_time",
        "levels",
        "face",
        "apply_state",
        "revoked_at",
    )
    list_filter = ("apply_state",)
    search_fields = ("person_code", "person_id")
    fields = (
        "person_code",
        "visitor_link",
        "person_id",
        "begin_time",
        "end_time",
        "levels",
        "face_version",
        "face_rejected_reason",
        "apply_state",
        "apply_requested_at",
        "applied_at",
        "apply_error",
        "reconciled_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = None

    @admin.display(description=_("visitor"))
    def visitor_link(self, obj: HcpPerson) -> SafeString | str:
        return _visitor_link(obj.visitor_id)

    @admin.display(description=_("access levels"))
    def levels(self, obj: HcpPerson) -> str:
        return ", ".join(obj.access_level_ids or [])

    @admin.display(description=_("face"))
    def face(self, obj: HcpPerson) -> StrOrPromise:
        if obj.face_rejected_reason:
            return _("rejected")
        return _("enrolled") if obj.face_version else "-"


@admin.register(AccessHold)
class AccessHoldAdmin(ReadOnlyAdmin):
    list_display = (
        "visitor",
        "reason",
        "created_by",
        "created_at",
        "released_at",
        "released_by",
    )
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    search_fields = ("visitor__person_code", "visitor__family_name", "reason")
    list_select_related = ("visitor", "created_by", "released_by")
    fields = list_display
    readonly_fields = fields
    actions = None


# --- Manual operations on visitors ---------------------------------------------------------


class VisitorAccessActions(admin.ModelAdmin):
    """The visitor list's actions on access in HikCentral, for ``VisitorAdmin``: each asks for
    the reason, then calls the service for every selected visitor."""

    def has_access_revoke_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.REVOKE)

    def has_access_restore_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.RESTORE)

    def has_access_reenrol_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.REENROL_FACE)

    def has_access_resync_permission(self, request: HttpRequest) -> bool:
        return _may(request, Operation.RESYNC)

    def _visitors(
        self,
        request: HttpRequest,
        queryset: QuerySet[Visitor],
        operation: Operation,
        service: Callable[..., bool],
    ) -> TemplateResponse | None:
        return run_with_reason(
            self,
            request,
            queryset,
            operation=operation,
            perform=lambda visitor, reason: service(
                visitor=visitor, actor=request.user, reason=reason
            ),
        )

    @admin.action(description=_("Revoke access now"), permissions=["access_revoke"])
    def revoke_access_now(
        self, request: HttpRequest, queryset: QuerySet[Visitor]
    ) -> TemplateResponse | None:
        return self._visitors(request, queryset, Operation.REVOKE, services.revoke_now)

    @admin.action(description=_("Restore access"), permissions=["access_restore"])
    def restore_access(
        self, request: HttpRequest, queryset: QuerySet[Visitor]
    ) -> TemplateResponse | None:
        return self._visitors(request, queryset, Operation.RESTORE, services.restore)

    @admin.action(description=_("Re-enrol the face"), permissions=["access_reenrol"])
    def reenrol_face(
        self, request: HttpRequest, queryset: QuerySet[Visitor]
    ) -> TemplateResponse | None:
        return self._visitors(request, queryset, Operation.REENROL_FACE, services.reenrol_face)

    @admin.action(description=_("Resync with HikCentral"), permissions=["access_resync"])
    def resync_access(
        self, request: HttpRequest, queryset: QuerySet[Visitor]
    ) -> TemplateResponse | None:
        return self._visitors(request, queryset, Operation.RESYNC, services.resync)


VISITOR_ACCESS_ACTIONS = ("revoke_access_now", "restore_access", "reenrol_face", "resync_access")
