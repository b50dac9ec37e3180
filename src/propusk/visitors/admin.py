"""Visitors in the admin: names and contacts are editable; the national ID is never shown
(only whether one is on file) and the face is shown through the protected photo view.

**Find by national ID** is a small POST form on the list (``find_by_national_id``): the number
never goes into a URL, so never into an access log or the browser's history. It is the
audited, throttled ``look_up_visitor`` of the desk. The list's search box (a GET) searches
names and contacts only.

The list's actions on access in HikCentral (revoke now, restore, re-enrol the face, resync)
ask for a reason and go through ``access.services`` (``access.admin.VisitorAccessActions``).

**Erase personal data** (administrators only) asks for a reason and a confirmation, then runs
``retention.erase_visitor`` on each selected visitor (docs/privacy.md). An erased visitor's
page is read-only: there is nothing of the person left to edit.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from propusk.access.admin import VISITOR_ACCESS_ACTIONS, VisitorAccessActions
from propusk.audit.admin_audit import AuditedAdminMixin
from propusk.core.text import clean_name
from propusk.visitors.models import Visitor
from propusk.visitors.retention import REASON_MAX_LENGTH, erase_visitor
from propusk.visitors.selectors import can_erase_visitors, can_look_up_visitors
from propusk.visitors.services import LookupThrottled, look_up_visitor


class VisitorAdminForm(forms.ModelForm):
    """Names follow the same rule as on the registration pages (``core.text.clean_name``)."""

    class Meta:
        model = Visitor
        fields = ("family_name", "given_name", "middle_name", "phone", "email")

    def clean_family_name(self) -> str:
        return clean_name(self.cleaned_data["family_name"])

    def clean_given_name(self) -> str:
        return clean_name(self.cleaned_data["given_name"])

    def clean_middle_name(self) -> str:
        return clean_name(self.cleaned_data["middle_name"])


class FindByNationalIdForm(forms.Form):
    national_id = forms.CharField(
        label=_("Find by national ID"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "numeric"}
        ),
    )


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX_LENGTH,
        help_text=_(
            "Why the data is erased (the person's request and its date, a registration made "
            "by mistake). It goes into the audit log: do not write the person's name."
        ),
    )
    confirm = forms.BooleanField(
        label=_("I understand that this cannot be undone"),
        error_messages={"required": _("Confirm that the data is to be erased for good.")},
    )


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


class PersonalDataFilter(admin.SimpleListFilter):
    title = _("personal data")
    parameter_name = "personal_data"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("kept", str(_("Kept"))),
            ("face_deleted", str(_("Face deleted"))),
            ("erased", str(_("Erased"))),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Visitor]) -> QuerySet[Visitor]:
        if self.value() == "kept":
            return queryset.filter(erased_at__isnull=True, face_deleted_at__isnull=True)
        if self.value() == "face_deleted":
            return queryset.filter(erased_at__isnull=True, face_deleted_at__isnull=False)
        if self.value() == "erased":
            return queryset.filter(erased_at__isnull=False)
        return queryset


@admin.register(Visitor)
class VisitorAdmin(VisitorAccessActions, AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "full_name",
        "phone",
        "email",
        "has_national_id_display",
        "consent_given_at",
        "created_at",
    )
    # No face thumbnails in the list: each face view is audited, and a page of faces is a
    # bulk download. The face is on each visitor's own page.
    list_display_links = ("full_name",)
    list_filter = (
        HasNationalIdFilter,
        PersonalDataFilter,
        "consent_text_version",
        "created_at",
    )
    search_fields = ("family_name", "given_name", "middle_name", "phone", "email", "person_code")
    search_help_text = _(
        "Name, phone, email or HCP person code. To find a visitor by national ID, use "
        '"Find by national ID": that look-up is audited and the number stays out of the '
        "address."
    )
    form = VisitorAdminForm
    date_hierarchy = "created_at"
    # Access in HikCentral (access/admin.py): revoke now, restore, re-enrol the face, resync.
    actions = (*VISITOR_ACCESS_ACTIONS, "erase_personal_data")
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
        "face_deleted_at",
        "erased_at",
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
        "face_deleted_at",
        "erased_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Visitors come in through registration (consent, photo checks), never typed here.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Visitor | None = None) -> bool:
        # Nothing of an erased person is left to edit (typing a name back in would undo it).
        if obj is not None and obj.is_erased:
            return False
        return super().has_change_permission(request, obj)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return can_erase_visitors(request.user)

    @admin.action(description=_("Erase personal data"), permissions=["erase"])
    def erase_personal_data(
        self, request: HttpRequest, queryset: QuerySet[Visitor]
    ) -> TemplateResponse | None:
        """Ask for the reason and a confirmation, then erase each selected visitor (the
        service checks the role and refuses a visitor whose visit is not over)."""
        form = EraseForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._erase_all(request, queryset, form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Erase personal data"),
            "opts": self.opts,
            "objects": list(queryset),
            "form": form,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": reverse("admin:visitors_visitor_changelist"),
        }
        status = 400 if form.is_bound else 200
        return TemplateResponse(
            request, "admin/visitors/visitor/erase.html", context, status=status
        )

    def _erase_all(self, request: HttpRequest, queryset: QuerySet[Visitor], reason: str) -> None:
        erased = 0
        for visitor in queryset:
            label = gettext("Visitor %(id)s") % {"id": visitor.pk}
            try:
                erase_visitor(visitor=visitor, actor=request.user, reason=reason)
            except (PermissionDenied, ValidationError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                messages.error(request, f"{label}: {text}")
                continue
            erased += 1
        if erased:
            messages.success(
                request,
                ngettext(
                    "The personal data of %(count)d visitor was erased.",
                    "The personal data of %(count)d visitors was erased.",
                    erased,
                )
                % {"count": erased},
            )

    def get_urls(self) -> list[URLPattern]:
        find = path(
            "find-by-national-id/",
            self.admin_site.admin_view(self.find_by_national_id),
            name="visitors_visitor_find_by_national_id",
        )
        return [find, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if can_look_up_visitors(request.user):
            extra_context = {**(extra_context or {}), "find_form": FindByNationalIdForm()}
        return super().changelist_view(request, extra_context)

    @method_decorator(sensitive_post_parameters("national_id"))
    @method_decorator(require_POST)
    def find_by_national_id(self, request: HttpRequest) -> HttpResponse:
        """The audited look-up of the desk; the list then shows the visitor found."""
        if not (self.has_view_permission(request) and can_look_up_visitors(request.user)):
            raise PermissionDenied
        changelist = reverse("admin:visitors_visitor_changelist")
        form = FindByNationalIdForm(request.POST)
        if not form.is_valid():
            return self._find_again(request, form)
        try:
            found = look_up_visitor(
                national_id=form.cleaned_data["national_id"], actor=request.user
            )
        except LookupThrottled as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(changelist)
        except ValidationError as exc:
            form.add_error("national_id", exc)
            return self._find_again(request, form)
        if found is None:
            messages.info(request, gettext("No visitor with this ID number."))
            return HttpResponseRedirect(changelist)
        return HttpResponseRedirect(f"{changelist}?id__exact={found.pk}")

    def _find_again(self, request: HttpRequest, form: FindByNationalIdForm) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Find by national ID"),
            "find_form": form,
        }
        return TemplateResponse(
            request, "admin/visitors/visitor/find_by_national_id.html", context, status=400
        )

    @admin.display(description=_("full name"), ordering="family_name")
    def full_name(self, obj: Visitor) -> str:
        return obj.full_name

    @admin.display(description=_("national ID"), boolean=True)
    def has_national_id_display(self, obj: Visitor) -> bool:
        return obj.has_national_id

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
