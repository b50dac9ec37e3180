"""Visitors in the admin: names and contacts are editable; the national ID is never shown
(only whether one is on file) and the face is shown through the protected photo view."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from propusk.audit.admin_audit import AuditedAdminMixin
from propusk.visitors.models import Visitor
from propusk.visitors.national_id import normalize_national_id
from propusk.visitors.selectors import can_look_up_visitors
from propusk.visitors.services import LookupThrottled, look_up_visitor


class HasNationalIdFilter(admin.SimpleListFilter):
    title = _("national ID")
    parameter_name = "has_national_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", str(_("On file"))), ("no", str(_("Not given")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Visitor]) -> QuerySet[Visitor]:
        if self.value() == "yes":
            return queryset.filter(national_id_hash__isnull=False)
        if self.value() == "no":
            return queryset.filter(national_id_hash__isnull=True)
        return queryset


@admin.register(Visitor)
class VisitorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "full_name",
        "phone",
        "email",
        "has_national_id_display",
        "consent_given_at",
        "created_at",
    )
    list_display_links = ("thumbnail", "full_name")
    list_filter = (HasNationalIdFilter, "consent_text_version", "created_at")
    search_fields = ("family_name", "given_name", "middle_name", "phone", "email", "person_code")
    search_help_text = _(
        "Name, phone, email or HCP person code. A full national ID number finds its owner "
        "by the keyed hash (the look-up is audited); the number is never stored in clear."
    )
    date_hierarchy = "created_at"
    fields = (
        "family_name",
        "given_name",
        "middle_name",
        "phone",
        "email",
        "has_national_id_display",
        "photo_preview",
        "photo_updated_at",
        "consent_given_at",
        "consent_text_version",
        "person_code",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "has_national_id_display",
        "photo_preview",
        "photo_updated_at",
        "consent_given_at",
        "consent_text_version",
        "person_code",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Visitors come in through registration (consent, photo checks), never typed here.
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Visitor], search_term: str
    ) -> tuple[QuerySet[Visitor], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip() or not can_look_up_visitors(request.user):
            return results, may_have_duplicates
        try:
            normalize_national_id(search_term)
        except ValidationError:
            return results, may_have_duplicates
        # A full ID number: the audited look-up (by the keyed hash), as at the desk.
        try:
            found = look_up_visitor(national_id=search_term, actor=request.user)
        except LookupThrottled as exc:
            messages.error(request, exc.message)
            return results, may_have_duplicates
        if found is None:
            return results, may_have_duplicates
        return results | queryset.filter(pk=found.pk), may_have_duplicates

    @admin.display(description=_("full name"), ordering="family_name")
    def full_name(self, obj: Visitor) -> str:
        return obj.full_name

    @admin.display(description=_("national ID"), boolean=True)
    def has_national_id_display(self, obj: Visitor) -> bool:
        return obj.has_national_id

    @admin.display(description=_("photo"))
    def thumbnail(self, obj: Visitor) -> SafeString | str:
        return self._photo_tag(obj, 48)

    @admin.display(description=_("face photo"))
    def photo_preview(self, obj: Visitor) -> SafeString | str:
        return self._photo_tag(obj, 240)

    @staticmethod
    def _photo_tag(obj: Visitor, width: int) -> SafeString | str:
        if not obj.pk or not obj.photo:
            return "-"
        return format_html(
            '<img src="{}" width="{}" alt="" loading="lazy" style="border-radius:4px">',
            reverse("visitors:photo", args=[obj.pk]),
            width,
        )
