from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from propusk.access.models import AccessLevelPolicy
from propusk.audit.admin_audit import AuditedAdminMixin


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
